"""An append waits for another writer's lock as long as it is told, each time: the
server's commits on the loop not at all, the others up to the lock timeout, in any
order (the connection's timeout is set only when it changes)."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tactful.privacy.access_log import AccessEntry, AccessLogBusy, Decided
from tactful.privacy.keyring import create_keyring
from tactful.storage.sqlite.access_log import SqliteAccessLog


def entry(n: int) -> AccessEntry:
    return AccessEntry(n, "server", "", "tactful.v1.Personalization/GetSegments", "", (), (),
                       (), Decided.ALLOWED, "OK", "ok", f"r{n}", 0)  # fmt: skip


def held_for(path: Path, seconds: float) -> threading.Thread:
    """Another writer holding the log's write lock for `seconds`, from now."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(seconds, lambda: (other.execute("ROLLBACK"), other.close()))
    release.start()
    return release


@pytest.mark.parametrize("waits_first", [True, False])
def test_each_append_waits_as_long_as_it_is_told(tmp_path: Path, waits_first: bool) -> None:
    keys = create_keyring(tmp_path / "keyring.json", now=datetime(2026, 12, 7, tzinfo=UTC))
    path = tmp_path / "log.db"
    log = SqliteAccessLog(path, tmp_path / "checkpoints", keys.signing, lock_timeout_s=5)
    log.append([entry(0)], now_us=0)  # the connection's timeout is the default here
    order = [None, 0.0] if waits_first else [0.0, None]
    for n, lock_wait_s in enumerate(order * 2, start=1):
        release = held_for(path, 0.5)
        started = time.monotonic()
        if lock_wait_s is None:  # waits until the other writer lets go
            log.append([entry(n)], now_us=n, lock_wait_s=lock_wait_s)
            assert time.monotonic() - started >= 0.4
        else:  # does not wait at all
            with pytest.raises(AccessLogBusy):
                log.append([entry(n)], now_us=n, lock_wait_s=lock_wait_s)
            assert time.monotonic() - started < 0.4
        release.join()
    assert log.verify().intact
