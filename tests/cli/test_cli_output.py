"""Exports to a file: mode 0600, never through a symbolic link, never over an existing
file without --force."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tactful.cli.main import main
from tests.cli.test_cli_audit import config_for
from tests.conftest import Tactful, email, page_view

EXPORTS = {
    "audit": ("audit", "export"),
    "subject": ("subjects", "export", "--namespace", "email", "--id", "ada@example.com"),
}


@pytest.fixture
def config(tactful: Tactful, tmp_path: Path) -> Path:
    tactful.record("support_triage", page_view(email("ada@example.com")))
    tactful.stop()
    return config_for(tactful, tmp_path)


def export(config: Path, which: str, output: Path, *more: str) -> int:
    return main([*EXPORTS[which], "--output", str(output), *more, "--config", str(config)])


@pytest.mark.parametrize("which", sorted(EXPORTS))
def test_an_export_file_is_readable_by_its_owner_only(
    config: Path, tmp_path: Path, which: str, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out.json"
    previous = os.umask(0o022)  # the usual umask, which leaves new files at 0644
    try:
        assert export(config, which, output) == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    assert "ada" in output.read_text() or "hmac-sha256" in output.read_text()
    assert "(mode 0600)" in capsys.readouterr().err


@pytest.mark.parametrize("which", sorted(EXPORTS))
@pytest.mark.parametrize("force", [False, True], ids=["", "--force"])
def test_an_export_never_follows_a_symbolic_link(
    config: Path, tmp_path: Path, which: str, force: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("kept\n")
    link = tmp_path / "out.json"
    link.symlink_to(target)
    assert export(config, which, link, *(["--force"] if force else [])) == 1
    err = capsys.readouterr().err
    assert "symbolic link" in err and len(err.splitlines()) == 1
    assert target.read_text() == "kept\n" and link.is_symlink()


@pytest.mark.parametrize("which", sorted(EXPORTS))
def test_an_export_replaces_a_file_only_with_force(
    config: Path, tmp_path: Path, which: str, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out.json"
    output.write_text("an earlier export\n")
    os.chmod(output, 0o644)
    assert export(config, which, output) == 1
    assert "exists; give --force" in capsys.readouterr().err
    assert output.read_text() == "an earlier export\n"
    assert export(config, which, output, "--force") == 0
    text = output.read_text()
    assert text != "an earlier export\n"
    json.loads(text.splitlines()[0] if which == "audit" else text)
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
