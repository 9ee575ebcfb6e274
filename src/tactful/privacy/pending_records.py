"""Access records owed: a write keeps the record it will get in its own transaction.

The access log is a store of its own (another file, or its own transactions and
chain), so the data of a write commits before its record does. A crash, or a log
that fails, between the two would leave data that no record names. So every call
that writes stores beside its data, in the same transaction, a *pending record*:
the access entry its call gets if it succeeds. RecordEvents and SetConsent keep it
with their events or consent change, EraseSubject with its tombstone and ticket
(all three in the behavior store), GetSegmentSizes with its budget debit (in the
ledger). Once that record is durable the pending one is dropped (lazily: with the
next write, or the next recovery round).

Whatever is left is owed: `unrecorded` finds, of the pending records old enough
that no append of theirs can still be under way, those no record names (by
request id, method, principal and time, which the call's record shares), and
`recovered` is the record written for each, saying what happened. A pending
record whose call was recorded after all is only dropped: one record per call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from tactful.privacy.access_log import AccessEntry, AccessQuery, AccessRecord, canonical, decode

RECOVERED_STATUS = "UNAVAILABLE"
RECOVERED_REASON = (
    "recovered after a failure: stored, but not recorded before the reply;"
    " the caller was answered UNAVAILABLE or not at all"
)


@dataclass(frozen=True)
class PendingRecord:
    """The access record a write gets if it succeeds, stored with the write's data."""

    entry: AccessEntry

    @property
    def key(self) -> tuple[str, int]:
        """What a store finds it by: the request id and the call's time."""
        return self.entry.request_id, self.entry.time_us

    def encode(self) -> str:
        return canonical(0, self.entry)

    @classmethod
    def decode(cls, encoded: str) -> PendingRecord:
        return cls(decode(encoded)[1])


class PendingRecordStore(Protocol):
    """Where a write's pending records are kept (the behavior store, the budget ledger);
    the recovery looks in each."""

    def claim_pending_records(
        self, *, written_before_us: int, now_us: int, lease_us: int, limit: int
    ) -> list[PendingRecord]:
        """Pending records of calls made before `written_before_us` that nobody else
        holds, held now for `lease_us` (a recovery on another server skips them)."""
        ...

    def drop_pending_records(self, keys: Sequence[tuple[str, int]]) -> None:
        """Forget the pending records of these calls (their records are durable)."""
        ...


Query = Callable[[AccessQuery], list[AccessRecord]]


def unrecorded(pending: Sequence[PendingRecord], query: Query) -> list[PendingRecord]:
    """Those of `pending` whose call no record names: one query per call, on the
    log's time index (a call's record has the call's time)."""
    missing = []
    for record in pending:
        entry = record.entry
        found = query(
            AccessQuery(
                since_us=entry.time_us,
                until_us=entry.time_us + 1,
                principal=entry.principal,
                method=entry.method,
            )
        )
        if not any(r.entry.request_id == entry.request_id for r in found):
            missing.append(record)
    return missing


def recovered(record: PendingRecord, *, now_us: int) -> AccessEntry:
    """The record written for a call whose data was stored and whose own record was
    not: at the call's time, allowed (the data is kept), with the status the caller
    got at best, and the time until now as its latency."""
    entry = record.entry
    return replace(
        entry,
        status=RECOVERED_STATUS,
        reason=RECOVERED_REASON,
        latency_us=max(0, now_us - entry.time_us),
    )
