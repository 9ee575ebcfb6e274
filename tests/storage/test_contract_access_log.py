"""Invariant: every corruption of the access log is caught at its first bad record, for
the right reason, whatever engine keeps it.

The log of tests/test_access_log_chain.py (32 records, a signed checkpoint every 5, so
5, 10, …, 30 are pinned) is written through the engine as the server writes it; each
corruption goes through the engine's attacker adapter (its database) or the checkpoint
file, and a freshly opened domain must name the first sequence it can tell is bad.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import pytest

from privacy.access_log import (
    GENESIS_HASH,
    Checkpoint,
    Decided,
    Verification,
    canonical,
    chain_hash,
    decode,
)
from privacy.keyring import KeySet, create_keyring
from server.config import Settings
from tests.conftest import T0
from tests.storage.engines import AccessLogAttacker, Engine, StoredRecord
from tests.test_access_log_chain import (
    CHAIN,
    COPIES,
    LINK,
    PIN,
    PINNED,
    RECORDS,
    SECOND,
    SIGNATURE,
    SUBJECT_INDEX,
    T0_US,
    edited_content,
    entry,
    flip_bit,
    resigned,
)


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


@pytest.fixture
def log(engine: Engine, tmp_path: Path) -> Iterator[Log]:
    settings = engine.settings(tmp_path / "data", checkpoint_every=5, checkpoint_seconds=1e12)
    other = create_keyring(tmp_path / "other" / "keyring.json", now=T0).signing
    stores = engine.open(settings)
    try:
        for i in range(1, RECORDS + 1):  # one record per call, as a quiet server writes
            stores.append_access([entry(i)], now_us=T0_US + i * SECOND)
        assert [c.sequence for c in stores.checkpoints()] == PINNED  # the matrix needs them
    finally:
        stores.close()
    yield Log(engine, settings, other)


# -- what an attacker holding the database (or a broken disk) can do --------------------


def rechain(db: AccessLogAttacker, start: int) -> None:
    """Recompute every hash from `start` on, so the chain is consistent again."""
    previous = db.row(start - 1).record_hash if start > 1 else GENESIS_HASH
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
            _, original = decode(db.row(sequence).content)
            db.update(sequence, content=canonical(sequence, original))
        rechain(db, 12)


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


def edit_the_checkpoints_table(log: Log) -> None:
    with log.attack() as db:
        original = next(r for r in db.checkpoint_rows() if Checkpoint.from_json(r).sequence == 20)
        db.replace_checkpoint_row(original, original.replace('"time_us": ', '"time_us": 1'))


def delete_a_row_of_the_checkpoints_table(log: Log) -> None:
    with log.attack() as db:
        db.delete_checkpoint_row(20)


Corruption = Callable[[Log], None]

CORRUPTIONS: list[tuple[Corruption, int, str]] = [
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
    (recompute_the_chain_and_resign_in_file_and_database, 15, SIGNATURE),
    (resign_a_checkpoint_in_the_file_and_database, 15, SIGNATURE),
    (flip_a_bit_of_a_checkpoint_signature, 15, SIGNATURE),
    (resign_a_checkpoint_in_the_file, 15, COPIES),
    (delete_a_checkpoint_line_from_the_file, 15, COPIES),
    (edit_the_checkpoints_table, 20, COPIES),
    (delete_a_row_of_the_checkpoints_table, 20, COPIES),
]


def test_an_untouched_log_verifies_with_every_record_counted(log: Log) -> None:
    assert log.verify() == Verification(True, RECORDS)


@pytest.mark.parametrize(
    ("corrupt", "first_bad", "problem"), CORRUPTIONS, ids=[c[0].__name__ for c in CORRUPTIONS]
)
def test_every_corruption_is_caught_at_the_first_bad_record(
    log: Log, corrupt: Corruption, first_bad: int, problem: str
) -> None:
    corrupt(log)
    result = log.verify()
    assert not result.intact
    assert problem in result.problem  # caught for the right reason
    assert result.first_bad_sequence == first_bad, result.problem
