"""The TLS walkthrough (docs/operations/tls.md, "Try it in five minutes") run as
written in a fresh git checkout: every file it makes, private keys first, is one git
ignores, and the keys are their owner's alone."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tactful.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "operations" / "tls.md"
BIN = Path(sys.executable).parent
GIT = ("git", "-c", "user.name=test", "-c", "user.email=test@example.org")


def walkthrough() -> str:
    """The page's first `sh` block after its "Try it" heading, up to the line that
    starts the server (it would not return)."""
    text = PAGE.read_text(encoding="utf-8")
    section = text[text.index("## Try it in five minutes") :]
    block = re.search(r"^```sh\n(.*?)^```", section, flags=re.S | re.M)
    assert block is not None
    lines = block.group(1).splitlines()
    (serve,) = [i for i, line in enumerate(lines) if "tactful serve" in line]
    return "\n".join(lines[:serve]) + "\n"


def run(argv: list[str] | str, cwd: Path) -> str:
    done = subprocess.run(
        argv,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        shell=isinstance(argv, str),
        executable="/bin/bash" if isinstance(argv, str) else None,
        env={k: v for k, v in os.environ.items() if not k.startswith("TACTFUL_")},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A git repository holding what the walkthrough reads: the checkout's .gitignore
    and examples/, committed."""
    repo = tmp_path / "checkout"
    repo.mkdir()
    (repo / ".gitignore").write_text((ROOT / ".gitignore").read_text(encoding="utf-8"))
    (repo / "examples").mkdir()
    for example in (ROOT / "examples").glob("*.toml"):
        (repo / "examples" / example.name).write_text(example.read_text(encoding="utf-8"))
    run([*GIT, "init", "--quiet"], repo)
    run([*GIT, "add", "."], repo)
    run([*GIT, "commit", "--quiet", "-m", "checkout"], repo)
    return repo


@pytest.mark.slow
def test_the_walkthrough_leaves_nothing_for_git_to_add(checkout: Path) -> None:
    script = walkthrough().replace(".venv/bin/", f"{BIN}/")
    run("set -euo pipefail\n" + script, checkout)
    keys = sorted(checkout.rglob("*.key"))
    assert len(keys) >= 2  # the server's, and a client's per principal
    assert (checkout / ".tactful-tls" / "data" / "keyring.json").is_file()
    status = run([*GIT, "status", "--porcelain", "--untracked-files=all", "--ignored=no"], checkout)
    assert status == ""
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert stat.S_IMODE(keys[0].parent.stat().st_mode) == 0o700


def test_certs_dev_makes_its_folder_private_and_ignored(tmp_path: Path) -> None:
    """Anywhere, not only where the checkout's .gitignore reaches."""
    repo = tmp_path / "elsewhere"
    repo.mkdir()
    run([*GIT, "init", "--quiet"], repo)
    assert main(["certs", "dev", str(repo / "deep" / "pki")]) == 0
    folder = repo / "deep" / "pki"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert sorted(folder.glob("*.key"))
    assert run([*GIT, "status", "--porcelain", "--untracked-files=all"], repo) == ""


def test_certs_dev_leaves_an_existing_folder_as_it_is(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    assert main(["certs", "dev", str(folder)]) == 0
    assert not (folder / ".gitignore").exists()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    for key in folder.glob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
