"""The access log on SQLite: its own file, `synchronous=FULL`, one writer thread.

Checkpoints go to the `checkpoints` table and, one JSON line each, to a file
outside the database (fsync'd), which verification treats as the authority.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import sqlite_utils

from tactful.privacy.access_log import (
    CANONICAL_FIELDS,
    GENESIS_HASH,
    AccessEntry,
    AccessLogBusy,
    AccessLogUnavailable,
    AccessQuery,
    AccessRecord,
    Checkpoint,
    CheckpointKind,
    StoredRow,
    Verification,
    decode,
    file_only_notice,
    record_key,
    record_keys,
    seal_record,
    sign_checkpoint,
)
from tactful.privacy.access_log_verify import (
    Truncation,
    anchor,
    check_chain,
    finish,
    truncations,
)
from tactful.privacy.keyring import Keys
from tactful.storage.sqlite.access_log_verify import check_in_two
from tactful.storage.sqlite.connection import connect, rows_param
from tactful.storage.sqlite.errors import translated
from tactful.timestamps import duration_us

migrations = sqlite_utils.Migrations("tactful.access_log")
PARALLEL_FROM = 200_000  # records; below this, starting two processes costs more than it saves
WAL_FOLD_BACK_FRAMES = 10_000  # pages (4 KiB) the WAL holds before a commit folds it back
SUBJECT_BUCKET_BITS = 12  # the subject index files records in buckets of 4,096 (m003)


# Query columns, derived from the hashed content so they cannot disagree, at their
# positions in the canonical array as m001 declared them (`subject` is the first subject;
# subject_records, m003, indexes every subject).
_GENERATED = {
    "time_us": ("INTEGER", 1),
    "principal": ("TEXT", 2),
    "method": ("TEXT", 4),
    "purpose": ("TEXT", 5),
    "subject": ("TEXT", 6),
    "decision": ("TEXT", 9),
}
assert all(CANONICAL_FIELDS[at] == name for name, (_, at) in _GENERATED.items())


@migrations()
def m001_records_and_checkpoints(db: sqlite_utils.Database) -> None:
    generated = ",\n".join(
        f"{name} {kind} GENERATED ALWAYS AS (json_extract(content, '$[{at}]')) VIRTUAL"
        for name, (kind, at) in _GENERATED.items()
    )
    db.execute(f"""
        CREATE TABLE records (
            sequence INTEGER PRIMARY KEY,
            content TEXT NOT NULL,
            previous_hash TEXT NOT NULL,
            record_hash TEXT NOT NULL,
            {generated})""")
    for column in ("time_us", "principal", "subject", "purpose"):
        db.execute(f"CREATE INDEX records_{column} ON records ({column}, sequence)")
    db.execute("CREATE TABLE checkpoints (id INTEGER PRIMARY KEY, line TEXT NOT NULL)")


@migrations()
def m002_every_subject_of_a_record(db: sqlite_utils.Database) -> None:
    """Version 2 records name every subject a call touched; the first is in the
    `subject` column, and this indexes the others (version 1 records have none)."""
    db.execute(
        "CREATE TABLE record_subjects (subject TEXT NOT NULL, sequence INTEGER NOT NULL,"
        " PRIMARY KEY (subject, sequence)) WITHOUT ROWID"
    )


@migrations()
def m003_subject_index_by_bucket(db: sqlite_utils.Database) -> None:
    """Every subject of a record, by an integer id, in an index led by the record's
    bucket of SUBJECT_BUCKET records: a batch's rows land on the few pages of the
    current bucket, not one page per person all over a file that grows (the soak's
    fall, docs/benchmarks-history.md). Replaces `record_subjects` and `records_subject`."""
    db.executescript(f"""
        CREATE TABLE subjects (id INTEGER PRIMARY KEY, pseudonym TEXT NOT NULL UNIQUE);
        CREATE TABLE subject_records (
            bucket INTEGER NOT NULL, subject_id INTEGER NOT NULL, sequence INTEGER NOT NULL,
            PRIMARY KEY (bucket, subject_id, sequence)) WITHOUT ROWID;
        INSERT OR IGNORE INTO subjects (pseudonym)
            SELECT subject FROM ({_SUBJECTS_OF_RECORDS}) ORDER BY sequence;
        INSERT OR IGNORE INTO subject_records
            SELECT r.sequence >> {SUBJECT_BUCKET_BITS}, s.id, r.sequence
            FROM ({_SUBJECTS_OF_RECORDS}) r JOIN subjects s ON s.pseudonym = r.subject
            ORDER BY 1, 2, 3;
        DROP TABLE record_subjects;
        DROP INDEX records_subject;
    """)


@migrations()
def m004_record_macs(db: sqlite_utils.Database) -> None:
    """The MAC of every record written from now on (privacy/access_log.py, version 3);
    "" for the records before."""
    db.execute("ALTER TABLE records ADD COLUMN mac TEXT NOT NULL DEFAULT ''")


# Every (subject, sequence) pair the records name, as their hashed content says it: the
# first subject ("" if none), then the others (version 1 records have only the first).
_SUBJECTS_OF_RECORDS = (
    "SELECT subject, sequence FROM records WHERE subject <> '' UNION ALL"
    " SELECT s.value, r.sequence FROM records r,"
    f" json_each(r.content, '$[{CANONICAL_FIELDS.index('other_subjects')}]') s"
)
# The same pairs as the subject index says them, with the bucket it files them under.
_SUBJECTS_OF_INDEX = (
    "SELECT x.bucket, s.pseudonym, x.sequence FROM subject_records x"
    " JOIN subjects s ON s.id = x.subject_id"
)
# Appending: the new pseudonyms of a batch, then every (subject, sequence) of it.
_NAME_SUBJECTS = (
    "INSERT OR IGNORE INTO subjects (pseudonym) SELECT value->>0 FROM json_each(?) WHERE true"
)
_INDEX_SUBJECTS = (
    f"INSERT OR IGNORE INTO subject_records SELECT j.value->>1 >> {SUBJECT_BUCKET_BITS},"
    " s.id, j.value->>1 FROM json_each(?) j JOIN subjects s ON s.pseudonym = j.value->>0"
    " ORDER BY 1, 2, 3"
)
# Records about any of a list of pseudonyms (json_each(?)) after a sequence (?, twice):
# one search per bucket, from the bucket of that sequence to the newest.
ABOUT_SUBJECTS = (
    "sequence IN (WITH RECURSIVE buckets (n) AS ("
    f" SELECT ? >> {SUBJECT_BUCKET_BITS} UNION ALL SELECT n + 1 FROM buckets"
    f" WHERE n < (SELECT max(sequence) FROM records) >> {SUBJECT_BUCKET_BITS}"
    "), ids (id) AS (SELECT id FROM subjects WHERE pseudonym IN (SELECT value FROM json_each(?)))"
    # CROSS JOIN keeps this order: each (bucket, subject id) is one search of the key.
    " SELECT x.sequence FROM buckets b CROSS JOIN ids"
    " CROSS JOIN subject_records x ON x.bucket = b.n AND x.subject_id = ids.id)"
)


@translated
class SqliteAccessLog:
    def __init__(
        self,
        path: Path,
        checkpoint_file: Path,
        keys: Keys,
        *,
        checkpoint_every: int = 1000,
        checkpoint_seconds: float = 60.0,
        lock_timeout_s: float = 2.0,
    ) -> None:
        self._path = path
        self._db = connect(path)
        self._db.execute("PRAGMA synchronous=FULL")
        # Fold the WAL back into the file every 40 MB, not SQLite's 4 MB. Once the log
        # has grown, each subject-index row of a record lands on a page of its own,
        # and a fold-back (inside a commit, on the serving thread) wrote almost every
        # page of a 1,000-frame WAL again. Over 10,000 frames the same pages recur and
        # go back once: pages written per record stay where a fresh log starts
        # (docs/benchmarks-history.md, "Soak").
        self._db.execute(f"PRAGMA wal_autocheckpoint={WAL_FOLD_BACK_FRAMES}")
        # How long a write waits for another process's write lock before failing closed.
        self._lock_timeout_ms = int(lock_timeout_s * 1000)
        self._db.execute(f"PRAGMA busy_timeout={self._lock_timeout_ms}")
        self._busy_timeout_ms = self._lock_timeout_ms  # as the connection has it now
        migrations.apply(self._db)
        self._reader = connect(path)
        self._file = checkpoint_file
        self._keys = keys
        self._every = checkpoint_every
        self._every_us = duration_us(timedelta(seconds=checkpoint_seconds))
        last = self._db.execute(
            "SELECT sequence, record_hash FROM records ORDER BY sequence DESC LIMIT 1"
        ).fetchone()
        head: tuple[int, str] = (last[0], last[1]) if last else self._anchor()
        self._sequence, self._hash = head
        signed = [c for c in self._readable_checkpoints() if c.kind is CheckpointKind.CHECKPOINT]
        last = max(signed, key=lambda c: c.sequence, default=None)
        self._checkpointed = last.sequence if last else self._anchor()[0]
        self._checkpointed_at = last.time_us if last else 0

    # -- writing (one thread) -----------------------------------------------------------

    def append(
        self, entries: Sequence[AccessEntry], *, now_us: int, lock_wait_s: float | None = None
    ) -> list[AccessRecord]:
        """Chain and commit `entries` in one durable transaction, or raise
        AccessLogUnavailable having written nothing: AccessLogBusy if another writer
        held the write lock for `lock_wait_s` (default: the lock timeout it was opened
        with; 0 does not wait at all).

        The fields the log is queried by may not hold NUL (ValueError): SQLite's JSON
        functions cut text at NUL, so the query columns would disagree with the record.
        """
        for entry in entries:
            if any(
                "\x00" in f for f in (entry.principal, entry.method, entry.purpose, *entry.subjects)
            ):
                raise ValueError("principal, method, purpose and subjects cannot hold NUL")
        conn = self._db.conn
        wait_ms = self._lock_timeout_ms if lock_wait_s is None else int(lock_wait_s * 1000)
        try:
            if wait_ms != self._busy_timeout_ms:  # a statement per commit saved
                conn.execute(f"PRAGMA busy_timeout={wait_ms}")
                self._busy_timeout_ms = wait_ms
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                    raise
                raise AccessLogBusy(f"another writer holds the access log's lock: {exc}") from exc
            with conn:
                # The head is read inside the write lock: a second writer (the retention
                # job, an erasure from the command line) may have appended meanwhile.
                head = conn.execute(
                    "SELECT sequence, record_hash FROM records ORDER BY sequence DESC LIMIT 1"
                ).fetchone()
                sequence, previous = head if head else self._anchor()
                key = record_key(self._keys)
                records = []
                for offset, entry in enumerate(entries, start=1):
                    record = seal_record(sequence + offset, entry, previous, key)
                    records.append(record)
                    previous = record.record_hash
                conn.executemany(
                    "INSERT INTO records (sequence, content, previous_hash, record_hash, mac)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [
                        (r.sequence, r.content, r.previous_hash, r.record_hash, r.mac)
                        for r in records
                    ],
                )
                named = [(s, r.sequence) for r in records for s in r.entry.subjects]
                if named:
                    conn.execute(
                        _NAME_SUBJECTS, [rows_param([[s] for s in sorted({s for s, _ in named})])]
                    )
                    conn.execute(_INDEX_SUBJECTS, [rows_param(named)])
        except AccessLogUnavailable:
            raise
        except Exception as exc:  # sqlite3 errors, OSError: disk full, read-only, locked
            raise AccessLogUnavailable(f"access log write failed: {exc}") from exc
        self._sequence, self._hash = records[-1].sequence, records[-1].record_hash
        if (
            self._sequence - self._checkpointed >= self._every
            or now_us - self._checkpointed_at >= self._every_us
        ):
            self.checkpoint(now_us=now_us)
        return records

    def checkpoint(self, *, now_us: int) -> Checkpoint | None:
        """Sign the head of the log, unless it is signed already (by this process or
        another writer). Decided under the write lock, so two writers never sign out
        of order."""

        def head_checkpoint(conn: sqlite3.Connection) -> Checkpoint | None:
            head = conn.execute(
                "SELECT sequence, record_hash FROM records ORDER BY sequence DESC LIMIT 1"
            ).fetchone()
            if head is None or head[0] <= _last_signed(conn):
                return None
            return sign_checkpoint(self._keys, CheckpointKind.CHECKPOINT, head[0], head[1], now_us)

        checkpoint = self._publish(head_checkpoint)
        if checkpoint is not None:
            self._checkpointed, self._checkpointed_at = checkpoint.sequence, now_us
        return checkpoint

    def truncate_before(self, cutoff_us: int, *, now_us: int) -> int:
        """Remove records older than `cutoff_us` behind a signed truncation checkpoint."""
        self.checkpoint(now_us=now_us)  # pin the head first: the cut may take every record
        first_kept = self._db.execute(
            "SELECT sequence, previous_hash FROM records WHERE time_us >= ?"
            " ORDER BY sequence LIMIT 1",
            [cutoff_us],
        ).fetchone()
        if first_kept is None:
            head = self._db.execute(
                "SELECT sequence, record_hash FROM records ORDER BY sequence DESC LIMIT 1"
            ).fetchone()
            if head is None:
                return 0
            first_kept = (head[0] + 1, head[1])
        sequence, chained_from = first_kept
        oldest = self._db.execute("SELECT min(sequence) FROM records").fetchone()[0]
        if oldest is None or oldest >= sequence:
            return 0
        truncation = sign_checkpoint(
            self._keys, CheckpointKind.TRUNCATION, sequence, chained_from, now_us
        )
        self._publish(lambda _conn: truncation)
        with self._db.conn:
            self._db.execute("BEGIN IMMEDIATE")
            deleted = self._db.execute(
                "DELETE FROM records WHERE sequence < ?", [sequence]
            ).rowcount
            self._db.execute(
                "DELETE FROM subject_records WHERE bucket <= ? AND sequence < ?",
                [sequence >> SUBJECT_BUCKET_BITS, sequence],
            )
            # Nobody is named in the log once their last record is gone.
            self._db.execute(
                "DELETE FROM subjects WHERE id NOT IN (SELECT subject_id FROM subject_records)"
            )
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(deleted)

    def _publish(
        self, make: Callable[[sqlite3.Connection], Checkpoint | None]
    ) -> Checkpoint | None:
        """Into the database and the file, or neither: the checkpoint is made under the
        write lock, and its database row waits, uncommitted, until the line is durably
        in the file."""
        conn = self._db.conn
        try:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                checkpoint = make(conn)
                if checkpoint is None:
                    return None
                line = checkpoint.to_json()
                conn.execute("INSERT INTO checkpoints (line) VALUES (?)", [line])
                self._file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd = os.open(self._file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, (line + "\n").encode())
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except Exception as exc:
            raise AccessLogUnavailable(f"checkpoint write failed: {exc}") from exc
        return checkpoint

    def _anchor(self) -> tuple[int, str]:
        """Where the chain starts: genesis, or the last truncation (an emptied log)."""
        truncations = [
            c for c in self._readable_checkpoints() if c.kind is CheckpointKind.TRUNCATION
        ]
        if truncations:
            return truncations[-1].sequence - 1, truncations[-1].record_hash
        return 0, GENESIS_HASH

    # -- reading --------------------------------------------------------------------------

    def checkpoints(self) -> list[Checkpoint]:
        """The checkpoints in the file outside the database (the authority)."""
        try:
            text = self._file.read_text()
        except FileNotFoundError:
            return []
        return [Checkpoint.from_json(line) for line in text.splitlines() if line.strip()]

    def _readable_checkpoints(self) -> list[Checkpoint]:
        """The checkpoints for the writer's own bookkeeping; a file that does not parse
        (torn by a crash, or altered) is left for `verify` to report."""
        try:
            return self.checkpoints()
        except (ValueError, KeyError, TypeError):
            return []

    def stored_rows(self) -> Iterator[list[StoredRow]]:
        """Every record, in batches, as verification reads it."""
        cursor = self._reader.conn.execute(
            "SELECT sequence, previous_hash, record_hash, content, mac FROM records"
            " ORDER BY sequence"
        )
        while batch := cursor.fetchmany(20_000):
            yield batch

    # -- following (the streaming export, privacy/access_log_export.py) --------------

    def chains(self) -> list[str]:
        """One chain, named "": a SQLite log has one writer."""
        return [""]

    def chain_rows(self, chain: str, *, after_sequence: int, limit: int) -> list[StoredRow]:
        """The chain's records after `after_sequence`, in order, as verification reads them."""
        rows = self._reader.conn.execute(
            "SELECT sequence, previous_hash, record_hash, content, mac FROM records"
            " WHERE sequence > ? ORDER BY sequence LIMIT ?",
            [after_sequence, limit],
        )
        return [(int(s), str(p), str(h), str(c), str(m)) for s, p, h, c, m in rows]

    def backlog(self, chain: str, *, after_sequence: int) -> tuple[int, int]:
        """How many records follow `after_sequence`, and the time of the first (0: none)."""
        count, first = self._reader.conn.execute(
            "SELECT count(*), min(time_us) FROM records WHERE sequence > ?", [after_sequence]
        ).fetchone()
        return int(count), int(first or 0)

    def signed_lines(self, *, after: int = 0) -> list[str]:
        """The signed checkpoint lines of the file outside the database, in order,
        after the first `after`."""
        return [c.to_json() for c in self.checkpoints()[after:]]

    def verify(self, *, files: Sequence[Path] = ()) -> Verification:
        """The chain and the signed checkpoints. One server signs this log and keeps
        one checkpoint file: other hosts' `files` have nothing to check (ValueError)."""
        if files:
            raise ValueError("a SQLite access log has one checkpoint file, its own")
        try:
            checkpoints = self.checkpoints()
        except (ValueError, KeyError, TypeError) as exc:
            return Verification(False, 0, 0, f"checkpoint file is unreadable: {exc}")
        in_db = Counter(row[0] for row in self._reader.conn.execute("SELECT line FROM checkpoints"))
        lines = [c.to_json() for c in checkpoints]
        in_file = Counter(lines)
        # A crash between the file's fsync and the database's commit leaves the newest
        # line(s) in the file only; the file is the authority, so that is not tampering.
        torn = in_file - in_db
        notices: tuple[str, ...] = ()
        if not in_db - in_file and list(torn.elements()) == lines[len(lines) - torn.total() :]:
            in_file = in_db
            if torn:  # or the newest rows were deleted: the file's lines still pin
                first = min(_sequence_of(line) for line in torn)
                notices = (file_only_notice(torn.total(), first),)
        if in_db != in_file:
            differing = list(((in_db - in_file) + (in_file - in_db)).elements())
            sequence = min(_sequence_of(line) for line in differing)
            return Verification(
                False,
                0,
                sequence,
                "the checkpoints in the database differ "
                f"from the checkpoint file (first at record {sequence})",
            )
        start = anchor(checkpoints, self._keys)
        if isinstance(start, Verification):
            return start
        bounds = self._reader.execute("SELECT min(sequence), max(sequence) FROM records")
        low, high = bounds.fetchone()
        macs = record_keys(self._keys)
        if high is None or high - low < PARALLEL_FROM:
            rows = self.stored_rows()
            check = check_chain(rows, start.sequence, start.previous_hash, start.pinned, macs)
        else:
            check = check_in_two(str(self._path), start, (low + high) // 2, macs)
        verdict = finish(start, check)
        if not verdict.intact:
            return verdict
        verdict = replace(verdict, notices=notices + verdict.notices)
        return self._check_subject_index(verdict)

    def _check_subject_index(self, intact: Verification) -> Verification:
        """The subject index must say exactly what the (verified) records say, each
        pair in its record's bucket: a row removed or misfiled would hide a record from
        a subject's queries and export, a pseudonym renamed would hand it to another."""
        conn = self._reader.conn
        of_records = (
            f"SELECT sequence >> {SUBJECT_BUCKET_BITS}, subject, sequence"
            f" FROM ({_SUBJECTS_OF_RECORDS})"
        )
        missing = conn.execute(
            f"SELECT min(sequence) FROM ({of_records} EXCEPT {_SUBJECTS_OF_INDEX})"
        ).fetchone()[0]
        extra = conn.execute(
            f"SELECT min(sequence) FROM ({_SUBJECTS_OF_INDEX} EXCEPT {of_records})"
        ).fetchone()[0]
        if missing is None and extra is None:
            return intact
        first = min(s for s in (missing, extra) if s is not None)
        return Verification(
            False,
            intact.records,
            first,
            f"the subject index disagrees with record {first}"
            " (queries by subject would miss or misattribute it)",
        )

    def unchecked_signers(self, files: Sequence[Path] = ()) -> list[str]:
        """None: the one signer's checkpoint file is the one `verify` reads."""
        return []

    def truncations(self) -> list[Truncation]:
        """What the signed truncation checkpoints removed (their signatures are checked
        by `verify`; report these only with an intact verdict)."""
        return truncations(self._readable_checkpoints())

    def query(
        self,
        query: AccessQuery,
        *,
        after_sequence: int = 0,
        limit: int = 100,
        before_sequence: int | None = None,
        newest_first: bool = False,
    ) -> list[AccessRecord]:
        clauses: list[str] = ["sequence > ?"]
        params: list[object] = [after_sequence]
        if before_sequence is not None:
            clauses.append("sequence < ?")
            params.append(before_sequence)
        for column, operator, value in query.conditions():
            clauses.append(f"{column} {operator} ?")
            params.append(value)
        if query.subjects:
            clauses.append(ABOUT_SUBJECTS)
            params.extend([after_sequence, json.dumps(list(query.subjects))])
        order = "DESC" if newest_first else ""
        rows = self._reader.conn.execute(
            "SELECT content, previous_hash, record_hash, mac FROM records"
            f" WHERE {' AND '.join(clauses)} ORDER BY sequence {order} LIMIT ?",
            [*params, limit],
        )
        return query.matches_subjects([_record(*row) for row in rows])

    def sequence_at(self, time_us: int) -> int:
        found = self._reader.conn.execute(  # one step down the (time_us, sequence) index
            "SELECT sequence FROM records WHERE time_us <= ?"
            " ORDER BY time_us DESC, sequence DESC LIMIT 1",
            [time_us],
        ).fetchone()
        return int(found[0]) if found else 0

    def close(self) -> None:
        self._reader.close()
        self._db.close()


def _last_signed(conn: sqlite3.Connection) -> int:
    """The sequence of the newest head checkpoint in the database's copy."""
    for (line,) in conn.execute("SELECT line FROM checkpoints ORDER BY id DESC"):
        try:
            checkpoint = Checkpoint.from_json(line)
        except (ValueError, KeyError, TypeError):
            continue
        if checkpoint.kind is CheckpointKind.CHECKPOINT:
            return checkpoint.sequence
    return 0


def _sequence_of(line: str) -> int:
    try:
        return Checkpoint.from_json(line).sequence
    except (ValueError, KeyError, TypeError):
        return 0


def _record(content: str, previous_hash: str, record_hash: str, mac: str) -> AccessRecord:
    sequence, entry = decode(content)
    return AccessRecord(sequence, entry, previous_hash, record_hash, content, mac)
