"""The behavior store on PostgreSQL: events, activity, signal state and consent, shared
by any number of Tactful servers.

A batch is one transaction on a pooled connection, its rows sent as arrays and written
in one statement per table (``INSERT ... SELECT FROM unnest(...)``), its signal state
(storage/postgres/signals.py) in the same transaction. What SQLite gets from its one
write lock, this store gets from advisory locks per person (behavior_schema.py): the
consent and suppression a batch reads cannot change before it commits, across
processes, and a withdrawal waits for the batches that read the consent it changes.
Reads borrow a connection of the pool each, from any thread.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
from tactful.storage.postgres import behavior_schema as layout
from tactful.storage.postgres import pending_records
from tactful.storage.postgres import signals as signal_state
from tactful.storage.postgres.connection import Connection, Database
from tactful.storage.postgres.errors import translated

NOTHING_TRACKED = Tracked()
# The rows of a batch keyed by subject id (signals.keyed); events in the batch's order
# (their ids are the order of writes), activity in key order (row locks in one order).
_INSERT_EVENTS = """
INSERT INTO events (subject_id, purpose, type, occurred_at_us, received_at_us, attributes)
SELECT r.s, r.purpose, r.type, r.at, %(received)s, r.attributes::jsonb
FROM unnest(%(s)s::bigint[], %(purpose)s::text[], %(type)s::text[], %(at)s::bigint[],
            %(attributes)s::text[]) WITH ORDINALITY AS r(s, purpose, type, at, attributes, n)
ORDER BY r.n
"""
_UPSERT_ACTIVITY = """
INSERT INTO purpose_activity (subject_id, purpose, first_seen_us, last_seen_us, event_count)
SELECT * FROM unnest(%(s)s::bigint[], %(purpose)s::text[], %(first)s::bigint[],
                     %(last)s::bigint[], %(n)s::bigint[]) AS r(s, purpose, first, last, n)
ORDER BY 1, 2
ON CONFLICT (subject_id, purpose) DO UPDATE SET
    first_seen_us = least(purpose_activity.first_seen_us, excluded.first_seen_us),
    last_seen_us = greatest(purpose_activity.last_seen_us, excluded.last_seen_us),
    event_count = purpose_activity.event_count + excluded.event_count
