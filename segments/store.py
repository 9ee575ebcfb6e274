"""What the segments layer needs from a behavior store, and the values it trades.

The behavior store is keyed by pseudonym only; it never sees a raw identifier.
Times are integer microseconds since the Unix epoch (UTC), cheap to compare and
index in any engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

AttributeScalar = str | int | float | bool


@dataclass(frozen=True)
class StoredEvent:
    """One event as written: pseudonymous, purpose-tagged, validated."""

    pseudonym: str
    purpose: str
    type: str
    occurred_at_us: int
    attributes: Mapping[str, AttributeScalar]


@dataclass(frozen=True)
class Activity:
    """When a subject was first and last seen, and how many events they have."""

    first_seen_us: int
    last_seen_us: int
    event_count: int


class BehaviorStore(Protocol):
    def append(self, events: Sequence[StoredEvent], *, received_at_us: int) -> None:
        """Store every event and update activity, all or nothing."""
        ...

    def activity(self, pseudonyms: Sequence[str]) -> Activity | None:
        """Combined activity of the given pseudonyms (one subject under several
        key versions), or None if none of them has any event."""
        ...

    def close(self) -> None: ...
