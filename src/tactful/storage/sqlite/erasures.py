"""Erasures begun and not yet finished (lifecycle/subject_requests.py's ErasureOutbox), in a
table of the behavior file with migrations of its own.

The vault and the behavior store are two files: an erasure killed between them
would leave one done and the other not. Its ticket here says what to finish. The
ticket commits with the erasure's suppression tombstone and the access record its
call is owed (in the behavior store's tables of this file: the recovery finds it
there), so whatever an erasure starts is finished, and recorded, after any crash.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import sqlite_utils

from tactful.privacy.pending_records import PendingRecord
from tactful.storage.sqlite import behavior_schema, pending_records
from tactful.storage.sqlite.connection import connect
from tactful.storage.sqlite.errors import translated

migrations = sqlite_utils.Migrations("tactful.erasures")


@migrations()
def m001_pending_erasures(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE TABLE pending_erasures (ticket INTEGER PRIMARY KEY, pseudonyms TEXT NOT NULL,"
        " begun_at_us INTEGER NOT NULL)"
    )


@translated
class SqliteErasureOutbox:
    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._db.execute("PRAGMA synchronous=FULL")  # a ticket must survive a power cut
        behavior_schema.migrations.apply(self._db)  # its tombstones and pending records
        migrations.apply(self._db)

    def begin(
        self,
        pseudonyms: Sequence[str],
        *,
        at_us: int,
        tombstone: str | None = None,
        pending: PendingRecord | None = None,
    ) -> int:
        with self._db.conn as conn:
            conn.execute("BEGIN IMMEDIATE")
            if tombstone is not None:
                conn.execute(
                    "INSERT OR IGNORE INTO suppression_tombstones VALUES (?, ?)",
                    (tombstone, at_us),
                )
            cursor = conn.execute(
                "INSERT INTO pending_erasures (pseudonyms, begun_at_us) VALUES (?, ?)",
                [json.dumps(list(pseudonyms)), at_us],
            )
            if pending is not None:
                pending_records.keep(conn, [pending])
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def pending(self) -> list[tuple[int, tuple[str, ...]]]:
        rows = self._db.conn.execute(
            "SELECT ticket, pseudonyms FROM pending_erasures ORDER BY ticket"
        )
        return [(ticket, tuple(json.loads(names))) for ticket, names in rows]

    def done(self, ticket: int) -> None:
        with self._db.conn as conn:
            conn.execute("DELETE FROM pending_erasures WHERE ticket = ?", [ticket])

    def close(self) -> None:
        self._db.close()
