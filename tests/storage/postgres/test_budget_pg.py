"""The privacy-budget ledger on PostgreSQL: one principal's debits are serialised
across servers (a Database each), other principals' are not."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tactful.privacy.insights import Debit
from tests.storage.postgres.conftest import migrated_database

psycopg = pytest.importorskip("psycopg")

from tactful.storage.postgres.budget import SCHEMA, PostgresBudgetLedger  # noqa: E402
from tactful.storage.postgres.connection import Database  # noqa: E402


@pytest.fixture()
def url() -> str:
    return migrated_database(SCHEMA)


@pytest.fixture()
def ledgers(url: str) -> Iterator[list[PostgresBudgetLedger]]:
    opened = [PostgresBudgetLedger(Database(url, size=1)) for _ in range(3)]
    yield opened
    for ledger in opened:
        ledger.close()


def _debit(principal: str, epsilon: float, at: int = 1) -> Debit:
    return Debit(principal, "analytics", epsilon, at)


def _lock_waiters(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else 0


def _until(condition: object, what: str) -> None:
    for _ in range(2000):  # bounded
        if condition():  # type: ignore[operator]
            return
        threading.Event().wait(0.005)
    raise AssertionError(what)


def test_a_second_server_reads_the_spent_budget_only_after_the_first_commits(
    url: str, ledgers: list[PostgresBudgetLedger]
) -> None:
    first, second, _ = ledgers
    seen: list[float] = []

    def second_release() -> None:
        with second.transaction("analyst") as tx:
            seen.append(tx.spent)
            tx.add(_debit("analyst", 0.25, 2))

    with ThreadPoolExecutor(1) as pool, first.transaction("analyst") as tx:
        assert tx.spent == 0.0
        tx.add(_debit("analyst", 0.5))
        waiting = pool.submit(second_release)
        _until(lambda: _lock_waiters(url) == 1, "the second debit never waited")
        assert seen == []  # it has not read the sum that the first is changing
        # ... committed when this block ends; then the second reads 0.5
    waiting.result(timeout=30)
    assert seen == [0.5]
    assert math.isclose(first.spent("analyst"), 0.75)
    assert [d.epsilon for d in first.debits()] == [0.5, 0.25]


def test_other_principals_do_not_wait(ledgers: list[PostgresBudgetLedger]) -> None:
    first, second, _ = ledgers
    with first.transaction("analyst") as tx:
        tx.add(_debit("analyst", 0.5))
        with ThreadPoolExecutor(1) as pool:
            other = pool.submit(lambda: _release(second, "auditor", 0.1))
            assert other.result(timeout=30) == 0.0  # not blocked behind "analyst"


def _release(ledger: PostgresBudgetLedger, principal: str, epsilon: float) -> float:
    with ledger.transaction(principal) as tx:
        spent = tx.spent
        tx.add(_debit(principal, epsilon))
    return spent


def test_a_release_that_fails_spends_nothing(ledgers: list[PostgresBudgetLedger]) -> None:
    ledger = ledgers[0]
    with pytest.raises(RuntimeError), ledger.transaction("analyst") as tx:
        tx.add(_debit("analyst", 0.5))
        raise RuntimeError("the counts could not be read")
    assert ledger.spent("analyst") == 0.0
    assert ledger.debits() == []


def test_many_servers_racing_spend_exactly_the_budget(url: str) -> None:
    ledgers = [PostgresBudgetLedger(Database(url, size=1)) for _ in range(8)]
    start = threading.Barrier(len(ledgers))

    def race(ledger: PostgresBudgetLedger) -> int:
        start.wait(timeout=30)
        granted = 0
        for _ in range(5):
            with ledger.transaction("analyst") as tx:
                if tx.spent + 0.1 <= 1.0 + 1e-9:  # the domain's rule, in short
                    tx.add(_debit("analyst", 0.1))
                    granted += 1
        return granted

    try:
        with ThreadPoolExecutor(len(ledgers)) as pool:
            assert sum(pool.map(race, ledgers)) == 10
        assert math.isclose(ledgers[0].spent("analyst"), 1.0)
    finally:
        for ledger in ledgers:
            ledger.close()
