"""`tactful audit stream` and `tactful serve` killed (SIGKILL) at random points while
calls are made, and started again, a few rounds, with a fixed seed: the copy holds
every acknowledged call's record, each chain in order, verifies on its own and
matches the log, on either engine."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from tactful.app import stores
from tactful.cli.main import main
from tactful.v1 import personalization_pb2, personalization_pb2_grpc
from tests.conftest import TACTFUL, bearer, email, page_view
from tests.postgres.servers import Server, settings_of, write_config

SEED = 24
ROUNDS = 5


class Caller:
    """One thread making RecordEvents calls to whichever server is up, each with a
    request id of its own; `acknowledged` holds those that succeeded."""

    def __init__(self) -> None:
        self.target = ""
        self.acknowledged: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._call, daemon=True)
        self._thread.start()

    def _call(self) -> None:
        channels: dict[str, grpc.Channel] = {}
        for n in range(1_000_000):
            if self._stop.is_set():
                break
            target = self.target
            if not target:
                time.sleep(0.02)
                continue
            channel = channels.setdefault(target, grpc.insecure_channel(target))
            stub = personalization_pb2_grpc.PersonalizationStub(channel)
            request_id = f"siem-call-{n:06d}"
            at = datetime.now(UTC) - timedelta(seconds=1)
            request = personalization_pb2.RecordEventsRequest(
                purpose="support_triage", events=[page_view(email(f"p{n}@example.com"), at)]
            )
            metadata = (*bearer("support_widget"), ("x-request-id", request_id))
            try:
                stub.RecordEvents(request, metadata=metadata, timeout=5)
                self.acknowledged.append(request_id)
            except grpc.RpcError:
                time.sleep(0.02)
        for channel in channels.values():
            channel.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def start_stream(config: Path, copy: Path) -> subprocess.Popen[bytes]:
    """The stream, once it has written its first batch (it starts with a record of its
    own), so that a kill lands while it follows, not while it imports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TACTFUL_")}
    argv = ["audit", "stream", "--to", f"file:{copy}", "--config", str(config)]
    cursor = copy.with_name(copy.name + ".cursor")
    before = cursor.stat().st_mtime_ns if cursor.exists() else 0
    with (copy.parent / "stream.log").open("ab") as log:
        process = subprocess.Popen(
            [str(TACTFUL), *argv, "--interval", "0.05", "--batch", "5"],
            env=env,
            stdout=log,
            stderr=log,
        )
    deadline = time.monotonic() + 60
    while not (cursor.exists() and cursor.stat().st_mtime_ns != before):
        assert process.poll() is None, (copy.parent / "stream.log").read_text()
        assert time.monotonic() < deadline, "the stream wrote nothing in 60 s"
        time.sleep(0.02)
    return process


def kill(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def storage_urls(engine: str) -> tuple[str, str]:
    if engine == "sqlite":
        return "", ""
    pytest.importorskip("psycopg")
    from tests.postgres_cluster import fresh_database, shared_cluster

    cluster = shared_cluster()
    return fresh_database(cluster, "behavior"), fresh_database(cluster, "vault")


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_killed_at_random_points_the_copy_is_complete_in_order_and_verifies(
    engine: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    behavior, vault = storage_urls(engine)
    config = write_config(tmp_path / "server", behavior, vault, keyring=tmp_path / "keyring.json")
    if behavior:
        stores.migrate(settings_of(config))
    copy = tmp_path / "siem" / "access.jsonl"
    copy.parent.mkdir()
    chance = random.Random(SEED)
    caller = Caller()
    server: Server | None = None
    stream: subprocess.Popen[bytes] | None = None
    try:
        for _ in range(ROUNDS):
            if server is None:
                server = Server(config)
                caller.target = server.target
            stream = stream or start_stream(config, copy)
            time.sleep(chance.uniform(0.3, 1.5))  # calls go on meanwhile
            victim = chance.choice(["stream", "server", "both"])
            if victim in ("stream", "both"):
                kill(stream)
                stream = None
            if victim in ("server", "both"):
                caller.target = ""
                kill(server.process)
                server.stop()
                server = None
        if server is None:
            server = Server(config)
            caller.target = server.target
        time.sleep(0.5)
    finally:
        caller.stop()
        if stream is not None:
            kill(stream)
        if server is not None:
            server.stop()
    assert len(caller.acknowledged) > 20
    assert copy.is_file() and copy.stat().st_size > 0  # the killed streams wrote

    # Caught up once more, then checked as an auditor would.
    assert main(["audit", "stream", "--to", f"file:{copy}", "--once", "--config", str(config)]) == 0
    assert (
        main(["audit", "verify-export", str(copy), "--against-store", "--config", str(config)]) == 0
    )
    out = capsys.readouterr().out
    assert "intact:" in out and "matches the access log" in out, out
    assert "records the copy does not" not in out, out

    records = [json.loads(x) for x in copy.read_text().splitlines()]
    records = [r for r in records if r["type"] == "access_record"]
    distinct = {(r["chain"], r["sequence"]): r for r in records}
    for chain in {c for c, _ in distinct}:
        firsts: dict[int, int] = {}
        for r in records:
            if r["chain"] == chain:
                firsts.setdefault(r["sequence"], len(firsts))
        assert list(firsts) == sorted(firsts), f"chain {chain!r} out of order"
    per_call = Counter(r["record"]["request_id"] for r in distinct.values())
    missing = [rid for rid in caller.acknowledged if per_call[rid] != 1]
    assert not missing, f"{len(missing)} acknowledged calls not exactly once: {missing[:5]}"
