"""The behavior store on SQLite (WAL): the embedded default.

Three connections: one for the single writer thread, one for reads on the
serving thread (a read never sees a half-written batch), one for the census of
segment sizes, which may run on a thread of its own. It also keeps consent, which
lives beside the behavior it governs so that a withdrawal and the deletion it
causes commit together.

A batch is written in a few whole-batch statements (`INSERT ... SELECT FROM
json_each`), never `executemany`, which releases and re-takes the GIL per row; and
the signal state (storage/sqlite/signals.py) is kept in the same transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from tactful.privacy.consent import ConsentChange
from tactful.privacy.errors import SubjectSuppressed
from tactful.privacy.pending_records import PendingRecord
from tactful.segments.store import (
    FIRST_SEEN,
    LAST_SEEN,
    RECENT_EVENTS_LIMIT,
    Activity,
    JourneyEvent,
    SignalQuery,
    StoredEvent,
    Tracked,
)
from tactful.storage.sqlite import pending_records
from tactful.storage.sqlite import signals as signal_state
from tactful.storage.sqlite.behavior_schema import SUBJECT_IDS, migrations, placeholders
from tactful.storage.sqlite.connection import connect, rows_param
from tactful.storage.sqlite.errors import translated

NOTHING_TRACKED = Tracked()
_UPSERT_ACTIVITY = f"""
INSERT INTO purpose_activity (subject_id, purpose, first_seen_us, last_seen_us, event_count)
SELECT s.id, j.value->>1, j.value->>2, j.value->>3, j.value->>4
FROM json_each(:rows) j JOIN subjects s ON s.pseudonym = j.value->>0
WHERE {signal_state.ADMITTED}
ON CONFLICT (subject_id, purpose) DO UPDATE SET
    first_seen_us = min(first_seen_us, excluded.first_seen_us),
    last_seen_us = max(last_seen_us, excluded.last_seen_us),
    event_count = event_count + excluded.event_count
