"""The privacy-budget ledger on SQLite, in its own file (insights.db): one row per
debit, never updated. The overdraw rule is the domain's (privacy/insights.py).

Debits are fsynced at commit (`synchronous=FULL`): a release must never leave
while the debit that pays for it could still be lost. `BEGIN IMMEDIATE` takes the
file's write lock, so no other debit, from this process or another, interleaves.
A debit keeps its call's access record owed in the same transaction, in this file
(privacy/pending_records.py; the recovery claims them here too).
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from tactful.privacy.insights import Debit
from tactful.privacy.pending_records import PendingRecord
from tactful.storage.sqlite import pending_records
from tactful.storage.sqlite.connection import connect
from tactful.storage.sqlite.errors import translated

migrations = sqlite_utils.Migrations("tactful.insights")


@migrations()
def m001_debits(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE TABLE debits (id INTEGER PRIMARY KEY, principal TEXT NOT NULL,"
        " purpose TEXT NOT NULL, epsilon REAL NOT NULL, debited_at_us INTEGER NOT NULL)"
    )
    db.execute("CREATE INDEX debits_principal ON debits (principal)")


@migrations()
def m002_pending_records(db: sqlite_utils.Database) -> None:
    # The access records owed to the calls whose debits commit (privacy/pending_records.py).
    db.execute(pending_records.CREATE_TABLE)


@translated
class SqliteBudgetLedger:
    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._db.execute("PRAGMA synchronous=FULL")
        migrations.apply(self._db)

    @contextmanager
    def transaction(self, principal: str) -> Iterator[_Transaction]:
        conn = self._db.conn
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            yield _Transaction(conn, _spent(conn, principal))

    def spent(self, principal: str) -> float:
        return _spent(self._db.conn, principal)

    def debits(self) -> list[Debit]:
        """Every debit, oldest first: each release made, by whom, and its epsilon."""
        rows = self._db.conn.execute(
            "SELECT principal, purpose, epsilon, debited_at_us FROM debits ORDER BY id"
        )
        return [Debit(*row) for row in rows]

    # -- access records owed (privacy/pending_records.py) --------------------------------

    def claim_pending_records(
        self, *, written_before_us: int, now_us: int, lease_us: int, limit: int
    ) -> list[PendingRecord]:
        return pending_records.claim(
            self._db.conn,
            written_before_us=written_before_us,
            now_us=now_us,
            lease_us=lease_us,
            limit=limit,
        )

    def drop_pending_records(self, keys: Sequence[tuple[str, int]]) -> None:
        pending_records.drop(self._db.conn, keys)

    def close(self) -> None:
        self._db.close()


class _Transaction:
    def __init__(self, conn: sqlite3.Connection, spent: float) -> None:
        self._conn = conn
        self._spent = spent

    @property
    def spent(self) -> float:
        return self._spent

    def add(self, debit: Debit) -> None:
        self._conn.execute(
            "INSERT INTO debits (principal, purpose, epsilon, debited_at_us) VALUES (?, ?, ?, ?)",
            (debit.principal, debit.purpose, debit.epsilon, debit.debited_at_us),
        )
        self._spent = math.fsum((self._spent, debit.epsilon))

    def keep_pending_record(self, record: PendingRecord) -> None:
        pending_records.keep(self._conn, [record])


def _spent(conn: sqlite3.Connection, principal: str) -> float:
    rows = conn.execute("SELECT epsilon FROM debits WHERE principal = ?", (principal,))
    return math.fsum(row[0] for row in rows)
