"""`tactful keys retire`: every refusal says why, and gives only advice that can work."""

from __future__ import annotations

from pathlib import Path

import pytest

from tactful.cli.main import main
from tests.cli.test_cli_audit import config_for
from tests.conftest import Tactful, email, page_view


@pytest.fixture
def config(tactful: Tactful, tmp_path: Path) -> str:
    """A data folder with one person and signed access-log checkpoints (under v1)."""
    tactful.record("support_triage", page_view(email("ada@example.com")))
    tactful.stop()  # the final checkpoint is signed with signing key v1
    return str(config_for(tactful, tmp_path))


def refusal(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["keys", "retire", *argv]) == 1
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert captured.out == ""
    return line


def test_retiring_the_primary_says_to_rotate_first(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refusal(capsys, "v1", "--config", config)
    assert "pseudonym key v1 is the primary" in line
    assert "run `tactful keys rotate --use pseudonym` first" in line
    line = refusal(capsys, "v1", "--use", "vault", "--config", config)
    assert "vault key v1 is the primary" in line
    assert "run `tactful keys rotate-vault`, which re-wraps every data key" in line


def test_a_signing_key_behind_checkpoints_is_kept_for_verification_only(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for rotated in (False, True):  # primary or not, rotating cannot help it
        line = refusal(capsys, "v1", "--use", "signing", "--config", config)
        assert "signing key v1 signed 1 access-log checkpoints" in line
        assert "kept for verification only" in line and "cannot be retired" in line
        assert "rekey" not in line and "rotate" not in line
        if not rotated:
            assert main(["keys", "rotate", "--use", "signing", "--config", config]) == 0
            capsys.readouterr()


def test_a_used_version_that_is_not_primary_says_to_rekey(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "rotate", "--use", "pseudonym", "--config", config]) == 0
    capsys.readouterr()
    line = refusal(capsys, "v1", "--config", config)
    assert "still used by 1 vault entries" in line and "run `tactful keys rekey` first" in line
    assert main(["keys", "rekey", "--config", config]) == 0
    assert main(["keys", "retire", "v1", "--config", config]) == 0


def test_an_unknown_version_is_named(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    line = refusal(capsys, "v9", "--config", config)
    assert "pseudonym key v9 does not exist (live: v1)" in line
