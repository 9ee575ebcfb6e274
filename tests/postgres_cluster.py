"""A throwaway PostgreSQL 15 cluster for the tests: initdb in a temporary folder,
started on a free port of 127.0.0.1, stopped and removed afterwards.

PostgreSQL refuses to run as root, so when the tests run as root (CI does) the
server runs as the `postgres` user. Where the binaries are missing the tests
skip with a message, unless TACTFUL_REQUIRE_POSTGRES is set (`.ci/run` sets it),
which makes such a skip a failure: CI always runs them.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

SEARCH = ("/usr/lib/postgresql/15/bin", "/usr/local/bin", "/usr/bin")


@dataclass(frozen=True)
class Cluster:
    host: str
    port: int
    user: str

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/postgres"


def binaries() -> Path | None:
    for folder in SEARCH:
        if all((Path(folder) / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def missing(why: str) -> None:
    if os.environ.get("TACTFUL_REQUIRE_POSTGRES"):
        pytest.fail(f"PostgreSQL tests cannot run: {why} (TACTFUL_REQUIRE_POSTGRES is set)")
    pytest.skip(f"PostgreSQL tests skipped: {why}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    bin_dir = binaries()
    if bin_dir is None:
        missing("initdb, pg_ctl and postgres are not on this machine")
    assert bin_dir is not None
    as_root = os.geteuid() == 0
    if as_root:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            missing("running as root and there is no postgres user to run the server as")
    root = Path(tempfile.mkdtemp(prefix="tactful-pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    if as_root:
        for path in (root, sockets):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    run_as = ["runuser", "-u", "postgres", "--"] if as_root else []
    port = free_port()

    def pg(*argv: str) -> None:
        subprocess.run([*run_as, *argv], check=True, capture_output=True, timeout=120)

    try:
        pg(str(bin_dir / "initdb"), "-D", str(data), "-U", "tactful", "--auth=trust", "-E", "UTF8")
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=on"
        pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-t", "60", "start",
           "-l", str(root / "server.log"))  # fmt: skip
        yield Cluster("127.0.0.1", port, "tactful")
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                capture_output=True,
                timeout=120,
            )
        shutil.rmtree(root, ignore_errors=True)
