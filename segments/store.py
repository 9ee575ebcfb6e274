"""What the segments layer needs from a behavior store, and the values it trades.

The behavior store is keyed by pseudonym only; it never sees a raw identifier.
Everything in it is tagged with the purpose it was collected for, and is read
back only for that purpose. Times are integer microseconds since the Unix epoch
(UTC), cheap to compare and index in any engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

AttributeScalar = str | int | float | bool | datetime


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
    """When a subject was first and last seen under a purpose, and how many events."""

    first_seen_us: int
    last_seen_us: int
    event_count: int


@dataclass(frozen=True)
class JourneyEvent:
    """One recent event as the journey signals read it: type, time, attributes."""

    type: str
    occurred_at_us: int
    attributes: Mapping[str, AttributeScalar]


RECENT_EVENTS_LIMIT = 50  # the journey signals look at this many events at most


FIRST_SEEN, LAST_SEEN = "\x00first_seen", "\x00last_seen"  # census keys; never signal names


@dataclass(frozen=True)
class SignalQuery:
    """What a census reads for one signal: kind count, distinct or last_value."""

    name: str
    kind: str
    event: str
    attribute: str | None = None
    since_us: int = 0


class BehaviorStore(Protocol):
    def append(self, events: Sequence[StoredEvent], *, received_at_us: int) -> None:
        """Store every event and update activity, all or nothing."""
        ...

    def consent_and_activity(
        self, pseudonyms: Sequence[str], purpose: str
    ) -> tuple[bool, Activity | None]:
        """Whether consent for `purpose` is granted, and the activity under it, in one
        read (the GetSegments hot path)."""
        ...

    def count_events(
        self, pseudonyms: Sequence[str], purpose: str, event_type: str, since_us: int
    ) -> int:
        """Events of `event_type` collected under `purpose` that occurred after `since_us`."""
        ...

    def distinct_values(
        self,
        pseudonyms: Sequence[str],
        purpose: str,
        event_type: str,
        attribute: str,
        since_us: int,
    ) -> int:
        """How many distinct values `attribute` took on such events after `since_us`."""
        ...

    def last_attribute(
        self, pseudonyms: Sequence[str], purpose: str, event_type: str, attribute: str
    ) -> str | int | float | bool | None:
        """The value of `attribute` on the latest such event that has it, or None."""
        ...

    def recent_events(
        self, pseudonyms: Sequence[str], purpose: str, since_us: int
    ) -> list[JourneyEvent]:
        """Events of any type collected under `purpose` after `since_us`, newest first,
        at most RECENT_EVENTS_LIMIT of them."""
        ...

    def suppressed(self, pseudonyms: Sequence[str]) -> set[str]:
        """Those of `pseudonyms` whose person was erased and asked not to be collected."""
        ...

    def consenting(self, pseudonyms: Sequence[str], purpose: str) -> set[str]:
        """Those of `pseudonyms` with consent currently granted for `purpose`
        (read through the writer, so it is consistent with the next write)."""
        ...
