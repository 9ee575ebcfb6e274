"""Segment sizes: how many people of a purpose are in each segment.

Used by the minimum segment size (is a segment big enough to release?) and by
differentially private insights. Every subject with data under the purpose is
evaluated with the same rules as a single read, from one query per signal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from tactful.privacy.contract import Contract, SignalKind
from tactful.privacy.rules import signals_of
from tactful.segments.rules import matches
from tactful.segments.store import (
    FIRST_SEEN,
    LAST_SEEN,
    Activity,
    AttributeScalar,
    SignalQuery,
    seen_signal,
    typed_signal,
)
from tactful.segments.visitor import visitor_segments
from tactful.timestamps import duration_us, from_us


class CensusSource(Protocol):
    def census(self, purpose: str, wanted: Sequence[SignalQuery]) -> dict[str, dict[str, Any]]:
        """Every subject with data under `purpose`: first and last seen (µs) and the raw
        value of each wanted signal."""
        ...


class Census:
    """Segment counts for every segment of the contract, under one purpose."""

    def __init__(self, contract: Contract, store: CensusSource) -> None:
        self._contract = contract
        self._store = store

    def segment_counts(self, purpose: str, now_us: int) -> dict[str, int]:
        now = from_us(now_us)
        rules = {n: s.rule for n, s in self._contract.segments.items() if s.rule is not None}
        wanted = sorted(set().union(*(signals_of(r) for r in rules.values())))
        people = self._store.census(purpose, self._queries(wanted, now_us))
        counts = dict.fromkeys(self._contract.segments, 0)
        for row in people.values():
            activity = Activity(row[FIRST_SEEN], row[LAST_SEEN], 1)
            values = {name: self._value(name, row, activity) for name in wanted}
            members = set(visitor_segments(activity, now_us=now_us))
            members |= {n for n, rule in rules.items() if matches(rule, values, now=now)}
            for name in members & counts.keys():
                counts[name] += 1
        return counts

    def _queries(self, names: Sequence[str], now_us: int) -> list[SignalQuery]:
        queries = []
        for name in names:
            spec = self._contract.signals[name]
            if spec.kind in (SignalKind.FIRST_SEEN, SignalKind.LAST_SEEN):
                continue  # from the activity row
            since = now_us - duration_us(spec.window) if spec.window else 0
            queries.append(SignalQuery(name, str(spec.kind), spec.event, spec.attribute, since))
        return queries

    def _value(self, name: str, row: dict[str, Any], activity: Activity) -> AttributeScalar | None:
        spec = self._contract.signals[name]
        if spec.kind in (SignalKind.FIRST_SEEN, SignalKind.LAST_SEEN):
            return seen_signal(spec.kind, activity)
        return typed_signal(self._contract, spec, row.get(name))
