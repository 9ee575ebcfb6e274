"""The access log's chain and checkpoints: every corruption of the files must be caught.

Each case writes a log of 32 records with a signed checkpoint every 5 (so records
5, 10, …, 30 are pinned and 31, 32 are not), closes it, corrupts the database or the
checkpoint file the way an attacker (or a broken disk) would, and opens a fresh
`SqliteAccessLog` on the result: `verify` must say the log is not intact and name the
first sequence number at which it can tell.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from privacy import _crypto
from privacy.access_log import (
    GENESIS_HASH,
    AccessEntry,
    AccessLogUnavailable,
    AccessQuery,
    AccessRecord,
    Checkpoint,
    Decided,
    RequestIdOrigin,
    Verification,
    canonical,
    chain_hash,
    decode,
    seal_record,
)
from privacy.access_log_writer import GroupCommitter
from privacy.keyring import KeySet, create_keyring
from storage.sqlite import access_log as access_log_store
from storage.sqlite.access_log import SqliteAccessLog
from tests.conftest import T0

T0_US = 1_795_780_800_000_000  # 2026-11-27 12:00 UTC
SECOND = 1_000_000
RECORDS = 32
EVERY = 5
PINNED = [5, 10, 15, 20, 25, 30]
# Count-triggered checkpoints only: the time trigger would fire on the first append,
# because a fresh log was last checkpointed at time 0.
NEVER_BY_TIME = 1e12

PRINCIPALS = ["support_widget", "web_frontend", "agent_console", "anonymous"]
METHODS = [
    "tactful.v1.Personalization/GetSegments",
    "tactful.v1.Personalization/RecordEvents",
    "tactful.v1.Personalization/GetSignals",
    "tactful.v1.AccessLog/QueryAccessLog",
]


def subjects_of(i: int) -> tuple[str, ...]:
    """Nobody, one person, or (a batch about several people) two."""
    if i % 5 == 0:
        return ()
    if i % 7 == 0:
        return (f"hmac-sha256:v1:{i:064x}", f"hmac-sha256:v1:{i + 1:064x}")
    return (f"hmac-sha256:v1:{i:064x}",)


def entry(i: int) -> AccessEntry:
    """The i-th access of the test log; every field varies with i."""
    denied = i % 3 == 0
    return AccessEntry(
        time_us=T0_US + i * SECOND,
        principal=PRINCIPALS[i % 4],
        role=["frontend", "frontend", "agent", ""][i % 4],
        method=METHODS[i % len(METHODS)],
        purpose=["support_triage", "onboarding", "agent_assist", ""][i % 4],
        subjects=subjects_of(i),
        requested=("failed_logins_1h", "last_error_code")[: i % 3],
        released=() if denied else ("new_visitor",)[: i % 2],
        decision=Decided.DENIED if denied else Decided.ALLOWED,
        status="PERMISSION_DENIED" if denied else "OK",
        reason=f'reason «{i}» with "quotes" and a tab\t' if denied else "",
        request_id=f"req-{i:04d}",
        latency_us=100 + i,
    )


@dataclass(frozen=True)
class LogFiles:
    database: Path
    checkpoints: Path
    keys: KeySet
    other_keys: KeySet  # a signing key that is not the server's

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
    other = create_keyring(tmp_path / "other" / "keyring.json", now=T0).signing
    written = LogFiles(tmp_path / "access_log.db", tmp_path / "access-log.checkpoints", keys, other)
    with opened(written) as log:
        append_each(log, range(1, RECORDS + 1))
    return written


# -- what an attacker (or a broken disk) can do to the files --------------------------------


def row(conn: sqlite3.Connection, sequence: int) -> tuple[str, str, str]:
    """content, previous_hash, record_hash of one stored record."""
    found = conn.execute(
        "SELECT content, previous_hash, record_hash FROM records WHERE sequence = ?", [sequence]
    ).fetchone()
    assert found is not None, sequence
    return found  # type: ignore[no-any-return]


def edited_content(content: str, **changes: object) -> str:
    sequence, original = decode(content)
    return canonical(sequence, dataclasses.replace(original, **changes))  # type: ignore[arg-type]


def flip_bit(hex_digest: str, position: int) -> str:
    """The digest with the lowest bit of one hex digit flipped."""
    digit = int(hex_digest[position], 16) ^ 1
    return hex_digest[:position] + f"{digit:x}" + hex_digest[position + 1 :]


def rechain(conn: sqlite3.Connection, start: int) -> None:
    """Recompute every hash from `start` on, so the chain is consistent again."""
    previous = row(conn, start - 1)[2] if start > 1 else GENESIS_HASH
    rows = conn.execute(
        "SELECT sequence, content FROM records WHERE sequence >= ? ORDER BY sequence", [start]
    ).fetchall()
    for sequence, content in rows:
        record_hash = chain_hash(previous, content)
        conn.execute(
            "UPDATE records SET previous_hash = ?, record_hash = ? WHERE sequence = ?",
            [previous, record_hash, sequence],
        )
        previous = record_hash


def resigned(checkpoint: Checkpoint, keys: KeySet, **changes: object) -> Checkpoint:
    """`checkpoint` (with `changes`), signed with the primary key of `keys`."""
    changed = dataclasses.replace(checkpoint, **changes)  # type: ignore[arg-type]
    signature = _crypto.sign(keys.primary_key()[1], changed.message())
    return dataclasses.replace(changed, signature=signature.hex())


def replace_checkpoint_row(conn: sqlite3.Connection, old: str, new: str) -> None:
    changed = conn.execute("UPDATE checkpoints SET line = ? WHERE line = ?", [new, old]).rowcount
    assert changed == 1


def edit_one_field(f: LogFiles) -> None:
    with f.sql() as conn:
        content = edited_content(row(conn, 12)[0], principal="mallory")
        conn.execute("UPDATE records SET content = ? WHERE sequence = 12", [content])


def widen_a_release(f: LogFiles) -> None:
    with f.sql() as conn:
        content = edited_content(row(conn, 17)[0], released=("new_visitor", "returning_visitor"))
        conn.execute("UPDATE records SET content = ? WHERE sequence = 17", [content])


def delete_a_record_in_the_middle(f: LogFiles) -> None:
    with f.sql() as conn:
        conn.execute("DELETE FROM records WHERE sequence = 12")


def delete_the_first_record(f: LogFiles) -> None:
    with f.sql() as conn:
        conn.execute("DELETE FROM records WHERE sequence = 1")


def swap_two_records_contents(f: LogFiles) -> None:
    with f.sql() as conn:
        twelve, seventeen = row(conn, 12)[0], row(conn, 17)[0]
        conn.execute("UPDATE records SET content = ? WHERE sequence = 12", [seventeen])
        conn.execute("UPDATE records SET content = ? WHERE sequence = 17", [twelve])


def swap_two_whole_rows(f: LogFiles) -> None:
    """Content and both hashes move together: each row is self-consistent."""
    with f.sql() as conn:
        twelve, thirteen = row(conn, 12), row(conn, 13)
        for sequence, (content, previous, record_hash) in ((12, thirteen), (13, twelve)):
            conn.execute(
                "UPDATE records SET content = ?, previous_hash = ?, record_hash = ?"
                " WHERE sequence = ?",
                [content, previous, record_hash, sequence],
            )


def insert_a_forged_record(f: LogFiles) -> None:
    """A record slipped in after 12, chained from 12, with a correct hash of its own.

    The forgery itself links correctly; the break shows at the record after it."""
    with f.sql() as conn:
        conn.execute("UPDATE records SET sequence = -sequence WHERE sequence >= 13")
        conn.execute("UPDATE records SET sequence = 1 - sequence WHERE sequence < 0")
        previous = row(conn, 12)[2]
        forged = dataclasses.replace(entry(13), principal="mallory", released=("new_visitor",))
        content = canonical(13, forged)
        conn.execute(
            "INSERT INTO records (sequence, content, previous_hash, record_hash)"
            " VALUES (13, ?, ?, ?)",
            [content, previous, chain_hash(previous, content)],
        )


def cut_the_tail_past_a_checkpoint(f: LogFiles) -> None:
    with f.sql() as conn:
        conn.execute("DELETE FROM records WHERE sequence >= 26")


def empty_the_records(f: LogFiles) -> None:
    with f.sql() as conn:
        conn.execute("DELETE FROM records")


def flip_a_bit_of_a_record_hash(f: LogFiles) -> None:
    with f.sql() as conn:
        conn.execute(
            "UPDATE records SET record_hash = ? WHERE sequence = 12",
            [flip_bit(row(conn, 12)[2], 40)],
        )


def flip_a_bit_of_a_pinned_record_hash(f: LogFiles) -> None:
    with f.sql() as conn:
        conn.execute(
            "UPDATE records SET record_hash = ? WHERE sequence = 10",
            [flip_bit(row(conn, 10)[2], 0)],
        )


def flip_a_bit_of_a_previous_hash(f: LogFiles) -> None:
    with f.sql() as conn:
        conn.execute(
            "UPDATE records SET previous_hash = ? WHERE sequence = 12",
            [flip_bit(row(conn, 12)[1], 63)],
        )


def recompute_the_chain_after_an_edit(f: LogFiles) -> None:
    """An attacker holding only the database: the chain is consistent again, but the
    signed checkpoint at 15 in the file pins the old hash."""
    with f.sql() as conn:
        content = edited_content(row(conn, 12)[0], decision=Decided.ALLOWED, status="OK")
        conn.execute("UPDATE records SET content = ? WHERE sequence = 12", [content])
        rechain(conn, 12)


def recompute_the_chain_after_deleting_a_record(f: LogFiles) -> None:
    """Delete 12, renumber the rest down, rewrite every content and hash from 12 on."""
    with f.sql() as conn:
        conn.execute("DELETE FROM records WHERE sequence = 12")
        rows = conn.execute(
            "SELECT sequence, content FROM records WHERE sequence > 12 ORDER BY sequence"
        ).fetchall()
        for sequence, content in rows:
            _, original = decode(content)
            conn.execute(
                "UPDATE records SET sequence = ?, content = ? WHERE sequence = ?",
                [sequence - 1, canonical(sequence - 1, original), sequence],
            )
        rechain(conn, 12)


def recompute_the_chain_and_resign_in_file_and_database(f: LogFiles) -> None:
    """Both files, but not the signing key: checkpoints re-signed with another key."""
    recompute_the_chain_after_an_edit(f)
    with f.sql() as conn:
        hashes = dict(conn.execute("SELECT sequence, record_hash FROM records").fetchall())
        lines = []
        for line in f.lines():
            checkpoint = Checkpoint.from_json(line)
            if checkpoint.sequence >= 12:
                checkpoint = resigned(
                    checkpoint, f.other_keys, record_hash=hashes[checkpoint.sequence]
                )
            lines.append(checkpoint.to_json())
        conn.execute("DELETE FROM checkpoints")
        conn.executemany("INSERT INTO checkpoints (line) VALUES (?)", [[x] for x in lines])
    f.write_lines(lines)


def swap_two_checkpoint_lines(f: LogFiles) -> None:
    lines = f.lines()
    lines[1], lines[2] = lines[2], lines[1]  # the checkpoints at 10 and 15
    f.write_lines(lines)


def resign_a_checkpoint_in_the_file(f: LogFiles) -> None:
    lines = f.lines()
    lines[2] = resigned(Checkpoint.from_json(lines[2]), f.other_keys).to_json()
    f.write_lines(lines)


def resign_a_checkpoint_in_the_file_and_database(f: LogFiles) -> None:
    lines = f.lines()
    original = lines[2]
    lines[2] = resigned(Checkpoint.from_json(original), f.other_keys).to_json()
    f.write_lines(lines)
    with f.sql() as conn:
        replace_checkpoint_row(conn, original, lines[2])


def flip_a_bit_of_a_checkpoint_signature(f: LogFiles) -> None:
    lines = f.lines()
    original = lines[2]
    checkpoint = Checkpoint.from_json(original)
    lines[2] = dataclasses.replace(
        checkpoint, signature=flip_bit(checkpoint.signature, 7)
    ).to_json()
    f.write_lines(lines)
    with f.sql() as conn:
        replace_checkpoint_row(conn, original, lines[2])


def delete_a_checkpoint_line_from_the_file(f: LogFiles) -> None:
    lines = f.lines()
    del lines[2]  # the checkpoint at 15
    f.write_lines(lines)


def duplicate_a_checkpoint_line_in_the_file(f: LogFiles) -> None:
    lines = f.lines()
    lines.insert(3, lines[2])  # the checkpoint at 15, twice
    f.write_lines(lines)


def empty_the_checkpoint_file(f: LogFiles) -> None:
    f.write_lines([])


def delete_two_checkpoint_lines_from_the_file(f: LogFiles) -> None:
    lines = f.lines()
    f.write_lines([line for i, line in enumerate(lines) if i not in (1, 4)])  # 10 and 25


def edit_the_checkpoints_table(f: LogFiles) -> None:
    with f.sql() as conn:
        original = next(line for line in f.lines() if Checkpoint.from_json(line).sequence == 20)
        edited = original.replace('"time_us": ', '"time_us": 1')
        replace_checkpoint_row(conn, original, edited)


def delete_a_row_of_the_checkpoints_table(f: LogFiles) -> None:
    with f.sql() as conn:
        deleted = conn.execute("DELETE FROM checkpoints WHERE line LIKE '%\"sequence\": 20,%'")
        assert deleted.rowcount == 1


def garble_the_checkpoint_file(f: LogFiles) -> None:
    f.write_lines([*f.lines(), '{"kind": "checkpoint", "sequence": '])


Corruption = Callable[[LogFiles], None]

CHAIN = "record_hash does not match"
LINK = "previous_hash does not match"
PIN = "differs from the signed checkpoint"
SIGNATURE = "bad signature"
COPIES = "differ from the checkpoint file"
SUBJECT_INDEX = "the subject index disagrees"

# Verification in two processes splits a log of 32 at 16 | 17; these sit on the seam.


def edit_the_last_of_the_first_half(f: LogFiles) -> None:
    with f.sql() as conn:
        content = edited_content(row(conn, 16)[0], request_id="forged")
        conn.execute("UPDATE records SET content = ? WHERE sequence = 16", [content])


def delete_the_first_of_the_second_half(f: LogFiles) -> None:
    with f.sql() as conn:
        conn.execute("DELETE FROM records WHERE sequence = 17")


def swap_two_whole_rows_across_the_seam(f: LogFiles) -> None:
    with f.sql() as conn:
        sixteen, seventeen = row(conn, 16), row(conn, 17)
        for sequence, (content, previous, record_hash) in ((16, seventeen), (17, sixteen)):
            conn.execute(
                "UPDATE records SET content = ?, previous_hash = ?, record_hash = ?"
                " WHERE sequence = ?",
                [content, previous, record_hash, sequence],
            )


def recompute_the_chain_from_the_seam(f: LogFiles) -> None:
    with f.sql() as conn:
        content = edited_content(row(conn, 17)[0], principal="mallory")
        conn.execute("UPDATE records SET content = ? WHERE sequence = 17", [content])
        rechain(conn, 17)


def drop_one_of_two_subjects_from_the_index(f: LogFiles) -> None:
    """Record 14 is about two people (a mixed batch); the second loses it, from their
    queries and their export."""
    with f.sql() as conn:
        assert json.loads(row(conn, 14)[0])[17] == [f"hmac-sha256:v1:{15:064x}"]
        deleted = conn.execute(
            "DELETE FROM record_subjects WHERE sequence = 14 AND subject = ?",
            [f"hmac-sha256:v1:{15:064x}"],
        ).rowcount
        assert deleted == 1


def attribute_a_record_to_another_subject(f: LogFiles) -> None:
    with f.sql() as conn:
        conn.execute(
            "INSERT INTO record_subjects (subject, sequence) VALUES (?, 17)",
            [f"hmac-sha256:v1:{999:064x}"],
        )


RECORD_CORRUPTIONS: list[tuple[Corruption, int, str]] = [
    (edit_one_field, 12, CHAIN),
    (widen_a_release, 17, CHAIN),
    (delete_a_record_in_the_middle, 12, "record 12 is missing"),
    (delete_the_first_record, 1, "record 1 is missing"),
    (swap_two_records_contents, 12, CHAIN),
    (swap_two_whole_rows, 12, LINK),
    (insert_a_forged_record, 14, LINK),
    (cut_the_tail_past_a_checkpoint, 26, "records 26..30 are missing"),
    (empty_the_records, 1, "records 1..30 are missing"),
    (flip_a_bit_of_a_record_hash, 12, CHAIN),
    (flip_a_bit_of_a_pinned_record_hash, 10, CHAIN),
    (flip_a_bit_of_a_previous_hash, 12, LINK),
    (recompute_the_chain_after_an_edit, 15, PIN),
    (recompute_the_chain_after_deleting_a_record, 15, PIN),
    (edit_the_last_of_the_first_half, 16, CHAIN),
    (delete_the_first_of_the_second_half, 17, "record 17 is missing"),
    (swap_two_whole_rows_across_the_seam, 16, LINK),
    (recompute_the_chain_from_the_seam, 20, PIN),
    (drop_one_of_two_subjects_from_the_index, 14, SUBJECT_INDEX),
    (attribute_a_record_to_another_subject, 17, SUBJECT_INDEX),
]
CHECKPOINT_CORRUPTIONS: list[tuple[Corruption, int, str]] = [
    (recompute_the_chain_and_resign_in_file_and_database, 15, SIGNATURE),
    (swap_two_checkpoint_lines, 10, "out of order"),
    (resign_a_checkpoint_in_the_file, 15, COPIES),
    (resign_a_checkpoint_in_the_file_and_database, 15, SIGNATURE),
    (flip_a_bit_of_a_checkpoint_signature, 15, SIGNATURE),
    (delete_a_checkpoint_line_from_the_file, 15, COPIES),
    (duplicate_a_checkpoint_line_in_the_file, 15, COPIES),
    (empty_the_checkpoint_file, 5, COPIES),
    (delete_two_checkpoint_lines_from_the_file, 10, COPIES),
    (edit_the_checkpoints_table, 20, COPIES),
    (delete_a_row_of_the_checkpoints_table, 20, COPIES),
]
CORRUPTIONS = RECORD_CORRUPTIONS + CHECKPOINT_CORRUPTIONS


def test_an_untouched_log_verifies_with_every_record_counted(files: LogFiles) -> None:
    with opened(files) as log:
        assert [c.sequence for c in log.checkpoints()] == PINNED  # the matrix needs them
        assert log.verify() == Verification(True, RECORDS)
        records = log.query(AccessQuery(), limit=1000)
    assert [r.entry for r in records] == [entry(i) for i in range(1, RECORDS + 1)]
    assert records[0].previous_hash == GENESIS_HASH
    assert all(a.record_hash == b.previous_hash for a, b in pairwise(records))


@pytest.mark.parametrize(
    ("corrupt", "first_bad", "problem"), CORRUPTIONS, ids=[c[0].__name__ for c in CORRUPTIONS]
)
def test_every_corruption_is_caught_at_the_first_bad_record(
    files: LogFiles, corrupt: Corruption, first_bad: int, problem: str
) -> None:
    corrupt(files)
    result = files.verify()
    assert not result.intact
    assert problem in result.problem  # caught for the right reason
    assert result.first_bad_sequence == first_bad, result.problem


@pytest.mark.parametrize(
    ("corrupt", "first_bad", "problem"),
    RECORD_CORRUPTIONS,
    ids=[c[0].__name__ for c in RECORD_CORRUPTIONS],
)
def test_verification_in_two_processes_catches_the_same(
    files: LogFiles,
    corrupt: Corruption,
    first_bad: int,
    problem: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Large logs are checked in two halves at once; force that path on this small one."""
    monkeypatch.setattr(access_log_store, "PARALLEL_FROM", 1)
    corrupt(files)
    result = files.verify()
    assert not result.intact
    assert problem in result.problem
    assert result.first_bad_sequence == first_bad, result.problem


