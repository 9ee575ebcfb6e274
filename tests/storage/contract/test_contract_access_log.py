"""Invariant: every corruption of the access log is caught at its first bad record, for
the right reason, whatever engine keeps it.

Each case writes a log of 32 records through the engine, as the server writes it (a
signed checkpoint every 5, so records 5, 10, …, 30 are pinned and 31, 32 are not),
corrupts it the way an attacker holding its database (the engine's attacker adapter),
or its checkpoint file, or a broken disk would, and opens the domain afresh: `verify`
must say the log is not intact and name the first sequence number at which it can tell.

This is the one corruption table; what only one engine has (SQLite's verification in
two processes) runs the same table in that engine's own module
(tests/storage/sqlite/test_access_log_chain.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

from tactful.app.settings import Settings
from tactful.privacy import _crypto
from tactful.privacy.access_log import (
    AccessEntry,
    AccessQuery,
    AccessRecord,
    Checkpoint,
    Decided,
    Verification,
    authenticated_by,
    canonical,
    chain_hash,
    decode,
    record_key,
)
from tactful.privacy.keyring import KeySet, create_keyring, load_keyring
from tests.conftest import T0
from tests.storage.engines import AccessLogAttacker, Engine, StoredRecord

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

# What verification says, for each kind of break.
CHAIN = "record_hash does not match"
LINK = "previous_hash does not match"
PIN = "differs from the signed checkpoint"
SIGNATURE = "bad signature"
COPIES = "differ from the checkpoint file"
SUBJECT_INDEX = "the subject index disagrees"
MAC = "does not authenticate"
UNAUTHENTICATED = "carries no MAC"
CLOSED = "after it closed"


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


def edited_content(content: str, **changes: object) -> str:
    """The content with `changes`, still naming the key that authenticated it."""
    sequence, original = decode(content)
    changed = dataclasses.replace(original, **changes)  # type: ignore[arg-type]
    return canonical(sequence, changed, authenticated_by(content))


def flip_bit(hex_digest: str, position: int) -> str:
    """The digest with the lowest bit of one hex digit flipped."""
    digit = int(hex_digest[position], 16) ^ 1
    return hex_digest[:position] + f"{digit:x}" + hex_digest[position + 1 :]


def resigned(checkpoint: Checkpoint, keys: KeySet, **changes: object) -> Checkpoint:
    """`checkpoint` (with `changes`), signed with the primary key of `keys`."""
    changed = dataclasses.replace(checkpoint, **changes)  # type: ignore[arg-type]
    signature = _crypto.sign(keys.primary_key()[1], changed.message())
    return dataclasses.replace(changed, signature=signature.hex())


@dataclass(frozen=True)
class Log:
    """A closed access log of RECORDS records on `engine`, and what can be done to it."""

    engine: Engine
    settings: Settings
    other_keys: KeySet  # a signing key that is not the server's

    def attack(self) -> AbstractContextManager[AccessLogAttacker]:
        return self.engine.attacker(self.settings)

    def lines(self) -> list[str]:
        return self.settings.checkpoints_path.read_text().splitlines()

    def write_lines(self, lines: list[str]) -> None:
        self.settings.checkpoints_path.write_text("".join(line + "\n" for line in lines))

    def verify(self) -> Verification:
        """With freshly opened stores, as `tactful audit verify` would."""
        stores = self.engine.open(self.settings)
        try:
            return stores.verify_access_log()
        finally:
            stores.close()

    def query(self, query: AccessQuery) -> list[AccessRecord]:
        stores = self.engine.open(self.settings)
        try:
            return stores.domain.access_log.query(query, limit=1000)
        finally:
            stores.close()

    def truncate_before(self, cutoff_us: int, *, now_us: int) -> int:
        """As `tactful audit truncate` does."""
        stores = self.engine.open(self.settings)
        try:
            return stores.domain.access_log.truncate_before(cutoff_us, now_us=now_us)
        finally:
            stores.close()


def written_log(engine: Engine, tmp_path: Path) -> Log:
    """A closed log of RECORDS records on `engine`, checkpointed at PINNED."""
    settings = engine.settings(
        tmp_path / "data", checkpoint_every=EVERY, checkpoint_seconds=NEVER_BY_TIME
    )
    other = create_keyring(tmp_path / "other" / "keyring.json", now=T0).signing
    stores = engine.open(settings)
    try:
        for i in range(1, RECORDS + 1):  # one record per call, as a quiet server writes
            stores.append_access([entry(i)], now_us=T0_US + i * SECOND)
        assert [c.sequence for c in stores.checkpoints()] == PINNED  # the matrix needs them
    finally:
        stores.close()
    return Log(engine, settings, other)


@pytest.fixture
def log(engine: Engine, tmp_path: Path) -> Iterator[Log]:
    yield written_log(engine, tmp_path)


# -- what an attacker holding the database (or a broken disk) can do --------------------


def rechain(db: AccessLogAttacker, start: int) -> None:
    """Recompute every hash from `start` on, so the chain is consistent again."""
    previous = db.row(start - 1).record_hash if start > 1 else db.genesis(start)
    for sequence in [s for s in db.sequences() if s >= start]:
        record_hash = chain_hash(previous, db.row(sequence).content)
        db.update(sequence, previous_hash=previous, record_hash=record_hash)
        previous = record_hash


def edit_one_field(log: Log) -> None:
    with log.attack() as db:
        db.update(12, content=edited_content(db.row(12).content, principal="mallory"))


def widen_a_release(log: Log) -> None:
    with log.attack() as db:
        wider = edited_content(db.row(17).content, released=("new_visitor", "returning_visitor"))
        db.update(17, content=wider)


def delete_a_record_in_the_middle(log: Log) -> None:
    with log.attack() as db:
        db.delete(12)


def delete_the_first_record(log: Log) -> None:
    with log.attack() as db:
        db.delete(1)


def swap_two_records_contents(log: Log) -> None:
    with log.attack() as db:
        twelve, seventeen = db.row(12).content, db.row(17).content
        db.update(12, content=seventeen)
        db.update(17, content=twelve)


def swap_two_whole_rows(log: Log, first: int = 12) -> None:
    """Content and both hashes move together: each row is self-consistent."""
    with log.attack() as db:
        a, b = db.row(first), db.row(first + 1)
        for sequence, r in ((first, b), (first + 1, a)):
            db.update(
                sequence,
                content=r.content,
                previous_hash=r.previous_hash,
                record_hash=r.record_hash,
            )


def swap_two_whole_rows_across_the_seam(log: Log) -> None:
    swap_two_whole_rows(log, 16)


def insert_a_forged_record(log: Log) -> None:
    """A record slipped in after 12, chained from 12, with a correct hash of its own;
    the forgery links, the break shows at the record after it."""
    with log.attack() as db:
        db.renumber(13, 1)
        previous = db.row(12).record_hash
        forged = dataclasses.replace(entry(13), principal="mallory", released=("new_visitor",))
        content = canonical(13, forged)
        db.insert(13, StoredRecord(content, previous, chain_hash(previous, content)))


def append_a_forged_record_to_the_stopped_log(log: Log) -> int:
    """After the last record of the chain of record 32 (its server stopped), a record
    with a correct hash: everything but a MAC. The sequence it took. (About nobody: the
    subject index, which an attacker would fill too, is not what must catch it.)"""
    with log.attack() as db:
        last = max(s for s in db.sequences() if db.same_chain(s, RECORDS))
        previous = db.row(last).record_hash
        forged = dataclasses.replace(entry(RECORDS), principal="mallory", subjects=())
        content = canonical(last + 1, forged)
        db.insert(last + 1, StoredRecord(content, previous, chain_hash(previous, content)))
    return last + 1


def append_a_record_made_with_another_keyring(log: Log) -> int:
    """The same, naming a key and carrying a MAC made with a keyring not the server's."""
    with log.attack() as db:
        last = max(s for s in db.sequences() if db.same_chain(s, RECORDS))
        previous = db.row(last).record_hash
        key = record_key(log.other_keys)
        forged = dataclasses.replace(entry(RECORDS), subjects=())
        content = canonical(last + 1, forged, key.label)
        record_hash = chain_hash(previous, content)
        mac = _crypto.hmac_sha256(key.key, f"tactful-access-record/1|{record_hash}".encode())
        db.insert(last + 1, StoredRecord(content, previous, record_hash, mac.hex()))
    return last + 1


