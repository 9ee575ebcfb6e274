"""`tactful serve --workers 2` on PostgreSQL, through real processes: calls land on
both workers (each its own access-log chain), a worker killed with SIGKILL is
replaced, nothing acknowledged is lost, the log verifies, and SIGTERM to the
supervisor stops every worker cleanly."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from tactful.app import stores
from tactful.app.domain import open_domain
from tactful.privacy.access_log import AccessQuery
from tactful.v1 import personalization_pb2, personalization_pb2_grpc
from tests.conftest import TACTFUL, bearer, email, page_view
from tests.postgres.servers import settings_of, write_config
from tests.postgres_cluster import fresh_database, shared_cluster

psycopg = pytest.importorskip("psycopg")

RECORD_EVENTS = "tactful.v1.Personalization/RecordEvents"
SERVING = re.compile(r"2 workers serving on 127\.0\.0\.1:(\d+) \(pids (\d+), (\d+);")


class Supervised:
    """`tactful serve --workers 2` in a child process; what it prints, read as it comes."""

    def __init__(self, config: Path, *extra: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TACTFUL_")}
        self.process = subprocess.Popen(
            [str(TACTFUL), "serve", "--config", str(config), "--workers", "2", *extra],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.printed: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.printed.append(line)

    def output(self) -> str:
        return "".join(self.printed)

    def wait_for(self, pattern: re.Pattern[str] | str, seconds: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output())
            if found:
                return found
            assert self.process.poll() is None or self._reader.is_alive(), self.output()
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} in {seconds} s:\n{self.output()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=90)
        self._reader.join(timeout=30)
        assert self.process.stdout is not None
        self.process.stdout.close()
        return code


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    cluster = shared_cluster()
    root = tmp_path_factory.mktemp("workers")
    behavior, vault = fresh_database(cluster, "behavior"), fresh_database(cluster, "vault")
    config = write_config(root / "host", behavior, vault, keyring=root / "keyring.json")
    with config.open("a") as file:  # a dead worker's chain is closed within ~5 s
        file.write("[access_log]\nepoch_seconds = 0.2\n")
    stores.migrate(settings_of(config))  # as `tactful db migrate` does
    return config, behavior


@pytest.fixture(scope="module")
def supervised(database: tuple[Path, str]) -> Iterator[tuple[Supervised, str, list[int]]]:
    config, _ = database
    server = Supervised(config)
    try:
        found = server.wait_for(SERVING)
        yield server, f"127.0.0.1:{found.group(1)}", [int(found.group(2)), int(found.group(3))]
    finally:
        server.stop()


def record_one(target: str, who: str) -> int:
    """One RecordEvents call on a connection of its own (so the kernel places it)."""
    with grpc.insecure_channel(target) as channel:
        stub = personalization_pb2_grpc.PersonalizationStub(channel)
        event = page_view(email(who), datetime.now(UTC) - timedelta(seconds=1), "/p")
        request = personalization_pb2.RecordEventsRequest(purpose="support_triage", events=[event])
        reply = stub.RecordEvents(request, metadata=bearer("support_widget"), timeout=30)
        return int(reply.stored)


def chain_pids(url: str) -> set[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT DISTINCT c.pid FROM access_log_chains c"
            " JOIN access_log_records r USING (chain_id)"
        ).fetchall()
    return {int(pid) for (pid,) in rows}


def open_chains_of(url: str, pid: int) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM access_log_leases l JOIN access_log_chains c USING (chain_id)"
            " WHERE c.pid = %s AND NOT l.closed",
            [pid],
        ).fetchone()
    return int(row[0]) if row else 0


def kept(config: Path, people: list[str]) -> tuple[list[str], list[str]]:
    """Of `people`, those without their event, and those without their access record."""
    domain = open_domain(settings_of(config))
    try:
        no_event, no_record = [], []
        for who in people:
            pseudonyms = tuple(domain.pseudonymizer.resolve("email", who))
            if not domain.subject_data.events_of(pseudonyms):
                no_event.append(who)
            query = AccessQuery(method=RECORD_EVENTS, subjects=pseudonyms)
            if not domain.access_log.query(query, limit=10):
                no_record.append(who)
        return no_event, no_record
    finally:
        domain.close()


def eventually(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s: {what}")


def test_calls_land_on_both_workers_each_its_own_chain(
    supervised: tuple[Supervised, str, list[int]], database: tuple[Path, str]
) -> None:
    server, target, pids = supervised
    _, url = database
    for i in range(40):
        assert record_one(target, f"both{i}@example.com") == 1
        if set(pids) <= chain_pids(url):
            break
    assert set(pids) <= chain_pids(url), (pids, chain_pids(url))
    assert server.output().count(f"listening on {target}") == 2  # a line from each worker


def test_a_killed_worker_is_replaced_and_nothing_acknowledged_is_lost(
    supervised: tuple[Supervised, str, list[int]], database: tuple[Path, str]
) -> None:
    server, target, pids = supervised
    config, url = database
    acknowledged: list[str] = []
    calling = threading.Event()
    calling.set()

    def call() -> None:
        n = 0
        while calling.is_set() and n < 2000:
            n += 1
            who = f"kill{n}@example.com"
            try:
                if record_one(target, who) == 1:
                    acknowledged.append(who)
            except grpc.RpcError:
                pass  # refused or cut while the worker died: not acknowledged, may be absent

    caller = threading.Thread(target=call)
    caller.start()
    try:
        eventually(lambda: len(acknowledged) >= 10, 60, "calls before the kill")
        os.kill(pids[0], signal.SIGKILL)
        restarted = server.wait_for(r"worker 0 restarted \(pid (\d+)\)")
        replacement = int(restarted.group(1))
        assert f"worker 0 (pid {pids[0]}) was killed by SIGKILL" in server.output()
        server.wait_for(r"worker 0 restarted .*\n(.*\n)*tactful: listening on")
        before = len(acknowledged)
        eventually(lambda: len(acknowledged) >= before + 10, 60, "calls after the restart")
    finally:
        calling.clear()
        caller.join(timeout=120)
    no_event, no_record = kept(config, acknowledged)
    assert (no_event, no_record) == ([], [])
    # The dead worker's chain: closed by the epoch signer once its lease ran out.
    killed = pids[0]
    pids[0] = replacement  # for the tests after this one
    eventually(lambda: open_chains_of(url, killed) == 0, 30, "the killed worker's chain closed")
    verify = subprocess.run(
        [str(TACTFUL), "audit", "verify", "--config", str(config)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "intact" in verify.stdout


def test_sigterm_to_the_supervisor_stops_every_worker_cleanly(
    supervised: tuple[Supervised, str, list[int]], database: tuple[Path, str]
) -> None:
    server, target, pids = supervised  # the killed worker's replacement among them
    _, url = database
    for i in range(40):
        record_one(target, f"stop{i}@example.com")
        if set(pids) <= chain_pids(url):
            break
    before = len(server.output())
    assert server.stop() == 0, server.output()
    said = server.output()[before:]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        assert open_chains_of(url, pid) == 0  # each closed its own chain as it stopped
    assert "stopping the workers" in said
    assert "killed" not in said and "exited" not in said, said
    with socket.socket() as probe:  # the port is free again
        probe.bind(("127.0.0.1", int(target.rpartition(":")[2])))


def elsewhere(config_text: str, folder: Path) -> Path:
    """The config with a data folder of its own (its own lock), on the same database."""
    other = folder / "tactful.toml"
    other.write_text(re.sub(r'data_dir = ".*"', f'data_dir = "{folder / "data"}"', config_text))
    return other


def gone(pid: int) -> bool:
    """Whether `pid` has exited (a zombie whose parent was killed has)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_a_worker_that_cannot_start_stops_the_supervisor_non_zero(
    database: tuple[Path, str], tmp_path: Path
) -> None:
    config, _ = database
    with socket.socket() as taken:  # worker 1's metrics port (the configured port + 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        text = config.read_text().replace(
            "[access_log]", f'[metrics]\nlisten = "127.0.0.1:{port - 1}"\n[access_log]'
        )
        server = Supervised(elsewhere(text, tmp_path))
        assert server.process.wait(timeout=90) == 1
        server.stop()
    out = server.output()
    assert re.search(r"worker \d exited with code 1 before it served; stopping every worker", out)
    assert "cannot listen on" in out


