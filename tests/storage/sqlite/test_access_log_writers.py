"""Two writers (the server and a command-line job) can append to one log."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tactful.privacy.access_log import AccessEntry, AccessQuery, Decided
from tactful.privacy.keyring import create_keyring
from tactful.storage.sqlite.access_log import SqliteAccessLog


def entry(n: int, who: str) -> AccessEntry:
    return AccessEntry(
        n,
        who,
        "",
        "tactful.retention/run",
        "",
        (),
        (),
        (),
        Decided.ALLOWED,
        "OK",
        "receipt",
        f"r{n}",
        0,
    )


def test_interleaved_writers_keep_one_chain(tmp_path: Path) -> None:
    keys = create_keyring(tmp_path / "keyring.json", now=datetime(2026, 11, 27, tzinfo=UTC))
    open_log = lambda: SqliteAccessLog(  # noqa: E731
        tmp_path / "log.db", tmp_path / "checkpoints", keys.signing, checkpoint_every=3
    )
    server, job = open_log(), open_log()
    for n in range(10):
        (server if n % 3 else job).append([entry(n, "server" if n % 3 else "job")], now_us=n)
    job.checkpoint(now_us=100)
    server.checkpoint(now_us=101)
    records = server.query(AccessQuery(), limit=100)
    assert [r.sequence for r in records] == list(range(1, 11))
    assert [r.entry.principal for r in records][:4] == ["job", "server", "server", "job"]
    result = open_log().verify()
    assert result.intact, result.problem
    assert result.records == 10


def test_a_checkpoint_torn_by_a_crash_is_not_tampering(tmp_path: Path) -> None:
    """A crash after the checkpoint file's fsync and before the database commit leaves
    the newest line in the file only: still intact. A line missing from the middle of
    the database's copy is not explained by a crash: tampered."""
    import sqlite3

    keys = create_keyring(tmp_path / "keyring.json", now=datetime(2026, 11, 27, tzinfo=UTC))
    log = SqliteAccessLog(
        tmp_path / "log.db", tmp_path / "checkpoints", keys.signing, checkpoint_every=2
    )
    for n in range(6):
        log.append([entry(n, "server")], now_us=n)
    log.close()
    with sqlite3.connect(tmp_path / "log.db") as db:
        assert db.execute("SELECT count(*) FROM checkpoints").fetchone()[0] == 3
        db.execute("DELETE FROM checkpoints WHERE id = (SELECT max(id) FROM checkpoints)")
    reopened = SqliteAccessLog(tmp_path / "log.db", tmp_path / "checkpoints", keys.signing)
    assert reopened.verify().intact
    with sqlite3.connect(tmp_path / "log.db") as db:
        db.execute("DELETE FROM checkpoints WHERE id = (SELECT min(id) FROM checkpoints)")
    assert not reopened.verify().intact
    reopened.close()
