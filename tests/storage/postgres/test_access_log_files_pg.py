"""The PostgreSQL access log's checkpoint files: one per signing host, each holding only
the epochs its host signed, checked against the database's copy of every epoch; and a
crash between a line's fsync and its commit, which leaves that line in a file only."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from tactful.privacy.access_log import AccessLogUnavailable, Checkpoint, Verification
from tests.storage.contract.test_contract_access_log import SECOND, T0_US, entry

pytest.importorskip("psycopg")

from tactful.storage.postgres.access_log import PostgresAccessLog  # noqa: E402
from tests.storage.postgres.test_access_log_pg import PgLog, new_log  # noqa: E402

QUIET = 10**6  # no checkpoint by count: every epoch below is signed on purpose


def two_hosts(tmp_path: Path) -> tuple[PgLog, PgLog]:
    """One database, two hosts: each server keeps its checkpoint file on its own host."""
    a = new_log(tmp_path)
    return a, dataclasses.replace(a, checkpoints_path=tmp_path / "host-b" / "checkpoints.jsonl")


def signed_in_turn(a: PgLog, b: PgLog) -> None:
    """Twelve records, two by each host in turn, each signing an epoch after its two:
    epochs 1, 3, 5 are in host a's file, 2, 4, 6 in host b's."""
    logs = a.open(checkpoint_every=QUIET), b.open(checkpoint_every=QUIET)
    try:
        for i in range(1, 13):
            log = logs[(i - 1) // 2 % 2]
            log.append([entry(i)], now_us=T0_US + i * SECOND)
            if i % 2 == 0:
                log.checkpoint(now_us=T0_US + i * SECOND)
    finally:
        for log in logs:
            log.close()


def test_each_hosts_file_holds_its_own_epochs_and_every_file_verifies(tmp_path: Path) -> None:
    a, b = two_hosts(tmp_path)
    signed_in_turn(a, b)
    assert [Checkpoint.from_json(line).sequence for line in a.lines()] == [2, 6, 10]
    assert [Checkpoint.from_json(line).sequence for line in b.lines()] == [4, 8, 12]
    assert a.verify(files=(b.checkpoints_path,)) == Verification(True, 12)
    assert a.verify() == Verification(True, 12)
    assert b.verify(files=(a.checkpoints_path,)) == Verification(True, 12)


def swap_the_first_two(lines: list[str]) -> list[str]:
    return [lines[1], lines[0], *lines[2:]]


def repeat_the_second(lines: list[str]) -> list[str]:
    return [*lines[:2], lines[1], *lines[2:]]


def drop_the_second(lines: list[str]) -> list[str]:
    return [lines[0], *lines[2:]]


@pytest.mark.parametrize(
    ("corrupt", "problem", "first_bad"),
    [
        (swap_the_first_two, "is out of order", 4),
        (repeat_the_second, "a line is repeated", 8),
        (drop_the_second, "differ from the checkpoint file", 8),
    ],
    ids=lambda v: v.__name__ if callable(v) else None,
)
def test_another_hosts_file_reordered_repeated_or_cut_is_caught_when_given(
    tmp_path: Path, corrupt: Callable[[list[str]], list[str]], problem: str, first_bad: int
) -> None:
    a, b = two_hosts(tmp_path)
    signed_in_turn(a, b)
    b.write_lines(corrupt(b.lines()))
    result = a.verify(files=(b.checkpoints_path,))
    assert not result.intact
    assert problem in result.problem and str(b.checkpoints_path) in result.problem
    assert result.first_bad_sequence == first_bad, result.problem
    # Host a's server alone cannot tell: that host's file is what it checks.
    assert a.verify() == Verification(True, 12)


def test_a_file_given_that_does_not_exist_is_reported(tmp_path: Path) -> None:
    a, b = two_hosts(tmp_path)
    signed_in_turn(a, b)
    result = a.verify(files=(tmp_path / "nowhere.jsonl",))
    assert not result.intact and "nowhere.jsonl is unreadable" in result.problem


def crash_after_the_fsync(log: PostgresAccessLog, monkeypatch: pytest.MonkeyPatch) -> None:
    """The next epoch reaches the file, fsync'd, and the process dies before the commit."""
    publish = log._publish

    def publish_then_die(line: str) -> None:
        publish(line)
        raise RuntimeError("the process died after the fsync")

    monkeypatch.setattr(log, "_publish", publish_then_die)


