"""Every PostgreSQL cluster a test run starts is gone when that run ends, whatever
happened: a failing test, a run ended by SIGTERM, or killed outright (SIGKILL runs no
Python at all). Before, a cluster could be left running for hours after `make test`.

Each case runs pytest in a child process on a test that starts the shared cluster and
a throwaway one, writes their folders down, then ends as the case says."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.postgres_cluster import binaries

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import os, signal
from pathlib import Path
from tests.postgres_cluster import shared_cluster, throwaway_cluster

def test_starts_clusters_then_ends():
    shared = shared_cluster()
    with throwaway_cluster() as own:
        folders = [str(shared.data.parent), str(own.data.parent)]
        Path(os.environ["FOLDERS_FILE"]).write_text("\\n".join(folders))
        how = os.environ["HOW"]
        if how != "fail":
            os.kill(os.getpid(), getattr(signal, how))
            signal.pause()
        assert False, "a failing test"
"""


def _postgres_processes_of(folder: str) -> list[int]:
    """The pids of processes whose command line names `folder` (a postmaster names its
    data folder with -D)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # ended meanwhile
        if folder in command and "postgres" in command:
            found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("how", ["fail", "SIGTERM", "SIGKILL"])
def test_no_cluster_outlives_the_test_run(tmp_path: Path, how: str) -> None:
    if binaries() is None:
        pytest.skip("PostgreSQL binaries are not on this machine")
    child = tmp_path / "test_child.py"
    child.write_text(CHILD)
    folders_file = tmp_path / "folders"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOW": how, "FOLDERS_FILE": str(folders_file)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(child)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode != 0, run.stdout  # the child failed, or was killed
    folders = folders_file.read_text().split("\n")
    assert len(folders) == 2, run.stdout + run.stderr
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # bounded: the watchdog stops a server in seconds
        left = {f: _postgres_processes_of(f) for f in folders if Path(f).exists()}
        left |= {f: pids for f in folders if (pids := _postgres_processes_of(f))}
        if not left:
            return
        time.sleep(0.2)
    pytest.fail(f"left behind after the run ended by {how}: {left}")
