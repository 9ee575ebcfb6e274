"""The access log folds its WAL back into the database file in large windows.

Calls about many people (a RecordEvents batch) add a subject-index row per person,
and once the log has grown past its first minutes each row lands on a page of its
own. SQLite's default window (1,000 frames) then writes almost every page of the WAL
into the file again at each fold-back, inside a commit on the serving thread: the
pages written per record went from 6.2 to 11 as the log grew (docs/benchmarks-history.md,
"Soak"). A window of WAL_FOLD_BACK_FRAMES keeps them where a fresh log starts.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

from tactful.privacy.access_log import AccessEntry, Decided
from tactful.privacy.keyring import create_keyring
from tactful.storage.sqlite.access_log import WAL_FOLD_BACK_FRAMES, SqliteAccessLog

FRAME_BYTES = 4096 + 24  # a page and its frame header
SQLITE_DEFAULT_WINDOW = 1000


def entry(n: int, subjects: tuple[str, ...]) -> AccessEntry:
    return AccessEntry(
        n,
        "web_frontend",
        "frontend",
        "/tactful.v1.Personalization/RecordEvents",
        "onboarding",
        subjects,
        (),
        (),
        Decided.ALLOWED,
        "OK",
        "",
        f"r{n}",
        0,
    )


def test_commits_leave_the_wal_unfolded_until_its_window_is_full(tmp_path: Path) -> None:
    keys = create_keyring(tmp_path / "keyring.json", now=datetime(2026, 12, 1, tzinfo=UTC))
    log = SqliteAccessLog(tmp_path / "access_log.db", tmp_path / "checkpoints", keys.signing)
    wal = tmp_path / "access_log.db-wal"
    rng = random.Random(12)
    people = [f"hmac-sha256:v1:{rng.randbytes(32).hex()}" for _ in range(2000)]
    largest = 0
    # Batches about 25 people each, 8 to a commit, as the group commit writes them
    # under load, until the WAL has held twice SQLite's default window.
    for n in range(0, 8 * 400, 8):
        batch = [entry(n + k, tuple(sorted(rng.sample(people, 25)))) for k in range(8)]
        log.append(batch, now_us=n)
        largest = max(largest, wal.stat().st_size)
        if largest > 2 * SQLITE_DEFAULT_WINDOW * FRAME_BYTES:
            break
    log.close()
    assert largest > 2 * SQLITE_DEFAULT_WINDOW * FRAME_BYTES, (
        f"the WAL was folded back at {largest / FRAME_BYTES:.0f} frames at most"
    )
    assert largest <= (WAL_FOLD_BACK_FRAMES + 500) * FRAME_BYTES


def test_the_log_reads_the_same_through_an_unfolded_wal(tmp_path: Path) -> None:
    """Records written through a WAL window of thousands of frames are all there and
    verify after a reopen."""
    keys = create_keyring(tmp_path / "keyring.json", now=datetime(2026, 12, 1, tzinfo=UTC))
    open_log = lambda: SqliteAccessLog(  # noqa: E731
        tmp_path / "access_log.db", tmp_path / "checkpoints", keys.signing
    )
    log = open_log()
    rng = random.Random(3)
    people = [f"hmac-sha256:v1:{rng.randbytes(32).hex()}" for _ in range(300)]
    for n in range(0, 8 * 60, 8):
        log.append(
            [entry(n + k, tuple(sorted(rng.sample(people, 25)))) for k in range(8)], now_us=n
        )
    log.close()
    result = open_log().verify()
    assert result.intact, result.problem
    assert result.records == 480
