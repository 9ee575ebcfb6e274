"""The recovery of access records owed looks in every store that keeps them, and one
failing store does not hold up the others (api/recovery.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import pytest

from tactful.api.recovery import CopiesToDrop, RecordRecovery
from tactful.privacy.access_log import AccessEntry, AccessQuery, AccessRecord, Decided
from tactful.privacy.errors import StoreUnavailable
from tactful.privacy.pending_records import RECOVERED_REASON, PendingRecord

T = TypeVar("T")
T0_US = 1_700_000_000_000_000
ENTRY = AccessEntry(
    T0_US, "analyst", "analyst", "tactful.v1.Insights/GetSegmentSizes", "analytics",
    (), (), (), Decided.ALLOWED, "OK", "ok", "owed", 0,
)  # fmt: skip


class Store:
    def __init__(self, pending: Sequence[PendingRecord] = (), *, failing: bool = False) -> None:
        self.pending = list(pending)
        self.failing = failing

    def claim_pending_records(self, **_: int) -> list[PendingRecord]:
        if self.failing:
            raise StoreUnavailable("unreachable")
        return list(self.pending)

    def drop_pending_records(self, keys: Sequence[tuple[str, int]]) -> None:
        self.pending = [p for p in self.pending if p.key not in keys]


class Log:
    def __init__(self) -> None:
        self.written: list[AccessEntry] = []

    def submit(self, entry: AccessEntry) -> Any:
        raise NotImplementedError

    async def wait(self, entry: AccessEntry) -> AccessRecord:
        self.written.append(entry)
        return None  # type: ignore[return-value]


async def _now(call: Callable[[], T]) -> T:
    return call()


def _recovery(stores: Sequence[Store], log: Log) -> RecordRecovery:
    def query(q: AccessQuery) -> list[AccessRecord]:
        return []  # nothing recorded

    return RecordRecovery(
        [(store, CopiesToDrop(store, _now)) for store in stores],
        log,
        query,
        writes=_now,
        reads=_now,
        clock_us=lambda: T0_US + 3600 * 1_000_000,
        grace_s=1.0,
    )


def test_a_failing_store_does_not_hold_up_the_records_owed_in_another() -> None:
    owed = PendingRecord(ENTRY)
    failing, ledger, log = Store(failing=True), Store([owed]), Log()
    with pytest.raises(StoreUnavailable):
        asyncio.run(_recovery([failing, ledger], log).recover())
    assert [(e.request_id, e.reason) for e in log.written] == [("owed", RECOVERED_REASON)]
    assert ledger.pending == []


def test_copies_of_recorded_calls_are_dropped_by_the_next_round_not_recorded_again() -> None:
    recorded = PendingRecord(replace(ENTRY, request_id="recorded"))
    ledger, log = Store([recorded]), Log()
    recovery = _recovery([ledger], log)
    copies = CopiesToDrop(ledger, _now)
    copies.recorded(recorded)
    asyncio.run(copies.drop_recorded())
    assert ledger.pending == []
    asyncio.run(recovery.recover())
    assert log.written == []
