"""Data-subject requests received in the console (lifecycle/request_workflow.py's
RequestStore), in the main database: pseudonyms, principals, states and receipts,
never an identifier. A step is one UPDATE guarded by the state it starts from, so of
two people acting at once through two consoles one wins."""

from __future__ import annotations

from tactful.lifecycle.request_workflow import RequestState, SubjectRequest
from tactful.storage import request_rows as rows
from tactful.storage.postgres.connection import Database
from tactful.storage.postgres.errors import translated
from tactful.storage.postgres.schema import Schema

TABLE = "subject_requests"
SCHEMA = Schema(
    "subject_requests",
    [
        f"CREATE TABLE {TABLE} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " kind text NOT NULL, namespace text NOT NULL, pseudonyms text NOT NULL,"
        " suppress boolean NOT NULL, received_by text NOT NULL,"
        " received_at_us bigint NOT NULL, received_record bigint NOT NULL,"
        " state text NOT NULL, decided_by text NOT NULL DEFAULT '',"
        " decided_at_us bigint NOT NULL DEFAULT 0, note text NOT NULL DEFAULT '',"
        " done_at_us bigint NOT NULL DEFAULT 0, deleted text NOT NULL DEFAULT '{}',"
        " record bigint NOT NULL DEFAULT 0, failure text NOT NULL DEFAULT '')"
    ],
    tables=(TABLE,),
)
_SELECT = f"SELECT {', '.join(rows.COLUMNS)} FROM {TABLE}"


@translated
class PostgresSubjectRequests:
    def __init__(self, db: Database) -> None:
        """On `db` (which it owns). SchemaMismatch unless `tactful db migrate` is current."""
        try:
            SCHEMA.check(db)
        except BaseException:
            db.close()
            raise
        self._db = db

    def add(self, request: SubjectRequest) -> SubjectRequest:
        marks = ", ".join(["%s"] * len(rows.RECEIVED))
        with self._db.transaction() as conn:
            row = conn.execute(
                f"INSERT INTO {TABLE} ({', '.join(rows.RECEIVED)}) VALUES ({marks})"
                f" RETURNING {', '.join(rows.COLUMNS)}",
                rows.received(request),
            ).fetchone()
        assert row is not None
        return rows.from_row(row)

    def get(self, request_id: int) -> SubjectRequest | None:
        with self._db.transaction() as conn:
            row = conn.execute(f"{_SELECT} WHERE id = %s", [request_id]).fetchone()
        return rows.from_row(row) if row else None

    def newest(self, limit: int) -> list[SubjectRequest]:
        with self._db.transaction() as conn:
            found = conn.execute(f"{_SELECT} ORDER BY id DESC LIMIT %s", [limit]).fetchall()
        return [rows.from_row(row) for row in found]

    def update(self, request: SubjectRequest, *, was: RequestState) -> bool:
        sets = ", ".join(f"{c} = %s" for c in rows.STEPS)
        with self._db.transaction() as conn:
            cursor = conn.execute(
                f"UPDATE {TABLE} SET {sets} WHERE id = %s AND state = %s",
                [*rows.steps(request), request.id, was.value],
            )
            return cursor.rowcount == 1

    def close(self) -> None:
        self._db.close()
