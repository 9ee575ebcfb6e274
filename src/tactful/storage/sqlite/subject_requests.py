"""Data-subject requests received in the console (lifecycle/request_workflow.py's
RequestStore), in a file of their own in the data folder: pseudonyms, principals,
states and receipts, never an identifier."""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from tactful.lifecycle.request_workflow import RequestState, SubjectRequest
from tactful.storage import request_rows as rows
from tactful.storage.sqlite.connection import connect
from tactful.storage.sqlite.errors import translated

migrations = sqlite_utils.Migrations("tactful.subject_requests")


@migrations()
def m001_subject_requests(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE TABLE subject_requests (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " kind TEXT NOT NULL, namespace TEXT NOT NULL, pseudonyms TEXT NOT NULL,"
        " suppress INTEGER NOT NULL, received_by TEXT NOT NULL,"
        " received_at_us INTEGER NOT NULL, received_record INTEGER NOT NULL,"
        " state TEXT NOT NULL, decided_by TEXT NOT NULL DEFAULT '',"
        " decided_at_us INTEGER NOT NULL DEFAULT 0, note TEXT NOT NULL DEFAULT '',"
        " done_at_us INTEGER NOT NULL DEFAULT 0, deleted TEXT NOT NULL DEFAULT '{}',"
        " record INTEGER NOT NULL DEFAULT 0, failure TEXT NOT NULL DEFAULT '')"
    )


_SELECT = f"SELECT {', '.join(rows.COLUMNS)} FROM subject_requests"


@translated
class SqliteSubjectRequests:
    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._db.execute("PRAGMA synchronous=FULL")  # a decision must survive a power cut
        migrations.apply(self._db)

    def add(self, request: SubjectRequest) -> SubjectRequest:
        marks = ", ".join("?" * len(rows.RECEIVED))
        with self._db.conn as conn:
            cursor = conn.execute(
                f"INSERT INTO subject_requests ({', '.join(rows.RECEIVED)}) VALUES ({marks})",
                rows.received(request),
            )
        assert cursor.lastrowid is not None
        found = self.get(cursor.lastrowid)
        assert found is not None
        return found

    def get(self, request_id: int) -> SubjectRequest | None:
        row = self._db.conn.execute(f"{_SELECT} WHERE id = ?", [request_id]).fetchone()
        return rows.from_row(row) if row else None

    def newest(self, limit: int) -> list[SubjectRequest]:
        found = self._db.conn.execute(f"{_SELECT} ORDER BY id DESC LIMIT ?", [limit])
        return [rows.from_row(row) for row in found]

    def update(self, request: SubjectRequest, *, was: RequestState) -> bool:
        sets = ", ".join(f"{c} = ?" for c in rows.STEPS)
        with self._db.conn as conn:
            cursor = conn.execute(
                f"UPDATE subject_requests SET {sets} WHERE id = ? AND state = ?",
                [*rows.steps(request), request.id, was.value],
            )
        return cursor.rowcount == 1

    def close(self) -> None:
        self._db.close()
