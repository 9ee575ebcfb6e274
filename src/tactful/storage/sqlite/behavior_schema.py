"""The behavior store's schema on SQLite, as the migrations that built it.

The store (storage/sqlite/behavior.py), the signal state (storage/sqlite/signals.py)
and the whole-subject operations (storage/sqlite/subjects.py) all open the file
through `migrations`, so whichever opens it first brings it up to date.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlite_utils

from tactful.storage.sqlite import pending_records

# The integer ids of a subject's pseudonyms (one per live key version), for IN (...).
SUBJECT_IDS = "SELECT id FROM subjects WHERE pseudonym IN ({})"


def placeholders(values: Sequence[object]) -> str:
    """`?, ?, ?` for binding `values` in an IN (...) list."""
    return ",".join("?" * len(values))


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


@migrations()
def m002_activity_per_purpose_and_consent(db: sqlite_utils.Database) -> None:
    # Data collected for one purpose is read back for that purpose only.
    db.table("subject_activity").drop()
    db.table("purpose_activity").create(
        {
            "pseudonym": str,
            "purpose": str,
            "first_seen_us": int,
            "last_seen_us": int,
            "event_count": int,
        },
        pk=("pseudonym", "purpose"),
    )
    db.execute(
        "INSERT INTO purpose_activity SELECT pseudonym, purpose, min(occurred_at_us),"
        " max(occurred_at_us), count(*) FROM events GROUP BY pseudonym, purpose"
    )
    db.table("events").create_index(["pseudonym", "purpose", "type", "occurred_at_us"])
    db.table("consent").create(
        {"pseudonym": str, "purpose": str, "granted": int, "updated_at_us": int},
        pk=("pseudonym", "purpose"),
    )
    db.table("consent_history").create(
        {
            "id": int,
            "pseudonym": str,
            "purpose": str,
            "granted": int,
            "source": str,
            "recorded_at_us": int,
        },
        pk="id",
    )
    db.table("consent_history").create_index(["pseudonym"])


@migrations()
def m003_integer_subject_ids(db: sqlite_utils.Database) -> None:
    # Events key on a small integer instead of the 79-character pseudonym: index pages
    # hold several times more entries, which more than doubles ingest throughput.
    db.executescript("""
        CREATE TABLE subjects (id INTEGER PRIMARY KEY, pseudonym TEXT NOT NULL UNIQUE);
        INSERT INTO subjects (pseudonym) SELECT DISTINCT pseudonym FROM events;
        CREATE TABLE events_v3 (
            id INTEGER PRIMARY KEY, subject_id INTEGER NOT NULL, purpose TEXT NOT NULL,
            type TEXT NOT NULL, occurred_at_us INTEGER NOT NULL,
            received_at_us INTEGER NOT NULL, attributes TEXT);
        INSERT INTO events_v3 SELECT e.id, s.id, e.purpose, e.type, e.occurred_at_us,
            e.received_at_us, e.attributes FROM events e JOIN subjects s USING (pseudonym);
        DROP TABLE events;
        ALTER TABLE events_v3 RENAME TO events;
        CREATE INDEX events_subject ON events (subject_id, purpose, type, occurred_at_us);
        CREATE INDEX events_purpose_time ON events (purpose, occurred_at_us);
    """)


@migrations()
def m004_suppression(db: sqlite_utils.Database) -> None:
    # A keyed tombstone: the pseudonym of an erased person who asked never to be
    # collected again. It names nobody without the keyring.
    db.execute("CREATE TABLE suppressed (pseudonym TEXT PRIMARY KEY, recorded_at_us INTEGER)")


@migrations()
def m005_signal_state(db: sqlite_utils.Database) -> None:
    # Signals maintained at ingest (storage/sqlite/signals.py): a read no longer
    # grows with the subject's history. Hourly counts are built here from the events
    # already stored; tracked attribute pairs are built when the store opens.
    db.executescript("""
        CREATE TABLE signal_counts (
            subject_id INTEGER NOT NULL, purpose TEXT NOT NULL, type TEXT NOT NULL,
            hour INTEGER NOT NULL, n INTEGER NOT NULL,
            PRIMARY KEY (subject_id, purpose, type, hour)) WITHOUT ROWID;
        CREATE TABLE signal_last (
            subject_id INTEGER NOT NULL, purpose TEXT NOT NULL, type TEXT NOT NULL,
            attribute TEXT NOT NULL, value ANY, at_us INTEGER NOT NULL,
            PRIMARY KEY (subject_id, purpose, type, attribute)) WITHOUT ROWID;
        CREATE TABLE signal_distinct (
            subject_id INTEGER NOT NULL, purpose TEXT NOT NULL, type TEXT NOT NULL,
            attribute TEXT NOT NULL, value ANY NOT NULL, last_at_us INTEGER NOT NULL,
            PRIMARY KEY (subject_id, purpose, type, attribute, value)) WITHOUT ROWID;
        CREATE TABLE signal_tracking (
            kind TEXT NOT NULL, type TEXT NOT NULL, attribute TEXT NOT NULL,
            PRIMARY KEY (kind, type, attribute)) WITHOUT ROWID;
        INSERT INTO signal_counts
            SELECT subject_id, purpose, type, occurred_at_us / 3600000000, count(*)
            FROM events GROUP BY 1, 2, 3, 4;
    """)


@migrations()
def m006_subject_index_by_time(db: sqlite_utils.Database) -> None:
    # With counts, latest and distinct values kept in the signal state, the per-subject
    # index serves the journey (the newest events of any type: LIMIT 50 is now 50 index
    # steps, not a sort of the window), the partial hour of a count, first-seen after a
    # purge, export and erasure. Same size, same cost at ingest.
    db.executescript("""
        DROP INDEX events_subject;
        CREATE INDEX events_subject ON events (subject_id, purpose, occurred_at_us);
    """)


@migrations()
def m007_activity_by_subject_id(db: sqlite_utils.Database) -> None:
    # Activity keyed by the integer subject id, like everything else derived from the
    # events: a batch touched almost every page of the pseudonym-keyed table (79-byte
    # keys), and every touched page is a WAL frame at commit.
    db.executescript("""
        CREATE TABLE activity_v7 (
            subject_id INTEGER NOT NULL, purpose TEXT NOT NULL,
            first_seen_us INTEGER NOT NULL, last_seen_us INTEGER NOT NULL,
            event_count INTEGER NOT NULL,
            PRIMARY KEY (subject_id, purpose)) WITHOUT ROWID;
        INSERT INTO activity_v7 SELECT s.id, a.purpose, a.first_seen_us, a.last_seen_us,
            a.event_count FROM purpose_activity a JOIN subjects s USING (pseudonym);
        DROP TABLE purpose_activity;
        ALTER TABLE activity_v7 RENAME TO purpose_activity;
    """)


@migrations()
def m008_consent_clustered(db: sqlite_utils.Database) -> None:
    # Consent is looked up by (pseudonym, purpose) for every subject of every batch: a
    # WITHOUT ROWID table answers from its key in one search, instead of an index
    # search and then a table search.
    db.executescript("""
        CREATE TABLE consent_v8 (
            pseudonym TEXT NOT NULL, purpose TEXT NOT NULL, granted INTEGER,
            updated_at_us INTEGER, PRIMARY KEY (pseudonym, purpose)) WITHOUT ROWID;
        INSERT INTO consent_v8 SELECT pseudonym, purpose, granted, updated_at_us FROM consent;
        DROP TABLE consent;
        ALTER TABLE consent_v8 RENAME TO consent;
    """)


@migrations()
def m009_suppression_tombstones(db: sqlite_utils.Database) -> None:
    # Tombstones keyed under the keyring's suppression key (privacy/suppression.py), not
    # the person's pseudonym: they survive the rotation and retirement of pseudonym keys,
    # and are no behavior row keyed by a pseudonym version. The old `suppressed` rows
    # are moved here, under a copy of their key, when the domain opens (they need the
    # keyring, which a migration does not have).
    db.execute(
        "CREATE TABLE suppression_tombstones (tombstone TEXT PRIMARY KEY,"
        " recorded_at_us INTEGER NOT NULL) WITHOUT ROWID"
    )


@migrations()
def m010_pending_records(db: sqlite_utils.Database) -> None:
    # The access records owed to the calls whose data a transaction stores, kept in that
    # transaction (privacy/pending_records.py); the table as the other stores keep it.
    db.execute(pending_records.CREATE_TABLE)


@migrations()
def m011_journey_memory(db: sqlite_utils.Database) -> None:
    # What the journey engine offered a person and what became of it (journeys/memory.py):
    # behaviour data, keyed by pseudonym like consent, so erasure, export, retention and
    # rekeying reach it. `recall` reads a person's journey from a time on; the budget,
    # a journey's compensations from a time on, over everyone.
    db.executescript("""
        CREATE TABLE journey_memory (
            decision_id TEXT PRIMARY KEY, pseudonym TEXT NOT NULL, purpose TEXT NOT NULL,
            journey TEXT NOT NULL, action TEXT NOT NULL, kind TEXT NOT NULL,
            rung TEXT NOT NULL, playbook_version INTEGER NOT NULL,
            offered_at_us INTEGER NOT NULL, result TEXT NOT NULL, amount REAL NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX journey_memory_recall ON journey_memory (pseudonym, journey, offered_at_us);
        CREATE INDEX journey_memory_spent ON journey_memory (journey, offered_at_us);
        CREATE INDEX journey_memory_purpose ON journey_memory (purpose, offered_at_us);
    """)


@migrations()
def m012_journey_arm(db: sqlite_utils.Database) -> None:
    # Which arm each decision was made in (treatment or a holdout), for the scorecard.
    db.execute("ALTER TABLE journey_memory ADD COLUMN arm TEXT NOT NULL DEFAULT 'treatment'")


@migrations()
def m013_journey_outcomes(db: sqlite_utils.Database) -> None:
    # What happened after a journey decision (journeys/outcomes.py), one row per
    # RecordOutcome call: behaviour data keyed by pseudonym like the journey memory, so
    # erasure, export, retention and rekeying reach it. The scorecard joins a journey's
    # decisions to theirs by decision id; the purge reads a purpose's oldest.
    db.executescript("""
        CREATE TABLE journey_outcomes (
            id INTEGER PRIMARY KEY, decision_id TEXT NOT NULL, pseudonym TEXT NOT NULL,
            purpose TEXT NOT NULL, journey TEXT NOT NULL, recorded_at_us INTEGER NOT NULL,
            resolved INTEGER, contained INTEGER, handed_off INTEGER, reopened INTEGER,
            abandoned INTEGER, converted INTEGER, complaint INTEGER, recovered_amount REAL,
            effort INTEGER, time_to_resolution_s REAL, handle_time_s REAL, agent_verdict TEXT
        );
        CREATE INDEX journey_outcomes_decision ON journey_outcomes (decision_id, recorded_at_us);
        CREATE INDEX journey_outcomes_pseudonym ON journey_outcomes (pseudonym);
        CREATE INDEX journey_outcomes_purpose ON journey_outcomes (purpose, recorded_at_us);
    """)
