"""A behaviour store in memory for one short journey: what a playbook's test cases
(journeys/gates.py) replay, through the same signal and segment code a server runs.

It reads as the engines do (BehaviorReads): counts and distinct values after a time,
the latest value of an attribute, the recent events newest first. It keeps nothing.

>>> store = ReplayedBehavior([JourneyEvent("payment_failed", 10, {"error_code": "x"})])
>>> store.signal_values(["p"], "c", [SignalQuery("n", "count", "payment_failed")])
[1]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tactful.segments.store import RECENT_EVENTS_LIMIT, Activity, JourneyEvent, SignalQuery


class ReplayedBehavior:
    """One subject's events under one purpose (the pseudonyms and purpose asked for are
    taken to be theirs), in the order they happened."""

    def __init__(self, events: Sequence[JourneyEvent]) -> None:
        self._events = sorted(events, key=lambda e: e.occurred_at_us)

    def consent_and_activity(
        self, pseudonyms: Sequence[str], purpose: str
    ) -> tuple[bool, Activity | None]:
        if not self._events:
            return True, None
        first, last = self._events[0].occurred_at_us, self._events[-1].occurred_at_us
        return True, Activity(first, last, len(self._events))

    def signal_values(
        self, pseudonyms: Sequence[str], purpose: str, queries: Sequence[SignalQuery]
    ) -> list[Any]:
        return [self._value(q) for q in queries]

    def recent_events(
        self, pseudonyms: Sequence[str], purpose: str, since_us: int
    ) -> list[JourneyEvent]:
        recent = [e for e in reversed(self._events) if e.occurred_at_us > since_us]
        return recent[:RECENT_EVENTS_LIMIT]

    def _value(self, query: SignalQuery) -> Any:
        events = [
            e for e in self._events if e.type == query.event and e.occurred_at_us > query.since_us
        ]
        if query.kind == "count":
            return len(events)
        assert query.attribute is not None
        found = [e.attributes[query.attribute] for e in events if query.attribute in e.attributes]
        if query.kind == "distinct":
            return len({str(v) for v in found})
        if not found:
            return None
        latest = found[-1]
        return latest.isoformat() if hasattr(latest, "isoformat") else latest
