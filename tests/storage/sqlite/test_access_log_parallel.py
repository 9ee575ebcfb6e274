"""Verification split over two processes finds the same first bad record."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

import tactful.storage.sqlite.access_log as store_module
from tactful.privacy.access_log import AccessEntry, Decided
from tactful.privacy.keyring import create_keyring
from tactful.storage.sqlite.access_log import SqliteAccessLog

RECORDS = 60  # split at (1 + 60) // 2 = 30


def entry(n: int) -> AccessEntry:
    return AccessEntry(
        n,
        f"principal-{n % 3}",
        "frontend",
        "m",
        "support_triage",
        (f"hmac-sha256:v1:{n:064x}",),
        (),
        ("new_visitor",),
        Decided.ALLOWED,
        "OK",
        "ok",
        f"request-{n}",
        n,
    )


@pytest.fixture
def log_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, object]:
    monkeypatch.setattr(store_module, "PARALLEL_FROM", 10)
    keys = create_keyring(tmp_path / "keyring.json", now=datetime(2026, 11, 27, tzinfo=UTC))
    log = SqliteAccessLog(
        tmp_path / "log.db", tmp_path / "checkpoints", keys.signing, checkpoint_every=7
    )
    for n in range(1, RECORDS + 1, 5):
        log.append([entry(n + i) for i in range(5)], now_us=n)
    log.close()
    return tmp_path / "log.db", tmp_path / "checkpoints", keys.signing


def reopened(files: tuple[Path, Path, object]) -> SqliteAccessLog:
    return SqliteAccessLog(files[0], files[1], files[2])  # type: ignore[arg-type]


def execute(path: Path, sql: str) -> None:
    with sqlite3.connect(path) as db:
        db.execute(sql)


CORRUPTIONS: dict[str, tuple[Callable[[Path], None], int]] = {
    "edit in the second half": (
        lambda p: execute(
            p,
            "UPDATE records SET content = replace(content, 'request-45',"
            " 'request-99') WHERE sequence = 45",
        ),
        45,
    ),
    "delete the first of the second half": (
        lambda p: execute(p, "DELETE FROM records WHERE sequence = 31"),
        31,
    ),
    "delete the last of the first half": (
        lambda p: execute(p, "DELETE FROM records WHERE sequence = 30"),
        30,
    ),
    "edit the last of the first half": (
        lambda p: execute(
            p,
            "UPDATE records SET content = replace(content, 'request-30',"
            " 'request-99') WHERE sequence = 30",
        ),
        30,
    ),
    "edit in the first half": (
        lambda p: execute(
            p,
            "UPDATE records SET content = replace(content, 'principal-0',"
            " 'principal-9') WHERE sequence = 3",
        ),
        3,
    ),
}


def test_intact_log_verifies_in_parallel(log_files: tuple[Path, Path, object]) -> None:
    result = reopened(log_files).verify()
    assert (result.intact, result.records) == (True, RECORDS)


@pytest.mark.parametrize(("corrupt", "first_bad"), CORRUPTIONS.values(), ids=CORRUPTIONS)
def test_parallel_verification_names_the_first_bad_record(
    log_files: tuple[Path, Path, object], corrupt: Callable[[Path], None], first_bad: int
) -> None:
    corrupt(log_files[0])
    result = reopened(log_files).verify()
    assert not result.intact
    assert result.first_bad_sequence == first_bad, result
