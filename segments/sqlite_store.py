"""The behavior store on SQLite (WAL): the embedded default.

Two connections: one for the single writer thread, one for reads on the
serving thread, so a read never sees a half-written batch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import sqlite_utils

from privacy.sqlite import connect
from segments.store import Activity, StoredEvent

migrations = sqlite_utils.Migrations("tactful.behavior")


@migrations()
def m001_events_and_activity(db: sqlite_utils.Database) -> None:
    db.table("events").create(
        {
            "id": int,
            "pseudonym": str,
            "purpose": str,
            "type": str,
            "occurred_at_us": int,
            "received_at_us": int,
            "attributes": str,
        },
        pk="id",
        not_null={"pseudonym", "purpose", "type", "occurred_at_us", "received_at_us"},
    )
    db.table("events").create_index(["pseudonym", "occurred_at_us"])
    db.table("events").create_index(["purpose", "occurred_at_us"])
    db.table("subject_activity").create(
        {"pseudonym": str, "first_seen_us": int, "last_seen_us": int, "event_count": int},
        pk="pseudonym",
    )


_UPSERT_ACTIVITY = """
INSERT INTO subject_activity (pseudonym, first_seen_us, last_seen_us, event_count)
VALUES (?, ?, ?, ?)
ON CONFLICT (pseudonym) DO UPDATE SET
    first_seen_us = min(first_seen_us, excluded.first_seen_us),
    last_seen_us = max(last_seen_us, excluded.last_seen_us),
    event_count = event_count + excluded.event_count
"""


class SqliteBehaviorStore:
    def __init__(self, path: Path) -> None:
        self._writer = connect(path)
        migrations.apply(self._writer)
        self._reader = connect(path)

    def append(self, events: Sequence[StoredEvent], *, received_at_us: int) -> None:
        activity: dict[str, list[int]] = {}
        rows = []
        for e in events:
            rows.append(
                (
                    e.pseudonym,
                    e.purpose,
                    e.type,
                    e.occurred_at_us,
                    received_at_us,
                    json.dumps(e.attributes, separators=(",", ":")) if e.attributes else None,
                )
            )
            seen = activity.get(e.pseudonym)
            if seen is None:
                activity[e.pseudonym] = [e.occurred_at_us, e.occurred_at_us, 1]
            else:
                seen[0] = min(seen[0], e.occurred_at_us)
                seen[1] = max(seen[1], e.occurred_at_us)
                seen[2] += 1
        conn = self._writer.conn
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO events (pseudonym, purpose, type, occurred_at_us, received_at_us,"
                " attributes) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.executemany(_UPSERT_ACTIVITY, [(p, *a) for p, a in activity.items()])

    def activity(self, pseudonyms: Sequence[str]) -> Activity | None:
        marks = ",".join("?" * len(pseudonyms))
        row = self._reader.conn.execute(
            "SELECT min(first_seen_us), max(last_seen_us), sum(event_count)"
            f" FROM subject_activity WHERE pseudonym IN ({marks})",
            list(pseudonyms),
        ).fetchone()
        if row is None or row[0] is None:
            return None
        return Activity(row[0], row[1], row[2])

    def close(self) -> None:
        self._reader.close()
        self._writer.close()
