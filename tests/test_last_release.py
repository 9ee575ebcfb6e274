"""A data folder made by the last release opens unchanged.

tests/data/last_release/sqlite/ was made by the code before the move under
src/tactful (f7afa40), with make_sqlite.py beside it: a keyring, a token in
tokens.json, the vault, the behavior store, and an access log with signed
checkpoints, holding ada@example.com (a consent, two events) and grace@example.com.
This code must serve it, verify its log, and export ada as that code did."""

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


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A copy of the folder (the server writes to it), with the modes the release
    left: git keeps no 0600 or 0700, and the server refuses a keyring others can read."""
    folder = shutil.copytree(MADE / "sqlite", tmp_path / "sqlite")
    data = folder / "data"
    data.chmod(0o700)
    for file in data.iterdir():
        file.chmod(0o600)
    return folder / "tactful.toml"


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    """What the last release printed and answered on this folder."""
    return json.loads((MADE / "sqlite" / "expected.json").read_text())  # type: ignore[no-any-return]


def test_the_folder_holds_what_the_last_release_makes() -> None:
    names = {p.name for p in (MADE / "sqlite" / "data").iterdir()}
    assert names == {
        "keyring.json",
        "tokens.json",
        "vault.db",
        "behavior.db",
        "insights.db",
        "access_log.db",
        "access-log.checkpoints",
    }
    checkpoints = (MADE / "sqlite" / "data" / "access-log.checkpoints").read_text()
    assert len(checkpoints.splitlines()) >= 3


def test_its_access_log_verifies_intact(
    config: Path, expected: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "verify", "--config", str(config)]) == 0
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
    env = {k: v for k, v in os.environ.items() if not k.startswith("TACTFUL_")}
    process, target, _ = serve_process(["--config", str(config)], env)
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
    assert main(["audit", "verify", "--config", str(config)]) == 0
    assert capsys.readouterr().out.startswith("intact: 9 records")  # 7, and two calls
