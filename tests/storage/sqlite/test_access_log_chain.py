"""The access log on SQLite: what only this engine has, beside the contract suite.

The corruption table itself is engine-free and lives in
tests/storage/contract/test_contract_access_log.py; here it runs again through SQLite's
verification in two processes (storage/sqlite/access_log_verify.py), with the ways
SQLite's own subject index can be tampered with, and the log's behaviour as a
`SqliteAccessLog`: reopening, a failed checkpoint, group commit, round trips, NUL,
records of version 1 and the migrations of the subject index.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tactful.privacy.access_log import (
    GENESIS_HASH,
    AccessEntry,
    AccessLogUnavailable,
    AccessQuery,
    AccessRecord,
    Decided,
    RequestIdOrigin,
    Verification,
    chain_hash,
    seal_record,
    unauthenticated_notice,
)
from tactful.privacy.access_log_writer import GroupCommitter
from tactful.privacy.keyring import KeySet, create_keyring
from tactful.storage.sqlite import access_log as access_log_store
from tactful.storage.sqlite.access_log import SqliteAccessLog
from tests.conftest import T0
from tests.storage.contract.test_contract_access_log import (
    AFTER_TRUNCATION,
    EVERY,
    METHODS,
    NEVER_BY_TIME,
    PINNED,
    RECORD_CORRUPTIONS,
    RECORDS,
    SECOND,
    SUBJECT_INDEX,
    T0_US,
    Corruption,
    Log,
    entry,
    truncated,
    written_log,
)
from tests.storage.engines import SqliteEngine


@dataclass(frozen=True)
class LogFiles:
    database: Path
    checkpoints: Path
    keys: KeySet

    def open(self) -> SqliteAccessLog:
        return SqliteAccessLog(
            self.database,
            self.checkpoints,
            self.keys,
            checkpoint_every=EVERY,
            checkpoint_seconds=NEVER_BY_TIME,
        )

    def verify(self) -> Verification:
        """Verify with a fresh instance, as `tactful audit verify` would."""
        with opened(self) as log:
            return log.verify()

    def lines(self) -> list[str]:
        return self.checkpoints.read_text().splitlines()

    def write_lines(self, lines: list[str]) -> None:
        self.checkpoints.write_text("".join(line + "\n" for line in lines))

    @contextmanager
    def sql(self) -> Iterator[sqlite3.Connection]:
        """The database as an attacker holding the file sees it; commits on exit."""
        with closing(sqlite3.connect(self.database)) as conn, conn:
            yield conn


@contextmanager
def opened(files: LogFiles) -> Iterator[SqliteAccessLog]:
    log = files.open()
    try:
        yield log
    finally:
        log.close()


def append_each(log: SqliteAccessLog, numbers: range) -> list[AccessRecord]:
    """Append one record per call, as a quiet server would."""
    return [log.append([entry(i)], now_us=T0_US + i * SECOND)[0] for i in numbers]


@pytest.fixture
def files(tmp_path: Path) -> LogFiles:
    """A closed log of RECORDS records, checkpointed at PINNED."""
    keys = create_keyring(tmp_path / "keyring.json", now=T0).signing
    written = LogFiles(tmp_path / "access_log.db", tmp_path / "access-log.checkpoints", keys)
    with opened(written) as log:
        append_each(log, range(1, RECORDS + 1))
    return written


# -- records from before MACs --------------------------------------------------------------


@pytest.mark.parametrize("parallel_from", [access_log_store.PARALLEL_FROM, 1])
def test_records_written_before_macs_verify_and_are_reported_as_unauthenticated(
    files: LogFiles, monkeypatch: pytest.MonkeyPatch, parallel_from: int
) -> None:
    """A log whose first records were written by a Tactful that knew no MACs: they
    verify by chain and checkpoints, and verification says how many carry none; a
    record without one after the first with one is a forgery, in one process or two."""
    files.database.unlink()
    files.checkpoints.unlink()
    with monkeypatch.context() as before_macs:
        before_macs.setattr(access_log_store, "record_key", lambda keys: None)
        with opened(files) as log:
            append_each(log, range(1, 17))
    with opened(files) as log:
        append_each(log, range(17, RECORDS + 1))
    monkeypatch.setattr(access_log_store, "PARALLEL_FROM", parallel_from)
    result = files.verify()
    assert (result.intact, result.records) == (True, RECORDS), result.problem
    assert result.notices == (unauthenticated_notice(16, 1, 16),)
    with files.sql() as conn:
        previous = conn.execute("SELECT record_hash FROM records WHERE sequence = 32").fetchone()
        forged = seal_record(33, entry(33), previous[0])  # as the old Tactful wrote them
        conn.execute(
            "INSERT INTO records (sequence, content, previous_hash, record_hash)"
            " VALUES (?, ?, ?, ?)",
            [33, forged.content, forged.previous_hash, forged.record_hash],
        )
    result = files.verify()
    assert (result.intact, result.first_bad_sequence) == (False, 33), result.problem
    assert "carries no MAC" in result.problem


# -- the corruption table in two processes, and SQLite's own subject index ----------------


@pytest.fixture
def log(tmp_path: Path) -> Log:
    """The contract suite's log of RECORDS records, on SQLite."""
    return written_log(SqliteEngine(), tmp_path)