"""
_SUBJECT_IDS = "SELECT pseudonym, id FROM subjects WHERE pseudonym = ANY(%s::text[])"
_IDS = "(SELECT id FROM subjects WHERE pseudonym = ANY(%s::text[]))"
PENDING = "pending_records"  # the access records owed by batches and consent changes


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__}")


_to_json = json.JSONEncoder(separators=(",", ":"), default=_json_default, allow_nan=False).encode


@dataclass(frozen=True)
class EncodedEvents:
    """A batch as `PostgresBehaviorStore.encode` prepares it: each table's rows as
    columns, ready to bind as arrays."""

    events: dict[str, list[Any]]
    received_at_us: int
    activity: dict[str, list[Any]]
    signals: signal_state.EncodedSignals
    subjects: frozenset[str]  # every pseudonym the batch is about
    partitions: frozenset[tuple[str, int]]  # (purpose, day) of every event
    purposes: frozenset[str]


@translated
class PostgresBehaviorStore(pending_records.OwedRecordsTable):
    _pending_table = PENDING

    def __init__(self, db: Database, tracked: Tracked = NOTHING_TRACKED) -> None:
        """Open the store on `db` (which it owns); `tracked` names the attribute signals to
        maintain, built from the stored events if newly declared (once, whichever
        server opens first). SchemaMismatch unless `tactful db migrate` is current."""
        try:
            layout.SCHEMA.check(db)
            with db.transaction() as conn:
                self.state_changes = signal_state.track(conn, tracked)
        except BaseException:
            db.close()
            raise
        self._db = db
        self._tracked = tracked

    # -- behavior ---------------------------------------------------------------------

    def encode(self, events: Sequence[StoredEvent], *, received_at_us: int) -> EncodedEvents:
        """Everything about a batch that needs no database (any thread may do it)."""
        activity: dict[tuple[str, str], list[int]] = {}
        columns: dict[str, list[Any]] = {n: [] for n in ("p", "purpose", "type", "at")}
        attributes: list[str | None] = []
        for e in events:
            columns["p"].append(e.pseudonym)
            columns["purpose"].append(e.purpose)
            columns["type"].append(e.type)
            columns["at"].append(e.occurred_at_us)
            attributes.append(_to_json(e.attributes) if e.attributes else None)
            seen = activity.get((e.pseudonym, e.purpose))
            if seen is None:
                activity[(e.pseudonym, e.purpose)] = [e.occurred_at_us, e.occurred_at_us, 1]
            else:
                seen[0] = min(seen[0], e.occurred_at_us)
                seen[1] = max(seen[1], e.occurred_at_us)
                seen[2] += 1
        per_subject: dict[str, list[Any]] = {n: [] for n in ("p", "purpose", "first", "last", "n")}
        for (pseudonym, purpose), (first, last, n) in activity.items():
            for name, value in zip(per_subject, (pseudonym, purpose, first, last, n), strict=True):
                per_subject[name].append(value)
        return EncodedEvents(
            {**columns, "attributes": attributes},
            received_at_us,
            per_subject,
            signal_state.encode(self._tracked, events),
            frozenset(columns["p"]),
            frozenset((e.purpose, layout.day_of(e.occurred_at_us)) for e in events),
            frozenset(columns["purpose"]),
        )

    @contextmanager
    def writing(self) -> Iterator[PostgresBehaviorWrite]:
        """One transaction: consent and suppression read through it cannot change, by
        this server or another, before what is appended through it commits (the locks
        its reads take are held to the end). An exception inside rolls everything back.

        The connection is in pipeline mode (`Database.pipelined`): a batch takes three or
        four round trips, whatever its size."""
        with self._db.pipelined() as conn:
            yield PostgresBehaviorWrite(conn)

    def append(self, events: Sequence[StoredEvent], *, received_at_us: int) -> None:
        """Store events in a transaction of their own (no consent check)."""
        encoded = self.encode(events, received_at_us=received_at_us)
        with self.writing() as write:
            write.append(encoded, {e.pseudonym for e in events})

    def consent_and_activity(
        self, pseudonyms: Sequence[str], purpose: str
    ) -> tuple[bool, Activity | None]:
        """In one statement and one round trip (the GetSegments hot path)."""
        ids = list(pseudonyms)
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM consent WHERE pseudonym = ANY(%s::text[])"
                " AND purpose = %s AND granted), min(first_seen_us), max(last_seen_us),"
                f" sum(event_count) FROM purpose_activity WHERE subject_id IN {_IDS}"
                " AND purpose = %s",
                [ids, purpose, ids, purpose],
            ).fetchone()
        assert row is not None
        activity = None if row[1] is None else Activity(row[1], row[2], int(row[3]))
        return bool(row[0]), activity

    def signal_values(
        self, pseudonyms: Sequence[str], purpose: str, queries: Sequence[SignalQuery]
    ) -> list[Any]:
        """Every signal of `queries` in one statement."""
        if not queries:
            return []
        parts = [signal_state.scalar(self._tracked, pseudonyms, purpose, q) for q in queries]
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT " + ", ".join(sql for sql, _ in parts),
                [p for _, ps in parts for p in ps],
            ).fetchone()
        assert row is not None
        return [int(v) if q.kind != "last_value" else v for v, q in zip(row, queries, strict=True)]

    def census_source(self, *, on_writer: bool) -> _Census:
        """The census reads. Any thread may use it: each census borrows a connection of
        the pool (`on_writer` matters to SQLite's threads only)."""
        return _Census(self._db)

    def recent_events(
        self, pseudonyms: Sequence[str], purpose: str, since_us: int
    ) -> list[JourneyEvent]:
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT type, occurred_at_us, attributes FROM events"
                f" WHERE subject_id IN {_IDS} AND purpose = %s AND occurred_at_us > %s"
                " ORDER BY occurred_at_us DESC, id DESC LIMIT %s",
                [list(pseudonyms), purpose, since_us, RECENT_EVENTS_LIMIT],
            ).fetchall()
        return [JourneyEvent(t, at, a or {}) for t, at, a in rows]

    # -- consent ----------------------------------------------------------------------

    def is_granted(self, pseudonyms: Sequence[str], purpose: str) -> bool:
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT 1 FROM consent WHERE pseudonym = ANY(%s::text[]) AND purpose = %s"
                " AND granted LIMIT 1",
                [list(pseudonyms), purpose],
            ).fetchone()
        return row is not None

    def record_consent(
        self,
        change: ConsentChange,
        subject: Sequence[str],
        tombstones: Sequence[str],
        pending: PendingRecord | None = None,
    ) -> int:
        """Record a consent change; a withdrawal deletes what was collected under it, in
        the same transaction. It holds the person's stripes exclusively: a batch that has
        read their consent commits first, one that has not reads the new state."""
        with self._db.transaction() as conn:
            layout.lock(conn, layout.stripes(layout.TOMBSTONE, tombstones), shared=True)
            layout.lock(conn, layout.stripes(layout.SUBJECT, subject), shared=False)
            if _suppressed(conn, tombstones):
                raise SubjectSuppressed(
                    "this person was erased and asked not to be collected again;"
                    " no consent is recorded for them"
                )
            conn.execute(
                "INSERT INTO consent_history (pseudonym, purpose, granted, source,"
                " recorded_at_us) VALUES (%s, %s, %s, %s, %s)",
                (change.pseudonym, change.purpose, change.granted, change.source,
                 change.recorded_at_us),
            )  # fmt: skip
            # One current state per subject: drop states held under older key versions.
            conn.execute(
                "DELETE FROM consent WHERE pseudonym = ANY(%s::text[]) AND purpose = %s",
                [list(subject), change.purpose],
            )
            conn.execute(
                "INSERT INTO consent VALUES (%s, %s, %s, %s)",
                (change.pseudonym, change.purpose, change.granted, change.recorded_at_us),
            )
            if pending is not None:
                PostgresBehaviorWrite(conn).keep_pending_records([pending])
            if change.granted:
                return 0
            return _withdraw(conn, subject, change.purpose)

    def close(self) -> None:
        self._db.close()


