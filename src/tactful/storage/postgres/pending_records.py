"""Access records owed (privacy/pending_records.py), in a table of the main database
beside the data of the write that keeps them: the same statements for each such table."""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

from tactful.privacy.pending_records import PendingRecord
from tactful.storage.postgres.connection import Connection, Database


def create_table(table: str) -> str:
    """One key, by time: a write inserts one row per call and deletes those recorded;
    the recovery claims the oldest."""
    return (
        f"CREATE TABLE {table} (time_us bigint NOT NULL, request_id text NOT NULL,"
        " entry text NOT NULL, claimed_until_us bigint NOT NULL DEFAULT 0,"
        " PRIMARY KEY (time_us, request_id))"
    )


def keep(conn: Connection, table: str, records: Sequence[PendingRecord]) -> None:
    """Insert `records` in the transaction under way on `conn`."""
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (time_us, request_id, entry)"
            " SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[]) ON CONFLICT DO NOTHING"
        ).format(sql.Identifier(table)),
        [
            [r.entry.time_us for r in records],
            [r.entry.request_id for r in records],
            [r.encode() for r in records],
        ],
    )


def claim(
    db: Database, table: str, *, written_before_us: int, now_us: int, lease_us: int, limit: int
) -> list[PendingRecord]:
    """PendingRecordStore.claim_pending_records: rows another server is claiming are
    skipped, not waited for; a claim runs out after `lease_us`."""
    with db.transaction() as conn:
        rows = conn.execute(
            sql.SQL(
                "UPDATE {0} SET claimed_until_us = %s WHERE (time_us, request_id) IN"
                " (SELECT time_us, request_id FROM {0} WHERE time_us < %s"
                " AND claimed_until_us <= %s ORDER BY time_us LIMIT %s FOR UPDATE SKIP LOCKED)"
                " RETURNING entry"
            ).format(sql.Identifier(table)),
            [now_us + lease_us, written_before_us, now_us, limit],
        ).fetchall()
    return [PendingRecord.decode(str(entry)) for (entry,) in rows]


def drop(db: Database, table: str, keys: Sequence[tuple[str, int]]) -> None:
    """PendingRecordStore.drop_pending_records."""
    with db.transaction() as conn:
        drop_in(conn, table, keys)


def drop_in(conn: Connection, table: str, keys: Sequence[tuple[str, int]]) -> None:
    """Delete the rows of `keys` (request id, time) in the transaction under way on `conn`."""
    conn.execute(
        sql.SQL(
            "DELETE FROM {} WHERE (time_us, request_id) IN"
            " (SELECT * FROM unnest(%s::bigint[], %s::text[]))"
        ).format(sql.Identifier(table)),
        [[at for _, at in keys], [request_id for request_id, _ in keys]],
    )


class OwedRecordsTable:
    """PendingRecordStore's claim and drop, for a store that keeps its owed records in
    the table `_pending_table` of its database `_db`."""

    _db: Database
    _pending_table: str

    def claim_pending_records(
        self, *, written_before_us: int, now_us: int, lease_us: int, limit: int
    ) -> list[PendingRecord]:
        return claim(
            self._db,
            self._pending_table,
            written_before_us=written_before_us,
            now_us=now_us,
            lease_us=lease_us,
            limit=limit,
        )

    def drop_pending_records(self, keys: Sequence[tuple[str, int]]) -> None:
        drop(self._db, self._pending_table, keys)
