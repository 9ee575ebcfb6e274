"""Access records owed (privacy/pending_records.py), in a table of whichever SQLite file
the write that keeps them commits to: the same statements for each such table."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from tactful.privacy.pending_records import PendingRecord
from tactful.storage.sqlite.connection import from_rows, rows_param

# One key, by time: a write inserts one row per call and deletes those recorded; the
# recovery claims the oldest. A rowid table with the key as an index, not WITHOUT ROWID:
# an entry is about 1 KB, and SQLite's WITHOUT ROWID tables slow down with rows that
# large (keeping and dropping a copy took 41 us of CPU, against 20 us this way).
CREATE_TABLE = (
    "CREATE TABLE pending_records (time_us INTEGER NOT NULL, request_id TEXT NOT NULL,"
    " entry TEXT NOT NULL, claimed_until_us INTEGER NOT NULL DEFAULT 0,"
    " UNIQUE (time_us, request_id))"
)


def keep(conn: sqlite3.Connection, records: Sequence[PendingRecord]) -> None:
    """Insert `records` in the transaction under way on `conn`."""
    rows = [(r.entry.time_us, r.entry.request_id, r.encode()) for r in records]
    conn.execute(
        f"INSERT OR IGNORE INTO pending_records (time_us, request_id, entry) {from_rows(3)}",
        (rows_param(rows),),
    )


def claim(
    conn: sqlite3.Connection, *, written_before_us: int, now_us: int, lease_us: int, limit: int
) -> list[PendingRecord]:
    """PendingRecordStore.claim_pending_records, in a transaction of its own."""
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        rows = conn.execute(
            "UPDATE pending_records SET claimed_until_us = ?"
            " WHERE (time_us, request_id) IN (SELECT time_us, request_id FROM pending_records"
            " WHERE time_us < ? AND claimed_until_us <= ? ORDER BY time_us LIMIT ?)"
            " RETURNING entry",
            [now_us + lease_us, written_before_us, now_us, limit],
        ).fetchall()
    return [PendingRecord.decode(entry) for (entry,) in rows]


def drop(conn: sqlite3.Connection, keys: Sequence[tuple[str, int]]) -> None:
    """PendingRecordStore.drop_pending_records, in a transaction of its own."""
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        drop_in(conn, keys)


def drop_in(conn: sqlite3.Connection, keys: Sequence[tuple[str, int]]) -> None:
    """Delete the rows of `keys` (request id, time) in the transaction under way on `conn`."""
    conn.execute(
        "DELETE FROM pending_records WHERE (time_us, request_id) IN"
        " (SELECT value->>1, value->>0 FROM json_each(?))",
        (rows_param(keys),),
    )