"""


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__}")


_to_json = json.JSONEncoder(separators=(",", ":"), default=_json_default, allow_nan=False).encode


@translated
class SqliteBehaviorStore:
    def __init__(self, path: Path, tracked: Tracked = NOTHING_TRACKED) -> None:
        """Open (and migrate) the store; `tracked` names the attribute signals to maintain
        (`tracked_by(contract)`), built from the stored events if newly declared."""
        self._writer = connect(path)
        self._writer.execute("PRAGMA cache_size=-65536")  # 64 MiB: index pages stay hot
        # Fold the WAL into the database every 40 MB rather than every 4 MB: random index
        # pages rewritten by many batches are then written back once. (Erasure and
        # withdrawal still empty the WAL at once.) Ingest: about +25 % (docs/benchmarks-history.md).
        self._writer.execute("PRAGMA wal_autocheckpoint=10000")
        migrations.apply(self._writer)
        self._tracked = tracked
        self.state_changes = signal_state.track(self._writer.conn, tracked)
        self._reader = connect(path)
        self._census = connect(path)  # its own: the census may run on a thread of its own

    # -- behavior ---------------------------------------------------------------------

    def encode(self, events: Sequence[StoredEvent], *, received_at_us: int) -> EncodedEvents:
        """Everything about a batch that needs no database: the rows of every table it
        touches, each one JSON parameter. Pure, so the serving thread does it while the
        writer thread stores an earlier batch. The events' attributes are objects inside
        the one JSON text of the batch (one encoding, not one per event), which SQLite
        stores as that same text (`->`: tests/storage/sqlite/test_behavior_store.py)."""
        activity: dict[tuple[str, str], list[int]] = {}
        for pseudonym, purpose, _, at, _ in events:
            key = (pseudonym, purpose)
            seen = activity.get(key)
            if seen is None:
                activity[key] = [at, at, 1]
            else:
                if at < seen[0]:
                    seen[0] = at
                elif at > seen[1]:
                    seen[1] = at
                seen[2] += 1
        return EncodedEvents(
            _to_json([(p, purpose, t, at, a or None) for p, purpose, t, at, a in events]),
            received_at_us,
            rows_param([(*k, *a) for k, a in activity.items()]),
            signal_state.encode(self._tracked, events),
            frozenset(key[0] for key in activity),
        )

    @contextmanager
    def writing(self) -> Iterator[SqliteBehaviorWrite]:
        """One write transaction (BEGIN IMMEDIATE on the writer connection): consent and
        suppression read through it cannot change, by this process or another (an
        erasure from the command line), before what is appended through it commits.
        An exception inside rolls everything back."""
        conn = self._writer.conn
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            yield SqliteBehaviorWrite(conn)

    def append(self, events: Sequence[StoredEvent], *, received_at_us: int) -> None:
        """Store events in a transaction of their own (no consent check)."""
        encoded = self.encode(events, received_at_us=received_at_us)
        with self.writing() as write:
            write.append(encoded, {e.pseudonym for e in events})

    def consent_and_activity(
        self, pseudonyms: Sequence[str], purpose: str
    ) -> tuple[bool, Activity | None]:
        marks = placeholders(pseudonyms)
        row = self._reader.conn.execute(
            "SELECT (SELECT count(*) FROM consent"
            f" WHERE pseudonym IN ({marks}) AND purpose = ? AND granted = 1),"
            " min(first_seen_us), max(last_seen_us), sum(event_count)"
            " FROM purpose_activity"
            f" WHERE subject_id IN (SELECT id FROM subjects WHERE pseudonym IN ({marks}))"
            " AND purpose = ?",
            [*pseudonyms, purpose, *pseudonyms, purpose],
        ).fetchone()
        activity = None if row[1] is None else Activity(row[1], row[2], row[3])
        return bool(row[0]), activity

    def signal_values(
        self, pseudonyms: Sequence[str], purpose: str, queries: Sequence[SignalQuery]
    ) -> list[Any]:
        return signal_state.values(self._reader.conn, self._tracked, pseudonyms, purpose, queries)

    def census_source(self, *, on_writer: bool) -> _Census:
        """The census through the writer's connection (for a call that runs on the
        writer thread, such as an insights release) or through a connection of its own
        (for the recount thread): SQLite connections are not shared between threads
        that run at once."""
        return _Census(self._writer if on_writer else self._census)

    # -- consent ----------------------------------------------------------------------

    def recent_events(
        self, pseudonyms: Sequence[str], purpose: str, since_us: int
    ) -> list[JourneyEvent]:
        conn = self._reader.conn
        rows = []
        # One subject id at a time, walking its index backwards: the newest events are
        # the first index entries read, however long the history or busy the purpose.
        for (subject_id,) in conn.execute(SUBJECT_IDS.format(placeholders(pseudonyms)), pseudonyms):
            rows += conn.execute(
                "SELECT occurred_at_us, id, type, attributes FROM events INDEXED BY events_subject"
                " WHERE subject_id = ? AND purpose = ? AND occurred_at_us > ?"
                " ORDER BY occurred_at_us DESC, id DESC LIMIT ?",
                [subject_id, purpose, since_us, RECENT_EVENTS_LIMIT],
            ).fetchall()
        rows.sort(reverse=True)
        return [
            JourneyEvent(t, at, json.loads(a) if a else {})
            for at, _, t, a in rows[:RECENT_EVENTS_LIMIT]
        ]

    def is_granted(self, pseudonyms: Sequence[str], purpose: str) -> bool:
        row = self._reader.conn.execute(
            f"SELECT 1 FROM consent WHERE pseudonym IN ({placeholders(pseudonyms)})"
            " AND purpose = ? AND granted = 1 LIMIT 1",
            [*pseudonyms, purpose],
        ).fetchone()
        return row is not None

    def record_consent(
        self,
        change: ConsentChange,
        subject: Sequence[str],
        tombstones: Sequence[str],
        pending: PendingRecord | None = None,
    ) -> int:
        conn = self._writer.conn
        deleted = 0
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            # Checked in the transaction that writes: an erasure with suppression from
            # the command line lands wholly before or after it.
            if _suppressed(conn, tombstones):
                raise SubjectSuppressed(
                    "this person was erased and asked not to be collected again;"
                    " no consent is recorded for them"
                )
            conn.execute(
                "INSERT INTO consent_history (pseudonym, purpose, granted, source,"
                " recorded_at_us) VALUES (?, ?, ?, ?, ?)",
                (
                    change.pseudonym,
                    change.purpose,
                    change.granted,
                    change.source,
                    change.recorded_at_us,
                ),
            )
            # One current state per subject: drop states held under older key versions.
            conn.execute(
                f"DELETE FROM consent WHERE pseudonym IN ({placeholders(subject)}) AND purpose = ?",
                [*subject, change.purpose],
            )
            conn.execute(
                "INSERT INTO consent VALUES (?, ?, ?, ?)",
                (change.pseudonym, change.purpose, change.granted, change.recorded_at_us),
            )
            if pending is not None:
                SqliteBehaviorWrite(conn).keep_pending_records([pending])
            if not change.granted:
                signal_state.forget(
                    conn,
                    [
                        i
                        for (i,) in conn.execute(SUBJECT_IDS.format(placeholders(subject)), subject)
                    ],
                    change.purpose,
                )
                deleted = conn.execute(
                    "DELETE FROM events"
                    f" WHERE subject_id IN ({SUBJECT_IDS.format(placeholders(subject))})"
                    " AND purpose = ?",
                    [*subject, change.purpose],
                ).rowcount
                conn.execute(
                    "DELETE FROM purpose_activity"
                    f" WHERE subject_id IN ({SUBJECT_IDS.format(placeholders(subject))})"
                    " AND purpose = ?",
                    [*subject, change.purpose],
                )
        if deleted:
            # Old page images of the deleted rows live on in the WAL until a checkpoint.
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return deleted

    # -- access records owed (privacy/pending_records.py) --------------------------------

    def claim_pending_records(
        self, *, written_before_us: int, now_us: int, lease_us: int, limit: int
    ) -> list[PendingRecord]:
        return pending_records.claim(
            self._writer.conn,
            written_before_us=written_before_us,
            now_us=now_us,
            lease_us=lease_us,
            limit=limit,
        )

    def drop_pending_records(self, keys: Sequence[tuple[str, int]]) -> None:
        with self.writing() as write:
            write.drop_pending_records(keys)

    def close(self) -> None:
        self._census.close()
        self._reader.close()
        self._writer.close()


def _suppressed(conn: sqlite3.Connection, tombstones: Sequence[str]) -> set[str]:
    """Those of `tombstones` recorded (in one row: a JSON array)."""
    row = conn.execute(
        "SELECT json_group_array(tombstone) FROM suppression_tombstones"
        f" WHERE tombstone IN ({placeholders(tombstones)})",
        list(tombstones),
    ).fetchone()
    return set(json.loads(row[0]))


@dataclass(frozen=True)
class EncodedEvents:
    """A batch as `SqliteBehaviorStore.encode` prepares it, keyed by pseudonym."""

    events: str
    received_at_us: int
    activity: str
    signals: signal_state.EncodedSignals
    subjects: frozenset[str]  # every pseudonym the batch is about


@translated
class SqliteBehaviorWrite:
    """What may be done inside `SqliteBehaviorStore.writing()`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # Each answers in one row (a JSON array): stepping through hundreds of rows would
    # release and re-take the GIL for each (see tactful.storage.sqlite.connection.rows_param).

    def suppressed(self, tombstones: Sequence[str]) -> set[str]:
        return _suppressed(self._conn, tombstones)

    def consenting(self, pseudonyms: Sequence[str], purpose: str) -> set[str]:
        row = self._conn.execute(
            "SELECT json_group_array(pseudonym) FROM consent"
            f" WHERE pseudonym IN ({placeholders(pseudonyms)}) AND purpose = ? AND granted = 1",
            [*pseudonyms, purpose],
        ).fetchone()
        return set(json.loads(row[0]))

    def append(self, batch: EncodedEvents, admitted: Collection[str]) -> None:
        """Store the events of `batch` about the `admitted` pseudonyms (and nobody else),
        with their activity and signal state: a few statements, whatever the batch."""
        if not admitted:
            return
        conn = self._conn
        people = rows_param(sorted(admitted))
        # :admitted is NULL when the whole batch is admitted (the usual case): no filter.
        who = {"admitted": None if batch.subjects == set(admitted) else people}
        conn.execute(
            "INSERT OR IGNORE INTO subjects (pseudonym) SELECT value FROM json_each(?)", (people,)
        )
        conn.execute(
            "INSERT INTO events (subject_id, purpose, type, occurred_at_us, received_at_us,"
            " attributes) SELECT s.id, j.value->>1, j.value->>2, j.value->>3, :received,"
            " nullif(j.value->4, 'null') FROM json_each(:rows) j"
            f" JOIN subjects s ON s.pseudonym = j.value->>0 WHERE {signal_state.ADMITTED}"
            " ORDER BY j.key",
            {**who, "rows": batch.events, "received": batch.received_at_us},
        )
        conn.execute(_UPSERT_ACTIVITY, {**who, "rows": batch.activity})
        signal_state.append(conn, batch.signals, who)

    def keep_pending_records(self, records: Sequence[PendingRecord]) -> None:
        pending_records.keep(self._conn, records)

    def drop_pending_records(self, keys: Sequence[tuple[str, int]]) -> None:
        pending_records.drop_in(self._conn, keys)


@translated
class _Census:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self._db = db

    def census(self, purpose: str, wanted: Sequence[SignalQuery]) -> dict[str, dict[str, Any]]:
        """In one query per signal (for segment sizes)."""
        conn = self._db.conn
        people: dict[str, dict[str, Any]] = {
            pseudonym: {FIRST_SEEN: first, LAST_SEEN: last}
            for pseudonym, first, last in conn.execute(
                "SELECT s.pseudonym, a.first_seen_us, a.last_seen_us FROM purpose_activity a"
                " JOIN subjects s ON s.id = a.subject_id WHERE a.purpose = ?",
                [purpose],
            )
        }
        for query in wanted:
            for pseudonym, value in signal_state.census(conn, purpose, query):
                if pseudonym in people:
                    people[pseudonym][query.name] = value
        return people