def strip_the_mac_of_a_record(log: Log) -> None:
    with log.attack() as db:
        db.update(12, mac="")


def move_a_mac_to_another_record(log: Log) -> None:
    with log.attack() as db:
        db.update(12, mac=db.row(13).mac)


def insert_a_forged_record_naming_the_key(log: Log) -> None:
    """As insert_a_forged_record, naming the server's key, with a MAC it cannot make."""
    with log.attack() as db:
        db.renumber(13, 1)
        previous = db.row(12).record_hash
        content = canonical(13, entry(13), authenticated_by(db.row(12).content))
        forged_mac = db.row(12).mac
        db.insert(13, StoredRecord(content, previous, chain_hash(previous, content), forged_mac))


def cut_the_tail_past_a_checkpoint(log: Log) -> None:
    with log.attack() as db:
        db.delete(26, -1)


def empty_the_records(log: Log) -> None:
    with log.attack() as db:
        db.delete(1, -1)


def flip_a_bit_of_a_record_hash(log: Log) -> None:
    with log.attack() as db:
        db.update(12, record_hash=flip_bit(db.row(12).record_hash, 40))


def flip_a_bit_of_a_pinned_record_hash(log: Log) -> None:
    with log.attack() as db:
        db.update(10, record_hash=flip_bit(db.row(10).record_hash, 0))


