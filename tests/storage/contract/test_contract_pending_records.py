"""Invariant: a write's pending access record (privacy/pending_records.py) commits with
its data or not at all (a batch's events, an erasure's tombstone and ticket, a release's
budget debit), in a store the recovery looks in; the recovery claims only records past
the grace, one claim at a time until its lease runs out, and a dropped record is gone."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tactful.privacy.access_log import AccessEntry, Decided
from tactful.privacy.errors import BudgetExhausted, StoreUnavailable
from tactful.privacy.insights import Insights
from tactful.privacy.pending_records import PendingRecord
from tactful.privacy.vault import Identity
from tactful.segments.ingest import EventInput, SubjectInput
from tactful.timestamps import to_us
from tests.conftest import T0
from tests.storage.engines import Engine, Stores

T0_US = to_us(T0)
SECOND = 1_000_000


def _pending(request_id: str, time_us: int = T0_US) -> PendingRecord:
    return PendingRecord(
        AccessEntry(
            time_us,
            "support_widget",
            "frontend",
            "tactful.v1.Personalization/RecordEvents",
            "support_triage",
            ("hmac-sha256:v1:x",),
            (),
            (),
            Decided.ALLOWED,
            "OK",
            "ok",
            request_id,
            0,
        )  # fmt: skip
    )


def _store(stores: Stores, who: str, record: PendingRecord, vault: Any = None) -> None:
    recorder = stores.recorder(vault)
    event = EventInput(SubjectInput("email", who), "page_viewed", T0_US - SECOND, {})
    batch = recorder.prepare(stores.actor("support_widget"), "support_triage", [event], now=T0)
    recorder.store_many([(batch, T0)], pending=[record])


def _claim(stores: Stores, *, now_us: int, grace_s: int = 10) -> list[str]:
    claimed = stores.domain.store.claim_pending_records(
        written_before_us=now_us - grace_s * SECOND,
        now_us=now_us,
        lease_us=grace_s * SECOND,
        limit=100,
    )
    return sorted(p.entry.request_id for p in claimed)


class _VaultGone:
    """A vault that fails inside the batch's transaction: nothing of it may commit."""

    def remember(self, identities: Iterable[Identity], *, now: Any) -> int:
        raise StoreUnavailable("vault unreachable")


def test_a_pending_record_commits_with_its_batch_or_not_at_all(
    engine: Engine, tmp_path: Path
) -> None:
    stores = engine.open(engine.settings(tmp_path))
    try:
        _store(stores, "ada@example.com", _pending("kept"))
        with pytest.raises(StoreUnavailable):
            _store(stores, "bob@example.com", _pending("rolled-back"), vault=_VaultGone())
        assert stores.stored_events("bob@example.com") == []
        assert _claim(stores, now_us=T0_US + 60 * SECOND) == ["kept"]
        assert PendingRecord.decode(_pending("kept").encode()) == _pending("kept")
    finally:
        stores.close()


def test_only_records_past_the_grace_are_claimed_once_per_lease_and_dropped_for_good(
    engine: Engine, tmp_path: Path
) -> None:
    stores = engine.open(engine.settings(tmp_path))
    try:
        _store(stores, "ada@example.com", _pending("old"))
        _store(stores, "bob@example.com", _pending("new", T0_US + 30 * SECOND))
        now = T0_US + 20 * SECOND
        assert _claim(stores, now_us=now) == ["old"]  # "new" is 10 s old or less
        assert _claim(stores, now_us=now + SECOND) == []  # held by the first claim
        later = now + 11 * SECOND  # the lease ran out (the claimer died, say)
        assert _claim(stores, now_us=later + 30 * SECOND) == ["new", "old"]
        stores.domain.store.drop_pending_records([("old", T0_US)])
        assert _claim(stores, now_us=later + 3600 * SECOND) == ["new"]
    finally:
        stores.close()


