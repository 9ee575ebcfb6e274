"""Erasures begun and not yet finished (lifecycle/subject_requests.py's ErasureOutbox), in the
main database: the vault is another database, so no transaction spans an erasure,
and a ticket here says what the next server or command must finish. The ticket
commits with the erasure's suppression tombstone and the access record its call is
owed (in the behavior store's tables: the recovery finds it there), so whatever an
erasure starts is finished, and recorded, after any crash."""

from __future__ import annotations

from collections.abc import Sequence

from tactful.privacy.pending_records import PendingRecord
from tactful.storage.postgres import behavior_schema as layout
from tactful.storage.postgres import pending_records
from tactful.storage.postgres.connection import Database
from tactful.storage.postgres.errors import translated
from tactful.storage.postgres.schema import Schema

SCHEMA = Schema(
    "erasures",
    [
        "CREATE TABLE pending_erasures (ticket bigserial PRIMARY KEY,"
        " pseudonyms text[] NOT NULL, begun_at_us bigint NOT NULL)"
    ],
    tables=("pending_erasures",),
)


@translated
class PostgresErasureOutbox:
    def __init__(self, db: Database) -> None:
        self._db = db
        SCHEMA.check(db)

    def begin(
        self,
        pseudonyms: Sequence[str],
        *,
        at_us: int,
        tombstone: str | None = None,
        pending: PendingRecord | None = None,
    ) -> int:
        with self._db.transaction() as conn:
            if tombstone is not None:  # after every batch that checked it has committed
                layout.lock(conn, layout.stripes(layout.TOMBSTONE, [tombstone]), shared=False)
                conn.execute(
                    "INSERT INTO suppression_tombstones VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (tombstone, at_us),
                )
            row = conn.execute(
                "INSERT INTO pending_erasures (pseudonyms, begun_at_us) VALUES (%s, %s)"
                " RETURNING ticket",
                [list(pseudonyms), at_us],
            ).fetchone()
            if pending is not None:
                pending_records.keep(conn, "pending_records", [pending])
        assert row is not None
        return int(row[0])

    def pending(self) -> list[tuple[int, tuple[str, ...]]]:
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT ticket, pseudonyms FROM pending_erasures ORDER BY ticket"
            ).fetchall()
        return [(int(ticket), tuple(names)) for ticket, names in rows]

    def done(self, ticket: int) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM pending_erasures WHERE ticket = %s", [ticket])

    def close(self) -> None:
        self._db.close()