def flip_a_bit_of_a_previous_hash(log: Log) -> None:
    with log.attack() as db:
        db.update(12, previous_hash=flip_bit(db.row(12).previous_hash, 63))


def recompute_the_chain_after_an_edit(log: Log) -> None:
    """The chain is consistent again, but the checkpoint at 15 pins the old hash."""
    with log.attack() as db:
        edited = edited_content(db.row(12).content, decision=Decided.ALLOWED, status="OK")
        db.update(12, content=edited)
        rechain(db, 12)


def recompute_the_chain_after_deleting_a_record(log: Log) -> None:
    """Delete 12, renumber the rest down, rewrite every content and hash from 12 on."""
    with log.attack() as db:
        db.delete(12)
        db.renumber(13, -1)
        for sequence in [s for s in db.sequences() if s >= 12]:
            content = db.row(sequence).content
            _, original = decode(content)
            db.update(sequence, content=canonical(sequence, original, authenticated_by(content)))
        rechain(db, 12)


def strip_the_key_from_a_record_and_rechain(log: Log) -> None:
    """Record 17 re-encoded as a record from before MACs, every hash after recomputed."""
    with log.attack() as db:
        _, original = decode(db.row(17).content)
        db.update(17, content=canonical(17, original), mac="")
        rechain(db, 17)


def edit_the_last_of_the_first_half(log: Log) -> None:
    with log.attack() as db:
        db.update(16, content=edited_content(db.row(16).content, request_id="forged"))


def delete_the_first_of_the_second_half(log: Log) -> None:
    with log.attack() as db:
        db.delete(17)


def recompute_the_chain_from_the_seam(log: Log) -> None:
    with log.attack() as db:
        db.update(17, content=edited_content(db.row(17).content, principal="mallory"))
        rechain(db, 17)


def drop_one_of_two_subjects_from_the_index(log: Log) -> None:
    """Record 14 is about two people; the second loses it from their queries and export."""
    with log.attack() as db:
        db.drop_subject(14, f"hmac-sha256:v1:{15:064x}")


def attribute_a_record_to_another_subject(log: Log) -> None:
    with log.attack() as db:
        db.add_subject(17, f"hmac-sha256:v1:{999:064x}")


def recompute_the_chain_and_resign_in_file_and_database(log: Log) -> None:
    """Both copies of the checkpoints, but not the signing key: re-signed with another."""
    recompute_the_chain_after_an_edit(log)
    with log.attack() as db:
        hashes = {s: db.row(s).record_hash for s in db.sequences()}
        lines = []
        for line in log.lines():
            checkpoint = Checkpoint.from_json(line)
            if checkpoint.sequence >= 12:
                checkpoint = resigned(
                    checkpoint, log.other_keys, record_hash=hashes[checkpoint.sequence]
                )
            lines.append(checkpoint.to_json())
        for old, new in zip(db.checkpoint_rows(), lines, strict=True):
            if old != new:
                db.replace_checkpoint_row(old, new)
    log.write_lines(lines)