@pytest.mark.parametrize(
    ("corrupt", "first_bad", "problem"),
    RECORD_CORRUPTIONS,
    ids=[c[0].__name__ for c in RECORD_CORRUPTIONS],
)
def test_verification_in_two_processes_catches_the_same(
    log: Log, corrupt: Corruption, first_bad: int, problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large logs are checked in two halves at once (storage/sqlite/access_log_verify.py);
    force that path on this small one, over the contract suite's table."""
    monkeypatch.setattr(access_log_store, "PARALLEL_FROM", 1)
    appended = corrupt(log)
    result = log.verify()
    assert not result.intact
    assert problem in result.problem
    assert result.first_bad_sequence == (first_bad or appended), result.problem


def test_an_untouched_log_verifies_in_two_processes(
    log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(access_log_store, "PARALLEL_FROM", 1)
    assert log.verify() == Verification(True, RECORDS)


@pytest.mark.parametrize(
    ("corrupt", "first_bad"), AFTER_TRUNCATION, ids=[c[0].__name__ for c in AFTER_TRUNCATION]
)
def test_a_corruption_after_truncation_is_caught_in_two_processes(
    log: Log, corrupt: Corruption, first_bad: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(access_log_store, "PARALLEL_FROM", 1)
    corrupt(truncated(log))
    result = log.verify()
    assert not result.intact
    assert result.first_bad_sequence == first_bad, result.problem


def misfile_a_subject_row_in_another_bucket(conn: sqlite3.Connection) -> None:
    """Record 14's second subject moved to bucket 1: a search of the buckets from that
    of a later sequence (the next page of a subject's query) would miss it."""
    moved = conn.execute(
        "UPDATE subject_records SET bucket = 1 WHERE sequence = 14 AND subject_id ="
        " (SELECT id FROM subjects WHERE pseudonym = ?)",
        [f"hmac-sha256:v1:{15:064x}"],
    ).rowcount
    assert moved == 1


def rename_a_subject(conn: sqlite3.Connection) -> None:
    """Whoever is named in record 12 (and only there) becomes someone else."""
    renamed = conn.execute(
        "UPDATE subjects SET pseudonym = ? WHERE pseudonym = ?",
        [f"hmac-sha256:v1:{999:064x}", f"hmac-sha256:v1:{12:064x}"],
    ).rowcount
    assert renamed == 1


def drop_the_first_subject_of_a_record(conn: sqlite3.Connection) -> None:
    deleted = conn.execute("DELETE FROM subject_records WHERE sequence = 13").rowcount
    assert deleted == 1


@pytest.mark.parametrize(
    ("corrupt", "first_bad"),
    [
        (misfile_a_subject_row_in_another_bucket, 14),
        (rename_a_subject, 12),
        (drop_the_first_subject_of_a_record, 13),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
def test_a_tampered_subject_index_is_caught(
    log: Log, corrupt: Callable[[sqlite3.Connection], None], first_bad: int
) -> None:
    """How SQLite keeps the subject index (an integer id per pseudonym, rows filed by the
    bucket of their record) can be tampered with in ways of its own."""
    with closing(sqlite3.connect(log.settings.data_dir / "access_log.db")) as conn, conn:
        corrupt(conn)
    result = log.verify()
    assert not result.intact
    assert SUBJECT_INDEX in result.problem
    assert result.first_bad_sequence == first_bad, result.problem


def test_truncating_everything_leaves_an_empty_log_that_continues(files: LogFiles) -> None:
    with opened(files) as log:
        last_hash = log.query(AccessQuery(), after_sequence=RECORDS - 1)[0].record_hash
        assert log.truncate_before(T0_US + 10_000 * SECOND, now_us=T0_US + 100 * SECOND) == 32
        assert log.verify() == Verification(True, 0)
    with opened(files) as log:
        (record,) = log.append([entry(40)], now_us=T0_US + 101 * SECOND)
        assert (record.sequence, record.previous_hash) == (RECORDS + 1, last_hash)
        assert log.verify() == Verification(True, 1)


# -- reopening ----------------------------------------------------------------------------


def test_reopening_continues_the_chain(files: LogFiles) -> None:
    with opened(files) as log:
        head = log.query(AccessQuery(), after_sequence=RECORDS - 1)[0]
    with opened(files) as log:
        more = append_each(log, range(RECORDS + 1, RECORDS + 9))
        assert [r.sequence for r in more] == list(range(RECORDS + 1, RECORDS + 9))
        assert more[0].previous_hash == head.record_hash
        # Counted on from the last checkpoint (30), not from the reopening.
        assert [c.sequence for c in log.checkpoints()] == [*PINNED, 35, 40]
        assert log.verify() == Verification(True, RECORDS + 8)
    assert files.verify().intact


@pytest.mark.parametrize("kept_from", [20, 10_000], ids=["some_kept", "all_removed"])
def test_reopening_after_truncation_then_closing_keeps_the_log_verifiable(
    files: LogFiles, kept_from: int
) -> None:
    """A restart after `tactful audit truncate`, then a stop with no traffic in between.

    The head (35) was already checkpointed; closing must not sign it a second time."""
    with opened(files) as log:
        append_each(log, range(RECORDS + 1, 36))
        assert log.checkpoints()[-1].sequence == 35
        log.truncate_before(T0_US + kept_from * SECOND, now_us=T0_US + 40 * SECOND)
    assert files.verify().intact
    with opened(files) as log:
        GroupCommitter(log, lambda: T0_US + 50 * SECOND).close()  # the server's last words
        result = log.verify()
    assert result.intact, result.problem


def test_a_failed_checkpoint_does_not_leave_the_log_unverifiable(files: LogFiles) -> None:
    """A checkpoint that fails half-way (the file written, the database busy or full)
    must not turn into a permanent tamper alarm once the fault is gone."""
    with opened(files) as log:
        log.append([entry(RECORDS + 1)], now_us=T0_US)
        log._db.execute("PRAGMA query_only=ON")  # the database refuses writes for a moment
        with pytest.raises(AccessLogUnavailable):
            log.checkpoint(now_us=T0_US + 100 * SECOND)
        log._db.execute("PRAGMA query_only=OFF")
        log.checkpoint(now_us=T0_US + 101 * SECOND)
    result = files.verify()
    assert result.intact, result.problem


# -- group commit -------------------------------------------------------------------------


class CountingLog:
    """The real log, with the size of every batch it was asked to append."""

    def __init__(self, log: SqliteAccessLog) -> None:
        self.log = log
        self.batches: list[int] = []

    def append(
        self, entries: Sequence[AccessEntry], *, now_us: int, lock_wait_s: float | None = None
    ) -> list[AccessRecord]:
        self.batches.append(len(entries))
        return self.log.append(entries, now_us=now_us, lock_wait_s=lock_wait_s)

    def checkpoint(self, *, now_us: int) -> object:
        return self.log.checkpoint(now_us=now_us)


def test_concurrent_submitters_get_distinct_consecutive_sequences(files: LogFiles) -> None:
    """Eight concurrent callers (RPC handlers on the server's loop), fifty records each."""
    callers, each = 8, 50

    async def run(committer: GroupCommitter) -> list[list[AccessRecord]]:
        async def caller(n: int) -> list[AccessRecord]:
            return [await committer.submit(entry(n * 1000 + i)) for i in range(each)]

        try:
            return await asyncio.gather(*(caller(n) for n in range(callers)))
        finally:
            committer.close()

    with opened(files) as log:
        counting = CountingLog(log)
        results = asyncio.run(run(GroupCommitter(counting, lambda: T0_US, window_s=0.001)))
        result = log.verify()
        stored = {r.sequence: r.entry for r in log.query(AccessQuery(), limit=1000)}
    sequences = sorted(r.sequence for records in results for r in records)
    assert sequences == list(range(RECORDS + 1, RECORDS + 1 + callers * each))
    for n, records in enumerate(results):
        assert [r.entry for r in records] == [entry(n * 1000 + i) for i in range(each)]
        assert all(stored[r.sequence] == r.entry for r in records)
    assert result == Verification(True, RECORDS + callers * each)
    assert max(counting.batches) > 1 and sum(counting.batches) == callers * each  # grouped


class FailingLog:
    """Every append raises `error` until `recover` is set."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.recover = False
        self.batches: list[int] = []

    def append(
        self, entries: Sequence[AccessEntry], *, now_us: int, lock_wait_s: float | None = None
    ) -> list[AccessRecord]:
        self.batches.append(len(entries))
        if not self.recover:
            raise self.error
        return [seal_record(i, e, GENESIS_HASH) for i, e in enumerate(entries, start=1)]

    def checkpoint(self, *, now_us: int) -> None:
        raise AccessLogUnavailable("cannot sign either")


@pytest.mark.parametrize(
    "error",
    [
        AccessLogUnavailable("disk full"),
        sqlite3.OperationalError("attempt to write a readonly database"),
        RuntimeError("a bug in the writer"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_a_failing_append_answers_every_waiting_future(error: Exception) -> None:
    log = FailingLog(error)

    async def run() -> tuple[list[BaseException | None], list[AccessRecord]]:
        committer = GroupCommitter(log, lambda: T0_US, window_s=0.05)
        first = committer.submit(entry(1))
        await asyncio.wait([first])
        # Within the window after a commit: these wait for the next one, together.
        waiting = [committer.submit(entry(i)) for i in range(2, 11)]
        await asyncio.wait(waiting)
        log.recover = True
        after = [committer.submit(entry(i)) for i in range(11, 14)]
        recovered = await asyncio.gather(*after)
        committer.close()  # the failing checkpoint is not an error on the way out
        return [f.exception() for f in (first, *waiting)], recovered

    failures, recovered = asyncio.run(run())
    assert all(isinstance(failure, AccessLogUnavailable) for failure in failures), failures
    assert log.batches == [1, 9, 3]
    assert [r.entry for r in recovered] == [entry(i) for i in range(11, 14)]


# -- round trip ---------------------------------------------------------------------------

texts = st.text(max_size=30)
# The fields the log is queried by cannot hold NUL (the store refuses it; the edge never
# records client text there), so they draw from text without it.
indexed = st.text(
    st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=30
)
NASTY = "\"\\\x00\x1f\x7f\u2028\u2029\ufeff😀👩‍👩‍👧 «»\n\t'; DROP TABLE records;--"
NASTY_INDEXED = NASTY.replace("\x00", "")
entries = st.builds(
    AccessEntry,
    time_us=st.integers(min_value=0, max_value=2**62),
    principal=indexed,
    role=texts,
    method=indexed,
    purpose=indexed,
    subjects=st.lists(indexed.filter(bool), max_size=3, unique=True).map(tuple),
    requested=st.lists(texts, max_size=4).map(tuple),
    released=st.lists(texts, max_size=4).map(tuple),
    decision=st.sampled_from(Decided),
    status=texts,
    reason=texts,
    request_id=texts,
    latency_us=st.integers(min_value=0, max_value=2**63 - 1),
    request_id_origin=st.sampled_from(RequestIdOrigin),
    authenticated_by=st.sampled_from(["", "token", "certificate", "certificate+token"]),
    certificate_sha256=st.text("0123456789abcdef", max_size=64),
)


@contextmanager
def fresh_log(tmp_path: Path) -> Iterator[SqliteAccessLog]:
    keys = create_keyring(tmp_path / "keyring.json", now=T0).signing
    log = SqliteAccessLog(
        tmp_path / "access_log.db", tmp_path / "checkpoints", keys, checkpoint_every=7
    )
    try:
        yield log
    finally:
        log.close()


PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def test_any_entry_round_trips_through_the_store_and_verifies(tmp_path: Path) -> None:
    with fresh_log(tmp_path) as log:

        @PROPERTY_SETTINGS
        @given(batch=st.lists(entries, min_size=1, max_size=4))
        @example(batch=[dataclasses.replace(entry(1), principal=NASTY_INDEXED, reason=NASTY)])
        @example(
            batch=[dataclasses.replace(entry(2), subjects=(NASTY_INDEXED,), requested=(NASTY, ""))]
        )
        def round_trip(batch: list[AccessEntry]) -> None:
            records = log.append(batch, now_us=T0_US)
            after = records[0].sequence - 1
            stored = log.query(AccessQuery(), after_sequence=after, limit=len(batch) + 1)
            assert stored == records  # entries, hashes and canonical content alike
            assert [json.loads(r.content)[0] for r in stored] == [r.sequence for r in records]

        round_trip()
        result = log.verify()
        assert result.intact, result.problem
        assert result.records == len(log.query(AccessQuery(), limit=1000))


def test_any_entry_is_found_by_its_own_field_values(tmp_path: Path) -> None:
    """The query columns are generated from the hashed content, so a filter on a record's
    own values finds it, whatever characters they hold."""
    with fresh_log(tmp_path) as log:

        @PROPERTY_SETTINGS
        @given(wanted=entries)
        @example(
            wanted=dataclasses.replace(
                entry(4), principal=NASTY_INDEXED, subjects=(NASTY_INDEXED, "hmac-sha256:v1:0")
            )
        )
        def found_by_fields(wanted: AccessEntry) -> None:
            (record,) = log.append([wanted], now_us=T0_US)
            # By each of the subjects it names, as a subject's export looks for it.
            for subject in wanted.subjects or ("",):
                by_fields = AccessQuery(
                    since_us=wanted.time_us,
                    until_us=wanted.time_us + 1,
                    principal=wanted.principal,
                    purpose=wanted.purpose,
                    method=wanted.method,
                    decision=str(wanted.decision),
                    subjects=(subject,) if subject else (),
                )
                found = log.query(by_fields, after_sequence=record.sequence - 1)
                assert [r.sequence for r in found] == [record.sequence]

        found_by_fields()


def test_a_query_field_holding_nul_is_refused(tmp_path: Path) -> None:
    """SQLite's JSON functions cut text at NUL, so a purpose "support_triage\\0forged"
    would show up under support_triage: the store refuses it and writes nothing."""
    with fresh_log(tmp_path) as log:
        for field in ("principal", "method", "purpose", "subjects"):
            value = "support_triage\x00forged"
            forged = dataclasses.replace(
                entry(1), **{field: (value,) if field == "subjects" else value}
            )
            with pytest.raises(ValueError, match="NUL"):
                log.append([entry(2), forged], now_us=0)
        assert log.query(AccessQuery()) == []


# -- records written before every subject was named ---------------------------------------


def version_1_content(sequence: int, subject: str) -> str:
    """A record as Tactful wrote it before version 2: one subject, as a string."""
    return json.dumps(
        [sequence, T0_US + sequence, "web_frontend", "frontend", METHODS[0], "onboarding",
         subject, [], ["new_visitor"], "allowed", "OK", "ok", f"req-{sequence}", 7],
        separators=(",", ":"),
    )  # fmt: skip


def back_to_version_1(conn: sqlite3.Connection) -> None:
    """The schema as m001 left it: no index of further subjects, one by the first."""
    conn.executescript("""
        DROP TABLE subject_records;
        DROP TABLE subjects;
        CREATE INDEX records_subject ON records (subject, sequence);
        DELETE FROM _sqlite_migrations WHERE name IN
            ('m002_every_subject_of_a_record', 'm003_subject_index_by_bucket');
    """)


def test_a_log_written_in_version_1_still_verifies_and_is_found_by_subject(
    tmp_path: Path,
) -> None:
    """An upgrade indexes the subjects of the old records (m002) and rewrites none of
    them: their hashes cover their old encoding."""
    ada = f"hmac-sha256:v1:{1:064x}"
    keys = create_keyring(tmp_path / "keyring.json", now=T0).signing
    SqliteAccessLog(tmp_path / "access_log.db", tmp_path / "checkpoints", keys).close()
    database = tmp_path / "access_log.db"
    with closing(sqlite3.connect(database)) as conn, conn:  # as the old version left it
        previous = GENESIS_HASH
        for sequence, subject in ((1, ada), (2, ""), (3, ada)):
            content = version_1_content(sequence, subject)
            record_hash = chain_hash(previous, content)
            conn.execute(
                "INSERT INTO records (sequence, content, previous_hash, record_hash)"
                " VALUES (?, ?, ?, ?)",
                [sequence, content, previous, record_hash],
            )
            previous = record_hash
        back_to_version_1(conn)
    log = SqliteAccessLog(tmp_path / "access_log.db", tmp_path / "checkpoints", keys)
    with closing(log):
        found = log.query(AccessQuery(subjects=(ada,)))
        assert [r.sequence for r in found] == [1, 3]
        assert [r.entry.subjects for r in found] == [(ada,), (ada,)]
        assert found[0].entry.request_id_origin is RequestIdOrigin.CALLER
        (nobody,) = log.query(AccessQuery(), after_sequence=1, limit=1)
        assert nobody.entry.subjects == ()
        new = log.append([dataclasses.replace(entry(4), subjects=(ada,))], now_us=T0_US)
        assert log.verify() == Verification(True, 4, notices=(unauthenticated_notice(3, 1, 3),))
        assert [r.sequence for r in log.query(AccessQuery(subjects=(ada,)))] == [
            1,
            3,
            new[0].sequence,
        ]


# -- the subject index before buckets (m002) ----------------------------------------------


def test_a_log_indexed_by_m002_moves_to_the_bucketed_index_and_stays_verified(
    files: LogFiles,
) -> None:
    """A data folder written before m003 (the further subjects in `record_subjects`, the
    first by the `records_subject` index): opening it files every subject in buckets,
    queries by subject find the same records, and `verify` covers the new index."""
    with closing(sqlite3.connect(files.database)) as conn, conn:
        conn.executescript("""
            CREATE TABLE record_subjects (subject TEXT NOT NULL, sequence INTEGER NOT NULL,
                PRIMARY KEY (subject, sequence)) WITHOUT ROWID;
            INSERT INTO record_subjects SELECT s.value, r.sequence FROM records r,
                json_each(r.content, '$[17]') s;
            CREATE INDEX records_subject ON records (subject, sequence);
            DROP TABLE subject_records;
            DROP TABLE subjects;
            DELETE FROM _sqlite_migrations WHERE name = 'm003_subject_index_by_bucket';
        """)
        assert conn.execute("SELECT count(*) FROM record_subjects").fetchone() == (4,)
    with opened(files) as log:
        assert log.verify() == Verification(True, RECORDS)
        for i in (7, 8, 14, 15, 28, 29):  # first and further subjects alike
            subject = f"hmac-sha256:v1:{i:064x}"
            found = log.query(AccessQuery(subjects=(subject,)))
            assert [r.sequence for r in found] == [
                n for n in range(1, RECORDS + 1) if subject in entry(n).subjects
            ]
    with closing(sqlite3.connect(files.database)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "record_subjects" not in tables and "records_subject" not in tables
        with conn:
            conn.execute("DELETE FROM subject_records WHERE sequence = 28")
    assert files.verify().first_bad_sequence == 28  # the moved index is verified too


def test_a_subject_search_reads_one_index_search_per_bucket(files: LogFiles) -> None:
    """The plan of a query by subject: a search of subject_records by its key (bucket and
    subject id) for each bucket, never a scan of the index or of the records."""
    with opened(files) as log:
        plan = log._reader.conn.execute(
            "EXPLAIN QUERY PLAN SELECT content FROM records WHERE"
            f" {access_log_store.ABOUT_SUBJECTS} ORDER BY sequence LIMIT 10",
            [0, json.dumps([f"hmac-sha256:v1:{1:064x}"])],
        ).fetchall()
    steps = [row[3] for row in plan]
    assert any(
        "SEARCH x USING PRIMARY KEY (bucket=? AND subject_id=?)" in step for step in steps
    ), steps
    assert not any(
        step.startswith("SCAN x") or step.startswith("SCAN records") for step in steps
    ), steps


def test_a_commit_writes_no_more_pages_as_the_log_grows(tmp_path: Path) -> None:
    """The cost the soak found (docs/benchmarks-history.md, "Soak"): with the subject index keyed
    by pseudonym, every subject of a commit landed on a page of its own once the log had
    grown, and a commit of 8 soak-shaped records wrote 50 WAL frames into a log of 400
    records, 82 into one of 12,688. Filed by bucket, the same commit at the same place
    in its bucket writes no more in the larger log."""
    people = [f"hmac-sha256:v1:{n:064x}" for n in range(2000)]
    rng = random.Random(1)

    def soak_shaped(i: int) -> AccessEntry:  # 1 in 5 a batch about 25 people
        about = tuple(rng.sample(people, 25)) if i % 5 == 0 else (rng.choice(people),)
        return dataclasses.replace(entry(1), subjects=about)

    def frames_per_commit(records: int) -> float:
        keys = create_keyring(tmp_path / f"{records}" / "keyring.json", now=T0).signing
        database = tmp_path / f"{records}" / "access_log.db"
        log = SqliteAccessLog(database, database.with_suffix(".checkpoints"), keys)
        with closing(log):
            for start in range(0, records, 200):
                log.append([soak_shaped(start + i) for i in range(200)], now_us=0)
            frames = []
            for commit in range(20):
                log._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                log.append([soak_shaped(records + commit * 8 + i) for i in range(8)], now_us=0)
                wal = database.with_name("access_log.db-wal").stat().st_size
                frames.append((wal - 32) / (4096 + 24))  # WAL header, then frames
        return sum(frames) / len(frames)

    bucket = 1 << access_log_store.SUBJECT_BUCKET_BITS
    small, large = frames_per_commit(400), frames_per_commit(3 * bucket + 400)
    assert large <= small * 1.1, (small, large)