def test_no_worker_outlives_a_supervisor_killed_with_sigkill(
    database: tuple[Path, str], tmp_path: Path
) -> None:
    config, url = database
    server = Supervised(elsewhere(config.read_text(), tmp_path))
    found = server.wait_for(SERVING)
    target, pids = f"127.0.0.1:{found.group(1)}", [int(found.group(2)), int(found.group(3))]
    for i in range(40):
        record_one(target, f"orphan{i}@example.com")
        if set(pids) <= chain_pids(url):
            break
    os.kill(server.process.pid, signal.SIGKILL)
    assert server.stop() == -signal.SIGKILL
    for pid in pids:
        eventually(lambda: gone(pid), 60, f"worker {pid} stopped")  # noqa: B023
        assert open_chains_of(url, pid) == 0  # it stopped as on SIGTERM: its chain closed


def test_with_json_logs_and_the_http_door_every_worker_starts_and_says_json(
    database: tuple[Path, str], tmp_path: Path
) -> None:
    """Another host on the same database: the workers share the door's port as the
    gRPC one (a second bind would stop the supervisor), and every line is JSON."""
    import json

    import httpx

    from tests.conftest import token_for

    config, _ = database
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        door = probe.getsockname()[1]
    text = re.sub(r'data_dir = "[^"]*"', f'data_dir = "{tmp_path / "data"}"', config.read_text())
    host = tmp_path / "tactful.toml"
    host.write_text(f'{text}[log]\nformat = "json"\n[http]\nlisten = "127.0.0.1:{door}"\n')
    server = Supervised(host)
    try:
        server.wait_for(SERVING)
        asked = {
            "subject": {"namespace": "email", "id": "door@example.com"},
            "purpose": "support_triage",
        }
        for _ in range(8):  # a connection each: the kernel spreads them over the workers
            with httpx.Client(base_url=f"http://127.0.0.1:{door}", timeout=30) as client:
                headers = {"Authorization": f"Bearer {token_for('support_widget')}"}
                reply = client.post("/v1/segments:get", json=asked, headers=headers)
                assert reply.status_code == 200, reply.text
        assert server.process.poll() is None, server.output()
    finally:
        assert server.stop() == 0, server.output()
    lines = server.output().splitlines()
    assert lines and all(json.loads(line) for line in lines), server.output()