def resign_a_checkpoint_in_the_file_and_database(log: Log) -> None:
    lines = log.lines()
    original = lines[2]
    lines[2] = resigned(Checkpoint.from_json(original), log.other_keys).to_json()
    log.write_lines(lines)
    with log.attack() as db:
        db.replace_checkpoint_row(original, lines[2])


def flip_a_bit_of_a_checkpoint_signature(log: Log) -> None:
    lines = log.lines()
    original = lines[2]
    checkpoint = Checkpoint.from_json(original)
    flipped = dataclasses.replace(checkpoint, signature=flip_bit(checkpoint.signature, 7))
    lines[2] = flipped.to_json()
    log.write_lines(lines)
    with log.attack() as db:
        db.replace_checkpoint_row(original, lines[2])


def resign_a_checkpoint_in_the_file(log: Log) -> None:
    lines = log.lines()
    lines[2] = resigned(Checkpoint.from_json(lines[2]), log.other_keys).to_json()
    log.write_lines(lines)


def delete_a_checkpoint_line_from_the_file(log: Log) -> None:
    lines = log.lines()
    del lines[2]  # the checkpoint at 15
    log.write_lines(lines)


def swap_two_checkpoint_lines(log: Log) -> None:
    lines = log.lines()
    lines[1], lines[2] = lines[2], lines[1]  # the checkpoints at 10 and 15
    log.write_lines(lines)


def duplicate_a_checkpoint_line_in_the_file(log: Log) -> None:
    lines = log.lines()
    lines.insert(3, lines[2])  # the checkpoint at 15, twice
    log.write_lines(lines)


def empty_the_checkpoint_file(log: Log) -> None:
    log.write_lines([])


def delete_two_checkpoint_lines_from_the_file(log: Log) -> None:
    lines = log.lines()
    log.write_lines([line for i, line in enumerate(lines) if i not in (1, 4)])  # 10 and 25


def edit_the_checkpoints_table(log: Log) -> None:
    with log.attack() as db:
        original = next(r for r in db.checkpoint_rows() if Checkpoint.from_json(r).sequence == 20)
        db.replace_checkpoint_row(original, original.replace('"time_us": ', '"time_us": 1'))


def delete_a_row_of_the_checkpoints_table(log: Log) -> None:
    with log.attack() as db:
        db.delete_checkpoint_row(20)


# A corruption returns the sequence it added, when that is the first bad record.
Corruption = Callable[[Log], int | None]
APPENDED = 0  # the first bad record is the one the corruption appended

