"""Reading what is computed about a subject under a purpose: signals, segment
membership and the recent journey, each read once. Releasing it is `release.py`'s
work (GetSegments, GetSignals, the handoff); the journey engine reads through here too
(`observe`), and so does the replay of a playbook's test cases.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from tactful.privacy.contract import JOURNEY_KINDS, Contract, SignalKind, SignalSpec
from tactful.privacy.rules import Rule, signals_of
from tactful.segments.journey import journey_signal, since
from tactful.segments.minimum import MinimumSegmentSize
from tactful.segments.rules import matches
from tactful.segments.store import (
    Activity,
    AttributeScalar,
    BehaviorReads,
    JourneyEvent,
    SignalQuery,
    seen_signal,
    typed_signal,
)
from tactful.segments.visitor import visitor_segments
from tactful.timestamps import duration_us, from_us, to_us

_SEEN = (SignalKind.FIRST_SEEN, SignalKind.LAST_SEEN)
MAX_PLANS = 1024  # sets of segments whose rules are kept ready (one per purpose, playbook)
_Rules = tuple[tuple[str, Rule], ...]


@dataclass(frozen=True)
class Observation:
    """What the journey engine reads about a subject under a purpose: never released by
    itself (the engine's decision is, and it names categories, not values)."""

    signals: dict[str, AttributeScalar | None]
    segments: frozenset[str]
    events: list[JourneyEvent]  # newest first, since the start asked for


class Reader:
    def __init__(
        self, contract: Contract, store: BehaviorReads, minimum: MinimumSegmentSize | None = None
    ) -> None:
        self._contract = contract
        self._store = store
        self._minimum = minimum
        self._plans: dict[frozenset[str], tuple[_Rules, tuple[str, ...]]] = {}

    def observe(
        self,
        candidates: tuple[str, ...],
        purpose: str,
        signals: Sequence[str],
        segments: Iterable[str],
        *,
        events_since_us: int | None,
        now: datetime,
    ) -> Observation:
        """The named signals and the subject's membership of the named segments under
        `purpose` (small segments withheld, as GetSegments does), and the recent events
        since `events_since_us` (None: none), each read once."""
        now_us = to_us(now)
        wanted = frozenset(segments)
        activity = None
        if wanted or any(self._contract.signals[n].kind in _SEEN for n in signals):
            _, activity = self._store.consent_and_activity(candidates, purpose)
        events = []
        if events_since_us is not None:
            events = self._store.recent_events(candidates, purpose, events_since_us)
        values = self.signals(signals, candidates, purpose, now_us, activity, events)
        members = set(visitor_segments(activity, now_us=now_us) & wanted)
        if activity is not None and wanted:
            members |= self.rule_members(candidates, purpose, activity, now, wanted)
        if members and self._minimum is not None:
            members -= self._minimum.too_small(purpose, now_us)
        return Observation(values, frozenset(members), events)

    def signals(
        self,
        names: Iterable[str],
        candidates: tuple[str, ...],
        purpose: str,
        now_us: int,
        activity: Activity | None = None,
        events: list[JourneyEvent] | None = None,
    ) -> dict[str, AttributeScalar | None]:
        """The value of each named signal; counts, distinct and latest values all come
        from one read of the signal state. Journey signals come from `events` when they
        were read already (newest first, reaching back at least their window)."""
        names = list(names)
        values: dict[str, AttributeScalar | None] = {}
        queries: list[tuple[SignalSpec, SignalQuery]] = []
        for name in names:
            spec = self._contract.signals[name]
            if spec.kind in JOURNEY_KINDS:
                assert spec.window is not None  # checked by the contract loader
                start = now_us - duration_us(spec.window)
                recent = (
                    since(events, start)
                    if events is not None
                    else self._store.recent_events(candidates, purpose, start)
                )
                segments = frozenset[str]()
                if spec.kind is SignalKind.URGENCY and recent:
                    segments = self._high_value(candidates, purpose, now_us, activity)
                values[name] = journey_signal(
                    spec.kind, recent, self._contract.states, segments=segments
                )
            elif spec.kind in (SignalKind.FIRST_SEEN, SignalKind.LAST_SEEN):
                if activity is None:
                    _, activity = self._store.consent_and_activity(candidates, purpose)
                values[name] = seen_signal(spec.kind, activity)
            else:
                start = now_us - duration_us(spec.window) if spec.window is not None else 0
                query = SignalQuery(name, str(spec.kind), spec.event, spec.attribute, start)
                queries.append((spec, query))
        raw = self._store.signal_values(candidates, purpose, [q for _, q in queries])
        for (spec, query), value in zip(queries, raw, strict=True):
            values[query.name] = typed_signal(self._contract, spec, value)
        return {name: values[name] for name in names}  # in the order asked

    def _high_value(
        self, candidates: tuple[str, ...], purpose: str, now_us: int, activity: Activity | None
    ) -> frozenset[str]:
        """The high-value segments urgency reads that the subject is in, computed from
        the events collected under the purpose, as any segment is."""
        wanted = self._contract.states.urgency.high_value_segments
        if not wanted:
            return frozenset()
        if activity is None:
            _, activity = self._store.consent_and_activity(candidates, purpose)
        if activity is None:
            return frozenset()
        now = from_us(now_us)
        members = set(visitor_segments(activity, now_us=now_us)) & wanted
        members |= self.rule_members(candidates, purpose, activity, now, wanted)
        return frozenset(members)

    def rule_members(
        self,
        candidates: tuple[str, ...],
        purpose: str,
        activity: Activity,
        now: datetime,
        segments: Iterable[str],
    ) -> set[str]:
        """The rule-based segments among `segments` the subject is in; each signal a
        rule reads is computed once."""
        rules, wanted = self._plan(frozenset(segments))
        values = self.signals(wanted, candidates, purpose, to_us(now), activity)
        return {name for name, rule in rules if matches(rule, values, now=now)}

    def _plan(self, segments: frozenset[str]) -> tuple[_Rules, tuple[str, ...]]:
        """The rules of `segments` and the signals they read, sorted: found once per set
        of segments asked (a purpose's, a playbook's), as the contract is fixed."""
        plan = self._plans.get(segments)
        if plan is None:
            rules = tuple(
                (name, rule) for name in segments if (rule := self._contract.segments[name].rule)
            )
            wanted = tuple(sorted(set().union(*(signals_of(rule) for _, rule in rules))))
            if len(self._plans) >= MAX_PLANS:  # sets asked by a request, were there any
                self._plans.clear()
            plan = self._plans[segments] = (rules, wanted)
        return plan