def test_a_batch_drops_the_pending_records_of_calls_since_recorded(
    engine: Engine, tmp_path: Path
) -> None:
    stores = engine.open(engine.settings(tmp_path))
    try:
        _store(stores, "ada@example.com", _pending("first"))
        recorder = stores.recorder()
        event = EventInput(SubjectInput("email", "bob@example.com"), "page_viewed", T0_US, {})
        batch = recorder.prepare(stores.actor("support_widget"), "support_triage", [event], now=T0)
        later = T0 + timedelta(seconds=1)
        recorder.store_many(
            [(batch, later)],
            pending=[_pending("second", to_us(later))],
            recorded=[("first", T0_US)],
        )
        assert _claim(stores, now_us=T0_US + 3600 * SECOND) == ["second"]
    finally:
        stores.close()


# -- EraseSubject: kept with the erasure's tombstone and ticket --------------------------


class _Unencodable(PendingRecord):
    """A pending record whose row fails to be written, as a store failing at that moment
    would: what the transaction wrote before it must not commit either."""

    def encode(self) -> str:
        raise StoreUnavailable("the store failed mid-transaction")


def _erase(stores: Stores, who: str, record: PendingRecord) -> None:
    stores.domain.subjects.erase(
        stores.actor("privacy_ops"), "email", who, suppress=True, now=T0,
        owed=lambda decision, pseudonym: record,
    )  # fmt: skip


def test_an_erasure_keeps_its_record_with_its_tombstone_and_ticket_or_not_at_all(
    engine: Engine, tmp_path: Path
) -> None:
    stores = engine.open(engine.settings(tmp_path))
    try:
        _erase(stores, "ada@example.com", _pending("erased"))
        bob = _Unencodable(_pending("failed").entry)
        with pytest.raises(StoreUnavailable):
            _erase(stores, "bob@example.com", bob)
        assert stores.domain.erasures.pending() == []  # no ticket of bob's left behind
        stores.record("support_widget", "support_triage",
                      [(who, "page_viewed", T0_US - SECOND, {}) for who in ("ada@example.com",
                       "bob@example.com")], now=T0)  # fmt: skip
        assert stores.stored_events("ada@example.com") == []  # suppressed
        assert len(stores.stored_events("bob@example.com")) == 1  # no tombstone of his
        # Where the recovery looks: the behavior store's pending records.
        assert _claim(stores, now_us=T0_US + 60 * SECOND) == ["erased"]
    finally:
        stores.close()


# -- GetSegmentSizes: kept with the budget debit -----------------------------------------


class _Counts:
    def __init__(self, fail: bool = False) -> None:
        self._fail = fail

    def segment_counts(self, purpose: str, now_us: int) -> dict[str, int]:
        if self._fail:
            raise StoreUnavailable("census unreachable")
        return {}


def _release(stores: Stores, record: PendingRecord, *, fail: bool = False) -> None:
    insights = Insights(stores.domain.contract, _Counts(fail), stores.domain.budget_ledger,
                        budget=0.25)  # fmt: skip
    insights.release_segment_sizes(stores.actor("analyst"), "analytics", 0.1, now=T0,
                                   owed=lambda decision: record)  # fmt: skip


def _claim_debits(stores: Stores, *, now_us: int) -> list[str]:
    claimed = stores.domain.budget_ledger.claim_pending_records(
        written_before_us=now_us - 10 * SECOND, now_us=now_us, lease_us=10 * SECOND, limit=100
    )
    return sorted(p.entry.request_id for p in claimed)


def test_a_release_keeps_its_record_with_its_debit_or_not_at_all(
    engine: Engine, tmp_path: Path
) -> None:
    stores = engine.open(engine.settings(tmp_path))
    try:
        _release(stores, _pending("paid"))
        with pytest.raises(StoreUnavailable):  # after the debit: rolled back with it
            _release(stores, _pending("rolled-back"), fail=True)
        _release(stores, _pending("second", T0_US + SECOND))
        with pytest.raises(BudgetExhausted):  # a third 0.1 of 0.25: nothing debited
            _release(stores, _pending("refused"))
        assert stores.domain.budget_ledger.spent("analyst") == pytest.approx(0.2)
        now = T0_US + 60 * SECOND
        assert _claim_debits(stores, now_us=now) == ["paid", "second"]
        assert _claim_debits(stores, now_us=now + SECOND) == []  # held by the first claim
        stores.domain.budget_ledger.drop_pending_records([("paid", T0_US)])
        assert _claim_debits(stores, now_us=now + 3600 * SECOND) == ["second"]
    finally:
        stores.close()