# Verification in two processes (SQLite, a large log) splits a log of 32 at 16 | 17;
# the cases "…half", "…seam" sit on it.
RECORD_CORRUPTIONS: list[tuple[Corruption, int, str]] = [
    (edit_one_field, 12, CHAIN),
    (widen_a_release, 17, CHAIN),
    (delete_a_record_in_the_middle, 12, "record 12 is missing"),
    (delete_the_first_record, 1, "record 1 is missing"),
    (swap_two_records_contents, 12, CHAIN),
    (swap_two_whole_rows, 12, LINK),
    (insert_a_forged_record, 13, UNAUTHENTICATED),
    (insert_a_forged_record_naming_the_key, 13, MAC),
    (append_a_forged_record_to_the_stopped_log, APPENDED, UNAUTHENTICATED),
    (append_a_record_made_with_another_keyring, APPENDED, MAC),
    (strip_the_mac_of_a_record, 12, MAC),
    (move_a_mac_to_another_record, 12, MAC),
    (cut_the_tail_past_a_checkpoint, 26, "records 26..30 are missing"),
    (empty_the_records, 1, "records 1..30 are missing"),
    (flip_a_bit_of_a_record_hash, 12, CHAIN),
    (flip_a_bit_of_a_pinned_record_hash, 10, CHAIN),
    (flip_a_bit_of_a_previous_hash, 12, LINK),
    (recompute_the_chain_after_an_edit, 12, MAC),
    (recompute_the_chain_after_deleting_a_record, 12, MAC),
    (edit_the_last_of_the_first_half, 16, CHAIN),
    (delete_the_first_of_the_second_half, 17, "record 17 is missing"),
    (swap_two_whole_rows_across_the_seam, 16, LINK),
    (recompute_the_chain_from_the_seam, 17, MAC),
    (strip_the_key_from_a_record_and_rechain, 17, UNAUTHENTICATED),
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


def test_an_untouched_log_verifies_with_every_record_counted(log: Log) -> None:
    assert log.verify() == Verification(True, RECORDS)
    records = log.query(AccessQuery())
    assert [r.entry for r in records] == [entry(i) for i in range(1, RECORDS + 1)]
    with log.attack() as db:  # the hash its chain starts from, as the engine derives it
        genesis = db.genesis(records[0].sequence)
    assert records[0].previous_hash == genesis
    assert all(a.record_hash == b.previous_hash for a, b in pairwise(records))


def test_a_subject_finds_exactly_the_records_that_name_them(log: Log) -> None:
    """First subject or further subject alike: what the subject index serves."""
    everyone = {s for i in range(1, RECORDS + 1) for s in subjects_of(i)}
    for subject in sorted(everyone):
        found = log.query(AccessQuery(subjects=(subject,)))
        named = [i for i in range(1, RECORDS + 1) if subject in subjects_of(i)]
        assert [r.sequence for r in found] == named, subject


@pytest.mark.parametrize(
    ("corrupt", "first_bad", "problem"), CORRUPTIONS, ids=[c[0].__name__ for c in CORRUPTIONS]
)
def test_every_corruption_is_caught_at_the_first_bad_record(
    log: Log, corrupt: Corruption, first_bad: int, problem: str
) -> None:
    appended = corrupt(log)
    result = log.verify()
    assert not result.intact
    assert problem in result.problem  # caught for the right reason
    assert result.first_bad_sequence == (first_bad or appended), result.problem


def test_an_unreadable_checkpoint_file_is_reported_not_raised(log: Log) -> None:
    """A torn last line (a crash mid-append) or garbage: verification says so."""
    log.write_lines([*log.lines(), '{"kind": "checkpoint", "sequence": '])
    result = log.verify()
    assert not result.intact
    assert "unreadable" in result.problem


def test_the_lowest_differing_checkpoint_is_named(log: Log) -> None:
    """Two checkpoints missing from the file: the earlier one is the first bad record,
    whatever order their text happens to sort in."""
    # Twelve checkpoints: lines that start with a number (an epoch's) sort "10" before "2".
    stores = log.engine.open(log.settings)
    try:
        for i in range(RECORDS + 1, 2 * RECORDS):
            stores.append_access([entry(i)], now_us=T0_US + i * SECOND)
    finally:
        stores.close()
    lines = log.lines()
    disagreeing = [
        (i, j)
        for i in range(len(lines))
        for j in range(i + 1, len(lines))
        if lines[i] > lines[j]  # text order disagrees with sequence order
    ]
    assert disagreeing, "every pair of lines sorts in sequence order: the case tests nothing"
    first, second = disagreeing[0]
    log.write_lines([line for k, line in enumerate(lines) if k not in (first, second)])
    result = log.verify()
    assert not result.intact
    assert result.first_bad_sequence == Checkpoint.from_json(lines[first]).sequence, result.problem
    assert result.first_bad_sequence < Checkpoint.from_json(lines[second]).sequence


def test_records_after_the_last_checkpoint_cannot_be_changed_even_re_chained(log: Log) -> None:
    """Records after the last checkpoint are pinned by nothing yet (cutting them goes
    unnoticed until the next checkpoint, at most `checkpoint_every` records or
    `checkpoint_seconds` later); but a changed one, even re-chained, fails its MAC."""
    with log.attack() as db:
        db.update(31, content=edited_content(db.row(31).content, principal="mallory"))
        rechain(db, 31)
    result = log.verify()
    assert (result.intact, result.first_bad_sequence) == (False, 31), result.problem
    assert MAC in result.problem


def test_checkpoint_rows_missing_from_the_database_are_reported(log: Log) -> None:
    """The newest checkpoint row deleted from the database: its line in the file still
    pins what it signed, and verification says the database lacks it (a crash between
    the file's fsync and the commit leaves the same, so it is a warning, not a break)."""
    newest = log.lines()[-1]
    with log.attack() as db:
        db.delete_checkpoint_row(Checkpoint.from_json(newest).sequence)
    result = log.verify()
    assert result.intact, result.problem
    assert any("not in the database" in n for n in result.notices), result.notices
    with log.attack() as db:
        db.delete(26, -1)
    result = log.verify()
    assert (result.intact, result.first_bad_sequence) == (False, 26), result.problem


def test_a_record_appended_after_a_chains_closing_record_is_caught(log: Log) -> None:
    """Someone holding the keyring too (a process of the server, stalled past its lease)
    appends to a chain that was closed: verification names the record."""
    if not log.engine.closes_chains:
        pytest.skip(f"{log.engine.name} keeps one chain that every writer shares: never closed")
    key = record_key(load_keyring(log.settings.keyring_path).signing)
    with log.attack() as db:
        last = max(s for s in db.sequences() if db.same_chain(s, RECORDS))
        assert last > RECORDS, "the chain has no closing record"
        previous = db.row(last).record_hash
        content = canonical(last + 1, dataclasses.replace(entry(RECORDS), subjects=()), key.label)
        record_hash = chain_hash(previous, content)
        mac = _crypto.hmac_sha256(key.key, f"tactful-access-record/1|{record_hash}".encode())
        db.insert(last + 1, StoredRecord(content, previous, record_hash, mac.hex()))
    result = log.verify()
    assert (result.intact, result.first_bad_sequence) == (False, last + 1), result.problem
    assert CLOSED in result.problem


# -- truncation ---------------------------------------------------------------------------

KEPT_FROM = 20  # truncated before the time of record 20, at the time of record 40


def truncated(log: Log) -> Log:
    assert log.truncate_before(T0_US + KEPT_FROM * SECOND, now_us=T0_US + 40 * SECOND) == 19
    return log


def test_truncation_keeps_the_log_verifiable_and_counts_what_remains(log: Log) -> None:
    truncated(log)
    assert log.verify() == Verification(True, RECORDS - 19)
    assert [r.sequence for r in log.query(AccessQuery())] == list(range(KEPT_FROM, RECORDS + 1))
    cut = subjects_of(19)[0]  # named by a record truncated only
    assert log.query(AccessQuery(subjects=(cut,))) == []


def edit_23(log: Log) -> None:
    with log.attack() as db:
        db.update(23, content=edited_content(db.row(23).content, purpose="analytics"))


def delete_the_first_kept(log: Log) -> None:
    with log.attack() as db:
        db.delete(KEPT_FROM)


def delete_more_than_truncated(log: Log) -> None:
    with log.attack() as db:
        db.delete(KEPT_FROM, 23)


def drop_the_truncation_line(log: Log) -> None:
    """The signed line saying where the log now starts, gone from the file."""
    kept = [line for line in log.lines() if not log.engine.is_truncation(line)]
    assert len(kept) == len(log.lines()) - 1  # exactly one truncation was signed
    log.write_lines(kept)


def recompute_after_the_cut(log: Log) -> None:
    edit_23(log)
    with log.attack() as db:
        rechain(db, 23)


def move_the_truncation_forward(log: Log) -> None:
    """A forged truncation (signed by another key) hiding records 20..22."""
    lines = log.lines()
    truncation = Checkpoint.from_json(lines[-1])
    with log.attack() as db:
        forged = resigned(
            truncation, log.other_keys, sequence=23, record_hash=db.row(23).previous_hash
        )
        db.delete(KEPT_FROM, 22)
        db.replace_checkpoint_row(lines[-1], forged.to_json())
    log.write_lines([*lines[:-1], forged.to_json()])


AFTER_TRUNCATION: list[tuple[Corruption, int]] = [
    (edit_23, 23),
    (delete_the_first_kept, 20),
    (delete_more_than_truncated, 20),
    (drop_the_truncation_line, 20),
    (recompute_after_the_cut, 23),
    (move_the_truncation_forward, 23),
]


@pytest.mark.parametrize(
    ("corrupt", "first_bad"), AFTER_TRUNCATION, ids=[c[0].__name__ for c in AFTER_TRUNCATION]
)
def test_a_corruption_after_truncation_is_still_caught(
    log: Log, corrupt: Corruption, first_bad: int
) -> None:
    corrupt(truncated(log))
    result = log.verify()
    assert not result.intact
    assert result.first_bad_sequence == first_bad, result.problem