def epochs_in_the_database(log: PgLog) -> int:
    with log.attack() as db:
        return len(db.checkpoint_rows())


def assert_file_only(result: Verification, expected: Verification) -> None:
    """Intact, reporting the one line the database lacks (a crash, or a row deleted)."""
    assert dataclasses.replace(result, notices=()) == expected, result.problem
    (notice,) = result.notices
    assert "1 signed checkpoint(s)" in notice and "not in the database" in notice


def test_a_line_left_by_a_crash_still_pins_what_it_signed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = new_log(tmp_path)
    log = made.open(checkpoint_every=QUIET)
    try:
        log.append([entry(i) for i in range(1, 4)], now_us=T0_US)
        log.checkpoint(now_us=T0_US)
        log.append([entry(i) for i in range(4, 7)], now_us=T0_US + SECOND)
        crash_after_the_fsync(log, monkeypatch)
        with pytest.raises(AccessLogUnavailable):
            log.checkpoint(now_us=T0_US + SECOND)
    finally:
        log.close()
    assert (len(made.lines()), epochs_in_the_database(made)) == (2, 1)
    assert_file_only(made.verify(), Verification(True, 6))
    with made.attack() as db:
        db.delete(5, 6)  # pinned by the line the crash left, and by nothing else
    result = made.verify()
    assert (result.intact, result.first_bad_sequence) == (False, 5), result.problem


def test_a_server_signing_again_after_a_crash_leaves_a_verifiable_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lost line's number is taken by the next epoch: both stay in the file."""
    made = new_log(tmp_path)
    log = made.open(checkpoint_every=QUIET)
    try:
        log.append([entry(1)], now_us=T0_US)
        log.checkpoint(now_us=T0_US)
        log.append([entry(2)], now_us=T0_US + SECOND)
        with monkeypatch.context() as patched:
            crash_after_the_fsync(log, patched)
            with pytest.raises(AccessLogUnavailable):
                log.checkpoint(now_us=T0_US + SECOND)
        log.append([entry(3)], now_us=T0_US + 2 * SECOND)
        log.checkpoint(now_us=T0_US + 2 * SECOND)
    finally:
        log.close()
    assert (len(made.lines()), epochs_in_the_database(made)) == (3, 2)
    assert_file_only(made.verify(), Verification(True, 3))
    lines = made.lines()
    made.write_lines([lines[0], lines[2], lines[1]])  # the lost line after its successor
    result = made.verify()
    assert not result.intact and "out of order" in result.problem, result.problem


def test_the_newest_epochs_of_two_hosts_deleted_still_pin_through_their_files(
    tmp_path: Path,
) -> None:
    """Whoever holds the database deletes the two newest epoch rows (one signed by each
    host) and cuts the tail they pinned: both files given, both lines pin again."""
    a, b = two_hosts(tmp_path)
    first, second = a.open(checkpoint_every=QUIET), b.open(checkpoint_every=QUIET)
    try:
        first.append([entry(i) for i in range(1, 4)], now_us=T0_US)
        first.checkpoint(now_us=T0_US)  # epoch 1, host a
        second.append([entry(i) for i in range(4, 7)], now_us=T0_US + SECOND)
        second.checkpoint(now_us=T0_US + SECOND)  # epoch 2, host b
        first.append([entry(i) for i in range(7, 10)], now_us=T0_US + 2 * SECOND)
        first.checkpoint(now_us=T0_US + 2 * SECOND)  # epoch 3, host a: pins 9
    finally:
        first.close()
        second.close()
    assert a.verify(files=(b.checkpoints_path,)) == Verification(True, 9)
    with a.attack() as db:
        db.delete_epoch(3)
        db.delete_epoch(2)
        db.delete(8, 9)
    result = a.verify(files=(b.checkpoints_path,))
    assert not result.intact
    assert result.first_bad_sequence == 8 and "missing" in result.problem, result.problem
