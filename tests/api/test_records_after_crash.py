"""A server killed (SIGKILL) under 8 writers, at random moments, three times: once it
runs again, every stored RecordEvents batch has exactly one access record naming its
call (the recovery writes those the crash cut off), and the log verifies."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

from tactful.app.domain import open_domain
from tactful.storage import sqlite
from tests.crash_load import load_for, random_moment, reconcile, until
from tests.postgres.servers import Server, settings_of, write_config

CRASHES = 3
TIMEOUT_MS = 200  # the recovery's grace is ten of them


def _pending(data_dir: Path) -> int:
    conn = sqlite3.connect(sqlite.path_of(data_dir, sqlite.BEHAVIOR))
    try:
        return int(conn.execute("SELECT count(*) FROM pending_records").fetchone()[0])
    except sqlite3.OperationalError:  # no such table: a Tactful that keeps none
        return 0
    finally:
        conn.close()


def test_batches_stored_before_a_kill_all_get_their_record(tmp_path: Path) -> None:
    config = write_config(tmp_path / "a", "", "", keyring=tmp_path / "keyring.json")
    with config.open("a") as file:
        file.write(f"[access_log]\nrecord_timeout_ms = {TIMEOUT_MS}\n")
    data_dir = settings_of(config).data_dir
    sent: dict[str, str] = {}
    for crash in range(CRASHES):
        server = Server(config)
        writers = load_for(random_moment(), server.target, f"c{crash}", sent)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=30)
        writers.stop()
        server.stop()
    server = Server(config)
    try:  # the pending records of the killed servers' calls are worked off
        assert until(lambda: _pending(data_dir) == 0, seconds=30)
    finally:
        output = server.stop()
    domain = open_domain(settings_of(config))
    try:
        unrecorded, twice, stored = reconcile(domain, sent)
        assert stored > 0
        assert unrecorded == [], f"{len(unrecorded)} of {stored} stored batches:\n{output}"
        assert twice == []
        assert domain.access_log.verify().intact
    finally:
        domain.close()