def _withdraw(conn: Connection, subject: Sequence[str], purpose: str) -> int:
    ids = [i for (i,) in conn.execute(_IDS[1:-1], [list(subject)])]
    if not ids:
        return 0
    signal_state.forget(conn, ids, purpose)
    deleted = conn.execute(
        "DELETE FROM events WHERE subject_id = ANY(%s::bigint[]) AND purpose = %s",
        [ids, purpose],
    ).rowcount
    conn.execute(
        "DELETE FROM purpose_activity WHERE subject_id = ANY(%s::bigint[]) AND purpose = %s",
        [ids, purpose],
    )
    return deleted


def _suppressed(conn: Connection, tombstones: Sequence[str]) -> set[str]:
    """Those of `tombstones` recorded."""
    rows = conn.execute(
        "SELECT tombstone FROM suppression_tombstones WHERE tombstone = ANY(%s::text[])",
        [list(tombstones)],
    )
    return {r[0] for r in rows}


@translated
class PostgresBehaviorWrite:
    """What may be done inside `PostgresBehaviorStore.writing()`. Each read first takes
    the shared locks of what it reads, held until the transaction ends."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def suppressed(self, tombstones: Sequence[str]) -> set[str]:
        layout.lock(self._conn, layout.stripes(layout.TOMBSTONE, tombstones), shared=True)
        return _suppressed(self._conn, tombstones)

    def consenting(self, pseudonyms: Sequence[str], purpose: str) -> set[str]:
        layout.lock(self._conn, layout.stripes(layout.SUBJECT, pseudonyms), shared=True)
        rows = self._conn.execute(
            "SELECT pseudonym FROM consent WHERE pseudonym = ANY(%s::text[]) AND purpose = %s"
            " AND granted",
            [list(pseudonyms), purpose],
        )
        return {r[0] for r in rows}

    def append(self, batch: EncodedEvents, admitted: Collection[str]) -> None:
        """Store the events of `batch` about the `admitted` pseudonyms (and nobody else),
        with their activity and signal state: one statement per table, keyed by the
        subject ids looked up (or created) once."""
        if not admitted:
            return
        conn = self._conn
        people = sorted(admitted)
        # The partitions' purposes shared (a purge drops none of them meanwhile), the
        # people's stripes shared (an erasure or rekey of them waits for this commit).
        keys = [layout.purpose_key(p) for p in sorted(batch.purposes)]
        layout.lock(conn, keys + layout.stripes(layout.SUBJECT, people), shared=True)
        known = conn.execute(_SUBJECT_IDS, [people])  # read with the partitions' check
        layout.ensure_partitions(conn, batch.partitions)
        ids = _subject_ids(conn, people, dict(known.fetchall()))
        conn.execute(
            _INSERT_EVENTS,
            {"received": batch.received_at_us, **signal_state.keyed(batch.events, ids)},
        )
        conn.execute(_UPSERT_ACTIVITY, signal_state.keyed(batch.activity, ids))
        signal_state.append(conn, batch.signals, ids)

    def keep_pending_records(self, records: Sequence[PendingRecord]) -> None:
        pending_records.keep(self._conn, PENDING, records)

    def drop_pending_records(self, keys: Sequence[tuple[str, int]]) -> None:
        pending_records.drop_in(self._conn, PENDING, keys)


def _subject_ids(conn: Connection, people: list[str], known: dict[str, int]) -> dict[str, int]:
    """The subject id of each of `people` (sorted), given those `known`: the others
    created, in order (two batches creating the same people wait in one order). One that
    another batch creates meanwhile is read once that batch commits."""
    new = [p for p in people if p not in known]
    if new:
        conn.execute(
            "INSERT INTO subjects (pseudonym) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING",
            [new],
        )
        known.update(conn.execute(_SUBJECT_IDS, [new]).fetchall())
    return known


@translated
class _Census:
    def __init__(self, db: Database) -> None:
        self._db = db

    def census(self, purpose: str, wanted: Sequence[SignalQuery]) -> dict[str, dict[str, Any]]:
        """In one query per signal (for segment sizes), in one transaction."""
        with self._db.transaction() as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            people: dict[str, dict[str, Any]] = {
                pseudonym: {FIRST_SEEN: first, LAST_SEEN: last}
                for pseudonym, first, last in conn.execute(
                    "SELECT s.pseudonym, a.first_seen_us, a.last_seen_us FROM purpose_activity a"
                    " JOIN subjects s ON s.id = a.subject_id WHERE a.purpose = %s",
                    [purpose],
                )
            }
            for query in wanted:
                for pseudonym, value in signal_state.census(conn, purpose, query):
                    if pseudonym in people:
                        people[pseudonym][query.name] = value
        return people
