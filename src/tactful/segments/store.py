"""What the segments layer needs from a behavior store, and the values it trades.

The behavior store is keyed by pseudonym only; it never sees a raw identifier.
Everything in it is tagged with the purpose it was collected for, and is read
back only for that purpose. Times are integer microseconds since the Unix epoch
(UTC), cheap to compare and index in any engine.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, NamedTuple, Protocol, TypeVar

from tactful.privacy.contract import AttributeType, Contract, SignalKind, SignalSpec
from tactful.privacy.pending_records import PendingRecord
from tactful.timestamps import from_us

AttributeScalar = str | int | float | bool | datetime


class StoredEvent(NamedTuple):
    """One event as written: pseudonymous, purpose-tagged, validated. A tuple: one is
    built per event of every batch."""

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


@dataclass(frozen=True)
class Tracked:
    """The (event type, attribute) pairs whose latest value, or whose distinct values, a
    store maintains at ingest: those the contract's signals read. Counts need no list:
    every event type is counted."""

    last_value: frozenset[tuple[str, str]] = frozenset()
    distinct: frozenset[tuple[str, str]] = frozenset()

    def rows(self) -> list[tuple[str, str, str]]:
        """(kind, event type, attribute) of every tracked pair."""
        return [("last_value", *pair) for pair in self.last_value] + [
            ("distinct", *pair) for pair in self.distinct
        ]

    @cached_property
    def by_type(self) -> dict[str, dict[str, set[str]]]:
        """event type -> attribute -> the kinds kept for it."""
        found: dict[str, dict[str, set[str]]] = {}
        for kind, event_type, attribute in self.rows():
            found.setdefault(event_type, {}).setdefault(attribute, set()).add(kind)
        return found

    def require(self, kind: str, event_type: str, attribute: str) -> None:
        """ValueError unless the pair is maintained: reading it would answer wrongly."""
        if (event_type, attribute) not in (
            self.last_value if kind == "last_value" else self.distinct
        ):
            raise ValueError(
                f"{kind} of {event_type}.{attribute} is not maintained by this store;"
                " open it with a Tracked that names it (a signal of the contract does)"
            )


def typed_signal(contract: Contract, spec: SignalSpec, raw: object) -> AttributeScalar | None:
    """A count, distinct or last_value signal as read from a store, typed as declared:
    counts are ints (0 when none), a latest bool or timestamp attribute comes back as
    one, a missing latest value is None."""
    if spec.kind in (SignalKind.COUNT, SignalKind.DISTINCT):
        assert raw is None or isinstance(raw, int)
        return raw or 0
    if raw is None or spec.attribute is None:
        return None
    kept = contract.events[spec.event].kept(spec.attribute)
    assert kept is not None  # the contract checks every signal's attribute
    declared = kept.type
    if declared is AttributeType.BOOL:
        return bool(raw)
    if declared is AttributeType.TIMESTAMP:
        return datetime.fromisoformat(str(raw))
    assert isinstance(raw, str | int | float)
    return raw


def seen_signal(kind: SignalKind, activity: Activity | None) -> datetime | None:
    """A first_seen or last_seen signal from the activity under a purpose."""
    if activity is None:
        return None
    seen = activity.first_seen_us if kind is SignalKind.FIRST_SEEN else activity.last_seen_us
    return from_us(seen)


def tracked_by(contract: Contract) -> Tracked:
    """What a store must maintain for the contract's last_value and distinct signals."""
    pairs = {
        kind: frozenset(
            (s.event, s.attribute)
            for s in contract.signals.values()
            if s.kind is kind and s.attribute is not None
        )
        for kind in (SignalKind.LAST_VALUE, SignalKind.DISTINCT)
    }
    return Tracked(pairs[SignalKind.LAST_VALUE], pairs[SignalKind.DISTINCT])


Batch = TypeVar("Batch")  # a batch as an engine encodes it (BehaviorStore.encode)
Batch_contra = TypeVar("Batch_contra", contravariant=True)


class BehaviorWrite(Protocol[Batch_contra]):
    """Reads and writes inside one write transaction of the behavior store."""

    def suppressed(self, tombstones: Sequence[str]) -> set[str]:
        """Those of `tombstones` recorded: people erased who asked not to be collected
        again (privacy/suppression.py)."""
        ...

    def consenting(self, pseudonyms: Sequence[str], purpose: str) -> set[str]:
        """Those of `pseudonyms` with consent currently granted for `purpose`."""
        ...

    def append(self, batch: Batch_contra, admitted: Collection[str]) -> None:
        """Store the events of an encoded batch (`BehaviorStore.encode`) about the
        `admitted` pseudonyms only, and update activity and signal state."""
        ...

    def keep_pending_records(self, records: Sequence[PendingRecord]) -> None:
        """Keep, with what this transaction writes, the access records its calls get
        (privacy/pending_records.py): in one statement, whatever their number."""
        ...

    def drop_pending_records(self, keys: Sequence[tuple[str, int]]) -> None:
        """Forget the pending records of these calls, whose records are durable."""
        ...


class BehaviorReads(Protocol):
    """What reads the behavior store (GetSegments, GetSignals, the handoff)."""

    def consent_and_activity(
        self, pseudonyms: Sequence[str], purpose: str
    ) -> tuple[bool, Activity | None]:
        """Whether consent for `purpose` is granted, and the activity under it, in one
        read (the GetSegments hot path)."""
        ...

    def signal_values(
        self, pseudonyms: Sequence[str], purpose: str, queries: Sequence[SignalQuery]
    ) -> list[Any]:
        """The raw value of each count, distinct or last_value signal in `queries`, in one
        read: ints for counts, the stored value (or None) for latest values.

        `pseudonyms` are one person's, the latest written first (the pseudonymizer's
        candidates: every write goes under the primary key). A latest value is the
        value of the latest event; between events of the same time, the later write:
        under one pseudonym the one stored last, across pseudonyms (a rotation not yet
        rekeyed) the one under the pseudonym named first."""
        ...

    def recent_events(
        self, pseudonyms: Sequence[str], purpose: str, since_us: int
    ) -> list[JourneyEvent]:
        """Events of any type collected under `purpose` after `since_us`, newest first,
        at most RECENT_EVENTS_LIMIT of them."""
        ...


class BehaviorStore(BehaviorReads, Protocol[Batch]):
    """The behavior store of an engine, which picks its own encoding of a batch."""

    def encode(self, events: Sequence[StoredEvent], *, received_at_us: int) -> Batch:
        """A batch made ready for `BehaviorWrite.append`, without touching the database
        (any thread may do it)."""
        ...

    def writing(self) -> AbstractContextManager[BehaviorWrite[Batch]]:
        """One write transaction: what is read through it cannot change before what is
        written through it commits; all or nothing."""
        ...
