"""A data folder or database made by the last release opens unchanged.

tests/data/last_release/ holds what the code before the move under src/tactful
(f7afa40) made, with the scripts beside it: a SQLite data folder (a keyring, a token
in tokens.json, the vault, the behavior store, and an access log with signed
checkpoints) and the same on PostgreSQL (plain-SQL dumps of the behavior and vault
databases, the server's keyring and checkpoints), holding ada@example.com (a consent,
two events) and grace@example.com. This code must serve each, verify its log, and
export ada as that code did: the SQLite folder as it is (its files migrate themselves
when opened), the PostgreSQL databases after `tactful db migrate`, the documented
upgrade (docs/operations/postgresql.md: a server refuses tables older than it knows)."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest

from tactful.cli.main import main
from tactful.client import Subject, connect
from tests.conftest import serve_process

MADE = Path(__file__).parent / "data" / "last_release"
ADA = Subject("email", "ada@example.com")


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def config(engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the folder (the server writes to it), with the modes the release
    left: git keeps no 0600 or 0700, and the server refuses a keyring others can read.
    On PostgreSQL, the release's dumps loaded into fresh databases, whose URLs are in
    TACTFUL_STORAGE_URL and TACTFUL_VAULT_URL (the config names none), then migrated."""
    for name in list(os.environ):
        if name.startswith("TACTFUL_") and name != "TACTFUL_REQUIRE_POSTGRES":
            monkeypatch.delenv(name)
    folder = shutil.copytree(MADE / engine, tmp_path / engine)
    data = folder / "data"
    data.chmod(0o700)
    for file in data.iterdir():
        file.chmod(0o600)
    if engine == "postgres":
        monkeypatch.setenv("TACTFUL_STORAGE_URL", _loaded(folder / "behavior.sql"))
        monkeypatch.setenv("TACTFUL_VAULT_URL", _loaded(folder / "vault.sql"))
        assert main(["db", "migrate", "--config", str(folder / "tactful.toml")]) == 0
    return folder / "tactful.toml"


def _loaded(dump: Path) -> str:
    """A fresh database of the shared cluster holding `dump`: its URL."""
    pytest.importorskip("psycopg")
    import psycopg

    from tests.postgres_cluster import fresh_database, shared_cluster

    url = fresh_database(shared_cluster(), dump.stem)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(dump.read_text())  # type: ignore[arg-type]  # our own file
    return url


@pytest.fixture
def expected(engine: str) -> dict[str, Any]:
    """What the last release printed and answered on this folder."""
    return json.loads((MADE / engine / "expected.json").read_text())  # type: ignore[no-any-return]


def test_the_folders_hold_what_the_last_release_makes() -> None:
    files = {"keyring.json", "access-log.checkpoints"}
    sqlite = {"tokens.json", "vault.db", "behavior.db", "insights.db", "access_log.db"}
    assert {p.name for p in (MADE / "sqlite" / "data").iterdir()} == files | sqlite
    assert {p.name for p in (MADE / "postgres" / "data").iterdir()} == files
    for engine in ("sqlite", "postgres"):
        checkpoints = (MADE / engine / "data" / "access-log.checkpoints").read_text()
        assert len(checkpoints.splitlines()) >= 3
    dumps = [(MADE / "postgres" / f"{name}.sql").read_text() for name in ("behavior", "vault")]
    assert all("INSERT INTO public." in dump for dump in dumps)


def test_its_access_log_verifies_intact(
    config: Path, expected: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_verify(config)) == 0
    assert capsys.readouterr().out == expected["audit_verify"]


def test_its_person_is_exported_as_the_last_release_exported_them(
    config: Path, expected: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["subjects", "export", "--namespace", "email", "--id", ADA.id, "--config"]
    assert main([*argv, str(config)]) == 0
    exported = json.loads(capsys.readouterr().out)
    then = expected["export"]
    for part in ("subject", "consent_history", "events", "signals"):
        assert exported[part] == then[part], part
    assert "trial_member" in exported["segments"]["membership"]
    # Its records of the last release, unchanged, then whatever this code added.
    records = exported["access_records"]
    assert records[: len(then["access_records"])] == then["access_records"]


@pytest.mark.slow
def test_tactful_serve_starts_on_it_and_its_token_reads_the_same_segments(
    config: Path, expected: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    process, target, _ = serve_process(["--config", str(config)], dict(os.environ))
    try:
        with connect(target, expected["token"], plaintext=True) as tactful:
            segments = tactful.segments(ADA, "membership").segments
            signals = tactful.signals(ADA, "membership", ["plan"]).values
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    assert list(segments) == expected["segments"] == ["trial_member"]
    assert signals == {"plan": "trial"}
    # The chain goes on from the last release's records, and still verifies.
    assert main(_verify(config)) == 0
    assert capsys.readouterr().out.startswith("intact: 9 records")  # 7, and two calls


def _verify(config: Path) -> list[str]:
    """`tactful audit verify`; on PostgreSQL, with the checkpoint file of the host
    that signed (the database names it by the path it had when it was made)."""
    argv = ["audit", "verify", "--config", str(config)]
    if os.environ.get("TACTFUL_STORAGE_URL"):
        argv += ["--checkpoints", str(config.parent / "data" / "access-log.checkpoints")]
    return argv
