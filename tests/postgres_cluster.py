"""A throwaway PostgreSQL 15 cluster for the tests: initdb in a temporary folder,
started on a free port of 127.0.0.1, stopped and removed afterwards.

PostgreSQL refuses to run as root, so when the tests run as root (CI does) the
server runs as the `postgres` user. Where the binaries are missing the tests
skip with a message, unless TACTFUL_REQUIRE_POSTGRES is set (`.ci/run` sets it),
which makes such a skip a failure: CI always runs them.

Every cluster is gone when the test process is, whatever happened: the context
manager stops it and removes its folder; the shared cluster is stopped at exit;
and a watchdog process started beside each cluster, in a session of its own (so
that Ctrl-C or a `timeout` that kills the test's process group spares it),
stops and removes the cluster as soon as the test process has ended without doing
so (killed, SIGTERM, a crash).
"""

from __future__ import annotations

import atexit
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

# The watchdog: argv is the test process's pid, the cluster's folder, then the command
# that stops the server. It returns at once when the folder goes (a normal stop).
_WATCHDOG = """
import os, shutil, subprocess, sys, time
pid, root, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
while os.path.exists(root):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        break
    time.sleep(0.2)
else:
    sys.exit(0)
if os.path.exists(os.path.join(root, "data", "postmaster.pid")):
    subprocess.run(stop, capture_output=True, timeout=120)
shutil.rmtree(root, ignore_errors=True)
"""

SEARCH = ("/usr/lib/postgresql/15/bin", "/usr/local/bin", "/usr/bin")


@dataclass(frozen=True)
class Cluster:
    host: str
    port: int
    user: str
    data: Path | None = None  # the data folder, for stop() and start()
    _pg_ctl: tuple[str, ...] = ()  # (runuser …) pg_ctl, and the start options

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/postgres"

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server: "immediate" is a crash (no shutdown checkpoint)."""
        *pg_ctl, _options = self._pg_ctl
        subprocess.run([*pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop"],
                       check=True, capture_output=True, timeout=120)  # fmt: skip

    def start(self) -> None:
        """Start the server again on the same port (after stop)."""
        *pg_ctl, options = self._pg_ctl
        assert self.data is not None
        log = self.data.parent / "server.log"
        subprocess.run([*pg_ctl, "-D", str(self.data), "-o", options, "-w", "-t", "60",
                        "start", "-l", str(log)], check=True, capture_output=True,
                       timeout=120)  # fmt: skip


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


# Whether clusters fsync: benchmarks measure a cluster as it runs (on); the test run
# turns it off (tests/conftest.py): the crashes tests make (stop("immediate"), a killed
# server) are process crashes, which lose nothing the kernel already holds; only the
# machine's own crash would, and no test makes one. With fsync, every commit and
# CREATE DATABASE waited on the disk the whole machine shares.
durable = [True]


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

    stop = [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
    watchdog = subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(root), *stop],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        # initdb's closing sync is for a folder that outlives a machine's crash.
        pg(str(bin_dir / "initdb"), "-D", str(data), "-U", "tactful", "--auth=trust", "-E", "UTF8",
           "--no-sync")  # fmt: skip
        options = (
            f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1"
            f" -c fsync={'on' if durable[0] else 'off'}"
            " -c max_connections=300"  # every test opens pools of its own
        )
        cluster = Cluster(
            "127.0.0.1", port, "tactful", data, (*run_as, str(bin_dir / "pg_ctl"), options)
        )
        cluster.start()
        yield cluster
    finally:
        pg_ctl = [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data)]
        # Immediate: a shutdown checkpoint would write out what is about to be removed
        # (it took seconds per cluster); tried twice, as the folder goes either way.
        for _ in range(2):
            if (data / "postmaster.pid").exists():
                with suppress(subprocess.SubprocessError):
                    subprocess.run([*pg_ctl, "-m", "immediate", "-w", "stop"],
                                   capture_output=True, timeout=120)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)
        watchdog.wait(timeout=30)  # it sees the folder gone and ends


_shared: list[Cluster] = []
_names = itertools.count(1)


_shared_stack = ExitStack()


def shared_cluster() -> Cluster:
    """One cluster for the whole test run, started on first use, removed when the session
    finishes (tests/conftest.py) or at exit; each test takes fresh databases in it
    (`fresh_database`)."""
    if not _shared:
        _shared.append(_shared_stack.enter_context(throwaway_cluster()))
        atexit.register(stop_shared_cluster)
    return _shared[0]


def stop_shared_cluster() -> None:
    """Stop and remove the shared cluster, if one was started (again: nothing)."""
    _shared.clear()
    _shared_stack.close()


def fresh_database(cluster: Cluster, hint: str = "t") -> str:
    """An empty database of its own in `cluster`; its URL."""
    import psycopg

    name = f"{hint}_{os.getpid()}_{next(_names)}"
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]  # made above
    return cluster.url.rsplit("/", 1)[0] + "/" + name


def wal_file(cluster: Cluster) -> str:
    """The name of the WAL segment being written now: whatever is written from here on
    is in it or in a later one."""
    import psycopg

    with psycopg.connect(cluster.url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()
    assert row is not None
    return str(row[0])


def database_oid(url: str) -> int:
    """The database's number: its folder's name under base/."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT oid FROM pg_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def files_written_since(cluster: Cluster, databases: Iterable[str], first_wal: str) -> list[Path]:
    """What of the cluster's folder (its data directory, WAL and server log) can hold
    what was written to `databases` (URLs) since `first_wal` (wal_file()): everything
    but the other databases' folders under base/ and the WAL segments before it. Those
    are the rest of the run's (gigabytes late in a run: reading them took most of a
    minute). Folders and files; a folder is read whole."""
    assert cluster.data is not None
    data = cluster.data
    ours = {str(database_oid(url)) for url in databases}
    found = [p for p in data.parent.iterdir() if p != data]
    found += [p for p in data.iterdir() if p.name not in ("base", "pg_wal")]
    found += [p for p in (data / "base").iterdir() if p.name in ours or not p.name.isdigit()]
    found += [p for p in (data / "pg_wal").iterdir() if not _before(p.name, first_wal)]
    return found


def _before(name: str, first_wal: str) -> bool:
    """Whether `name` is a WAL segment older than `first_wal` (names of 24 hex digits
    sort as their positions do; anything else in pg_wal is never older)."""
    return len(name) == 24 and all(c in "0123456789ABCDEF" for c in name) and name < first_wal
