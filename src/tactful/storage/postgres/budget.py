"""The privacy-budget ledger on PostgreSQL: one row per debit, never updated. The
overdraw rule is the domain's (privacy/insights.py).

A ledger transaction first takes a transaction-scoped advisory lock on its
principal (`pg_advisory_xact_lock`), so that no other debit of theirs, from any
server, reads the sum before this one has committed or rolled back: with N servers
the budget is never overdrawn, as with SQLite's one write lock. Other principals'
releases do not wait. The commit is synchronous whatever the server's default: a
release never leaves while the debit paying for it could still be lost. A debit
keeps its call's access record owed in the same transaction, in a table of its own
(privacy/pending_records.py; the recovery claims them there too).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

from tactful.privacy.insights import Debit
from tactful.privacy.pending_records import PendingRecord
from tactful.storage.postgres import pending_records
from tactful.storage.postgres.connection import Connection, Database
from tactful.storage.postgres.errors import translated
from tactful.storage.postgres.schema import Schema

DEBITS = "budget_debits"
PENDING = "budget_pending_records"  # the access records owed to the debits' calls
_LOCK_CLASS = 0x7AC7_0002  # the first key of the per-principal advisory lock

SCHEMA = Schema(
    "budget",
    [
        f"CREATE TABLE {DEBITS} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " principal text NOT NULL, purpose text NOT NULL, epsilon double precision NOT NULL,"
        " debited_at_us bigint NOT NULL);"
        f" CREATE INDEX budget_debits_principal ON {DEBITS} (principal)",
        pending_records.create_table(PENDING),
    ],
    tables=(PENDING,),
    append_only=(DEBITS,),  # one row per debit, never changed: a server cannot refund
)


@translated
class PostgresBudgetLedger(pending_records.OwedRecordsTable):
    _pending_table = PENDING

    def __init__(self, db: Database) -> None:
        """On `db` (which it owns). SchemaMismatch unless `tactful db migrate` is current."""
        try:
            SCHEMA.check(db)
        except BaseException:
            db.close()
            raise
        self._db = db

    @contextmanager
    def transaction(self, principal: str) -> Iterator[_Transaction]:
        with self._db.transaction() as conn:
            conn.execute("SET LOCAL synchronous_commit = on")
            conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_LOCK_CLASS, principal])
            yield _Transaction(conn, _spent(conn, principal))

    def spent(self, principal: str) -> float:
        with self._db.transaction() as conn:
            return _spent(conn, principal)

    def debits(self) -> list[Debit]:
        """Every debit, oldest first: each release made, by whom, and its epsilon."""
        with self._db.transaction() as conn:
            rows = conn.execute(
                f"SELECT principal, purpose, epsilon, debited_at_us FROM {DEBITS} ORDER BY id"
            ).fetchall()
        return [Debit(*row) for row in rows]

    def close(self) -> None:
        self._db.close()


class _Transaction:
    def __init__(self, conn: Connection, spent: float) -> None:
        self._conn = conn
        self._spent = spent

    @property
    def spent(self) -> float:
        return self._spent

    def add(self, debit: Debit) -> None:
        self._conn.execute(
            f"INSERT INTO {DEBITS} (principal, purpose, epsilon, debited_at_us)"
            " VALUES (%s, %s, %s, %s)",
            [debit.principal, debit.purpose, debit.epsilon, debit.debited_at_us],
        )
        self._spent = math.fsum((self._spent, debit.epsilon))

    def keep_pending_record(self, record: PendingRecord) -> None:
        pending_records.keep(self._conn, PENDING, [record])


def _spent(conn: Connection, principal: str) -> float:
    rows = conn.execute(f"SELECT epsilon FROM {DEBITS} WHERE principal = %s", [principal])
    return math.fsum(row[0] for row in rows)