def test_an_untouched_log_verifies_in_two_processes(
    files: LogFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(access_log_store, "PARALLEL_FROM", 1)
    assert files.verify() == Verification(True, RECORDS)


def test_an_unreadable_checkpoint_file_is_reported_not_raised(files: LogFiles) -> None:
    """A torn last line (a crash mid-append) or garbage: verification says so."""
    garble_the_checkpoint_file(files)
    result = files.verify()
    assert not result.intact
    assert "unreadable" in result.problem


def test_the_lowest_differing_checkpoint_is_named(files: LogFiles) -> None:
    """Two checkpoints missing from the file: the earlier one is the first bad record,
    whatever order their text happens to sort in."""
    lines = files.lines()
    first, second = next(
        (i, j)
        for i in range(len(lines))
        for j in range(i + 1, len(lines))
        if lines[i] > lines[j]  # text order disagrees with sequence order
    )
    files.write_lines([line for k, line in enumerate(lines) if k not in (first, second)])
    result = files.verify()
    assert not result.intact
    assert result.first_bad_sequence == PINNED[first], result.problem


def test_records_after_the_last_checkpoint_are_pinned_by_nothing_yet(files: LogFiles) -> None:
    """The known limit of the design, kept visible: a naive edit of the unpinned tail
    breaks the chain, but a re-chained one cannot be told from the truth until the next
    checkpoint (at most `checkpoint_every` records or `checkpoint_seconds` later)."""
    with files.sql() as conn:
        content = edited_content(row(conn, 31)[0], principal="mallory")
        conn.execute("UPDATE records SET content = ? WHERE sequence = 31", [content])
    result = files.verify()
    assert (result.intact, result.first_bad_sequence) == (False, 31)
    with files.sql() as conn:
        rechain(conn, 31)
    assert files.verify().intact  # undetectable: nothing signed covers 31 or 32


# -- truncation ---------------------------------------------------------------------------


def test_truncation_keeps_the_log_verifiable_and_counts_what_remains(files: LogFiles) -> None:
    with opened(files) as log:
        removed = log.truncate_before(T0_US + 20 * SECOND, now_us=T0_US + 40 * SECOND)
        assert removed == 19
        assert log.verify() == Verification(True, RECORDS - 19)
        kept = log.query(AccessQuery(), limit=1000)
    assert [r.sequence for r in kept] == list(range(20, RECORDS + 1))
    assert files.verify().intact  # and from a fresh instance


def _edit_23(f: LogFiles) -> None:
    with f.sql() as conn:
        content = edited_content(row(conn, 23)[0], purpose="analytics")
        conn.execute("UPDATE records SET content = ? WHERE sequence = 23", [content])


def _delete_first_kept(f: LogFiles) -> None:
    with f.sql() as conn:
        conn.execute("DELETE FROM records WHERE sequence = 20")


def _delete_more_than_truncated(f: LogFiles) -> None:
    with f.sql() as conn:
        conn.execute("DELETE FROM records WHERE sequence < 24")


def _drop_the_truncation_line(f: LogFiles) -> None:
    f.write_lines([line for line in f.lines() if '"truncation"' not in line])


def _recompute_after_the_cut(f: LogFiles) -> None:
    _edit_23(f)
    with f.sql() as conn:
        rechain(conn, 23)


def _move_the_truncation_forward(f: LogFiles) -> None:
    """A forged truncation (signed by another key) hiding records 20..22."""
    lines = f.lines()
    truncation = Checkpoint.from_json(lines[-1])
    with f.sql() as conn:
        forged = resigned(truncation, f.other_keys, sequence=23, record_hash=row(conn, 23)[1])
        conn.execute("DELETE FROM records WHERE sequence < 23")
        replace_checkpoint_row(conn, lines[-1], forged.to_json())
    f.write_lines([*lines[:-1], forged.to_json()])


@pytest.mark.parametrize(
    ("corrupt", "first_bad"),
    [
        (_edit_23, 23),
        (_delete_first_kept, 20),
        (_delete_more_than_truncated, 20),
        (_drop_the_truncation_line, 20),
        (_recompute_after_the_cut, 25),
        (_move_the_truncation_forward, 23),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)).strip("_"),
)
@pytest.mark.parametrize("processes", [1, 2])
def test_a_corruption_after_truncation_is_still_caught(
    files: LogFiles,
    corrupt: Corruption,
    first_bad: int,
    processes: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if processes == 2:
        monkeypatch.setattr(access_log_store, "PARALLEL_FROM", 1)
    with opened(files) as log:
        log.truncate_before(T0_US + 20 * SECOND, now_us=T0_US + 40 * SECOND)
    corrupt(files)
    result = files.verify()
    assert not result.intact
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
        conn.execute("DROP TABLE record_subjects")
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm002_every_subject_of_a_record'")
    log = SqliteAccessLog(tmp_path / "access_log.db", tmp_path / "checkpoints", keys)
    with closing(log):
        found = log.query(AccessQuery(subjects=(ada,)))
        assert [r.sequence for r in found] == [1, 3]
        assert [r.entry.subjects for r in found] == [(ada,), (ada,)]
        assert found[0].entry.request_id_origin is RequestIdOrigin.CALLER
        (nobody,) = log.query(AccessQuery(), after_sequence=1, limit=1)
        assert nobody.entry.subjects == ()
        new = log.append([dataclasses.replace(entry(4), subjects=(ada,))], now_us=T0_US)
        assert log.verify() == Verification(True, 4)
        assert [r.sequence for r in log.query(AccessQuery(subjects=(ada,)))] == [
            1,
            3,
            new[0].sequence,
        ]
