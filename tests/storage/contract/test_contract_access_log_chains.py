"""Invariant: with several server processes writing one access log, whatever an
attacker holding the database does to one writer's records is caught.

On SQLite the writers share one chain behind one lock; on PostgreSQL each has a chain
of its own, bound to the others by signed epochs. Each case is phrased by what the
writers wrote (sequences they were given), so that it holds on both; a case that only
many chains allow (records moved into another chain) skips on SQLite, saying why.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tactful.app import stores
from tactful.app.settings import Settings
from tactful.privacy.access_log import Checkpoint, Verification
from tactful.privacy.keyring import load_keyring
from tests.storage.contract.test_contract_access_log import SECOND, T0_US, entry
from tests.storage.engines import Engine


@dataclass(frozen=True)
class Writers:
    """Two writers' records in one log: `ours` and `theirs` are the sequences of each."""

    engine: Engine
    settings: Settings
    ours: list[int]
    theirs: list[int]

    def verify(self) -> Verification:
        log = open_log(self.settings)
        try:
            result: Verification = log.verify()
            return result
        finally:
            log.close()


def open_log(settings: Settings) -> Any:
    """The access log as one more server process opens it."""
    return stores.open_access_log(settings, load_keyring(settings.keyring_path).signing)


@pytest.fixture
def writers(engine: Engine, tmp_path: Path) -> Iterator[Writers]:
    """Two processes alternate, three records each turn; one signs half way, the other
    at the end."""
    settings = engine.settings(tmp_path / "data", checkpoint_every=10**6, checkpoint_seconds=1e12)
    ours, theirs = open_log(settings), open_log(settings)
    got: tuple[list[int], list[int]] = ([], [])
    try:
        for turn in range(8):
            for k, log in enumerate((ours, theirs)):
                at = T0_US + (turn * 2 + k) * SECOND
                batch = [entry(turn * 6 + k * 3 + i + 1) for i in range(3)]
                got[k].extend(r.sequence for r in log.append(batch, now_us=at))
            if turn == 3:
                ours.checkpoint(now_us=T0_US + 50 * SECOND)
        theirs.checkpoint(now_us=T0_US + 100 * SECOND)
    finally:
        ours.close()
        theirs.close()
    yield Writers(engine, settings, *got)


def test_two_writers_log_verifies(writers: Writers) -> None:
    assert writers.verify() == Verification(True, 48)


def test_every_record_of_one_writer_dropped_is_caught(writers: Writers) -> None:
    with writers.engine.attacker(writers.settings) as db:
        for sequence in writers.theirs:
            db.delete(sequence)
    result = writers.verify()
    assert not result.intact
    assert result.first_bad_sequence == writers.theirs[0], result.problem


def test_another_writers_tail_cut_before_the_last_checkpoint_is_caught(writers: Writers) -> None:
    with writers.engine.attacker(writers.settings) as db:
        for sequence in writers.theirs[-4:]:
            db.delete(sequence)
    result = writers.verify()
    assert not result.intact
    assert result.first_bad_sequence == writers.theirs[-4], result.problem
    assert "missing" in result.problem


def test_a_changed_checkpoint_row_is_caught(writers: Writers) -> None:
    with writers.engine.attacker(writers.settings) as db:
        row = db.checkpoint_rows()[0]
        db.replace_checkpoint_row(row, row.replace('"time_us": ', '"time_us": 1'))
    result = writers.verify()
    assert not result.intact
    assert "differ from the checkpoint file" in result.problem


def test_a_deleted_checkpoint_row_is_caught(writers: Writers) -> None:
    """The first of two: the file still has it, the database lacks it."""
    with writers.engine.attacker(writers.settings) as db:
        row = db.checkpoint_rows()[0]
        db.delete_checkpoint_row(Checkpoint.from_json(row).sequence)
    result = writers.verify()
    assert not result.intact
    assert "differ from the checkpoint file" in result.problem


def test_one_writers_records_moved_into_the_other_chain_are_caught(writers: Writers) -> None:
    if writers.engine.name == "sqlite":
        pytest.skip("SQLite keeps one chain for every writer: there is no other chain")
    with writers.engine.attacker(writers.settings) as db:
        chain = db.chain_of(writers.ours[0])  # type: ignore[attr-defined]
        db.move(writers.theirs[3:6], chain)  # type: ignore[attr-defined]
    result = writers.verify()
    assert not result.intact
    assert result.first_bad_sequence == writers.theirs[3], result.problem


def test_a_whole_chain_dropped_with_its_registration_is_caught(writers: Writers) -> None:
    if writers.engine.name == "sqlite":
        pytest.skip("SQLite keeps one chain for every writer: there is no chain to drop")
    with writers.engine.attacker(writers.settings) as db:
        db.drop_chain(db.chain_of(writers.theirs[0]))  # type: ignore[attr-defined]
    result = writers.verify()
    assert not result.intact
    assert result.first_bad_sequence == writers.theirs[0], result.problem
