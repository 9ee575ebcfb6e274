"""Shared fixtures: a real Tactful server on port 0, driven over a real channel."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tactful.api.server import RunningServer, create_server
from tactful.app.auth import hash_token
from tactful.app.config_file import load_settings
from tactful.app.limits import FailureLimits
from tactful.app.settings import DEVELOPMENT_CONFIG, Settings
from tactful.privacy.keyring import create_keyring
from tactful.segments.store import BehaviorStore, SignalQuery
from tactful.v1 import common_pb2, personalization_pb2, personalization_pb2_grpc
from tests import postgres_cluster
from tests.postgres_cluster import stop_shared_cluster

T0 = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
# The default caller: a support widget, claiming support_triage (legitimate interest,
# so no consent step is needed in tests that are not about consent).
DEFAULT_PRINCIPAL = "support_widget"
DEFAULT_PURPOSE = "support_triage"


EXAMPLE_PLAYBOOKS = Path(__file__).parents[1] / "src" / "tactful" / "app" / "examples" / "playbooks"
_JOURNEY_TABLE = re.compile(r"^\[journeys\.[a-z_]+\]\n(?:(?:[a-z_]+ = .*|#.*)\n)*", re.MULTILINE)


def write_contract(path: Path, text: str) -> Path:
    """An edited copy of the example contract at `path`, its playbooks beside it (the
    contract names them relative to its own folder)."""
    path.write_text(text, encoding="utf-8")
    playbooks = path.parent / "playbooks"
    if not playbooks.exists():
        playbooks.symlink_to(EXAMPLE_PLAYBOOKS, target_is_directory=True)
    return path


def without_journeys(text: str) -> str:
    """The contract's text without its [journeys.*] tables: for a test that releases
    less than a playbook reads (the playbook would rightly be refused)."""
    stripped = _JOURNEY_TABLE.sub("", text)
    assert "[journeys." not in stripped
    return stripped


def token_for(principal: str) -> str:
    return f"tf_test-{principal}"


def bearer(principal: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token_for(principal)}"),)


class Clock:
    """A settable clock: tests move time, nobody sleeps."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class ServerThread:
    """Runs the asyncio server in its own thread so tests can use a blocking client."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@dataclass
class Tactful:
    """A started server and what a test needs to talk to it."""

    settings: Settings
    clock: Clock
    target: str
    channel: grpc.Channel
    metadata: tuple[tuple[str, str], ...]
    _thread: ServerThread
    _running: RunningServer

    @property
    def personalization(self) -> personalization_pb2_grpc.PersonalizationStub:
        return personalization_pb2_grpc.PersonalizationStub(self.channel)

    def restart(self) -> None:
        self.stop()
        self._running = self._thread.run(create_server(self.settings, clock=self.clock))
        self.target = f"127.0.0.1:{self._running.port}"
        self.channel = grpc.insecure_channel(self.target)

    def stop(self) -> None:
        self.channel.close()
        self._thread.run(self._running.stop(None))

    def record(
        self, purpose: str, *events: common_pb2.Event, principal: str = DEFAULT_PRINCIPAL
    ) -> personalization_pb2.RecordEventsResponse:
        request = personalization_pb2.RecordEventsRequest(purpose=purpose, events=events)
        return self.personalization.RecordEvents(request, metadata=bearer(principal), timeout=10)

    def segments(
        self,
        subject: common_pb2.SubjectRef,
        purpose: str = DEFAULT_PURPOSE,
        principal: str = DEFAULT_PRINCIPAL,
    ) -> list[str]:
        request = personalization_pb2.GetSegmentsRequest(subject=subject, purpose=purpose)
        reply = self.personalization.GetSegments(request, metadata=bearer(principal), timeout=10)
        return list(reply.segments)

    def consent(
        self,
        subject: common_pb2.SubjectRef,
        purpose: str,
        granted: bool = True,
        principal: str = "web_frontend",
    ) -> personalization_pb2.SetConsentResponse:
        request = personalization_pb2.SetConsentRequest(
            subject=subject, purpose=purpose, granted=granted, source="tests/banner"
        )
        return self.personalization.SetConsent(request, metadata=bearer(principal), timeout=10)

    def signals(
        self,
        subject: common_pb2.SubjectRef,
        purpose: str,
        *names: str,
        principal: str = DEFAULT_PRINCIPAL,
    ) -> dict[str, object]:
        request = personalization_pb2.GetSignalsRequest(
            subject=subject, purpose=purpose, names=names
        )
        reply = self.personalization.GetSignals(request, metadata=bearer(principal), timeout=10)
        return {s.name: getattr(s.value, s.value.WhichOneof("value")) for s in reply.signals}


# tmp_path goes to memory where there is room for a whole run (several runs of several
# people, each keeping its failed tests' folders): SQLite's, the keyring's and the
# access log's fsyncs then wait for no disk. Elsewhere (a container's 64 MB /dev/shm)
# it stays in the system's temporary folder.
MEMORY = Path("/dev/shm")
MEMORY_NEEDED = 4 << 30


def pytest_configure(config: pytest.Config) -> None:
    """The run's PostgreSQL clusters do not fsync (why: tests/postgres_cluster.py), and
    its temporary folders are in memory where they fit (PYTEST_DEBUG_TEMPROOT or
    --basetemp choose another place)."""
    postgres_cluster.durable[0] = False
    if config.option.basetemp or os.environ.get("PYTEST_DEBUG_TEMPROOT"):
        return
    try:
        room = shutil.disk_usage(MEMORY).free
    except OSError:
        return
    if room >= MEMORY_NEEDED and os.access(MEMORY, os.W_OK):
        os.environ["PYTEST_DEBUG_TEMPROOT"] = str(MEMORY)  # read by pytest's tmp_path


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The shared PostgreSQL cluster goes with the session, whatever its outcome (an
    atexit hook and the cluster's watchdog stand behind this: tests/postgres_cluster.py)."""
    stop_shared_cluster()


UNLIMITED_FAILURES = FailureLimits(
    per_minute=1e6, burst=1_000_000, global_per_minute=1e6, global_burst=1_000_000
)


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    """The development principals (examples/development.toml), each with a known token."""
    create_keyring(data_dir / "keyring.json", now=T0)
    development = load_settings(DEVELOPMENT_CONFIG, {})
    principals = tuple(
        replace(p, token_sha256=hash_token(token_for(p.name))) for p in development.principals
    )
    settings = replace(
        development,
        listen="127.0.0.1:0",
        data_dir=data_dir,
        principals=principals,
        # Tests make thousands of refused calls from one address on purpose; the limit on
        # failed calls has tests of its own (tests/app/test_rate_limit.py).
        failure_limits=UNLIMITED_FAILURES,
        # The development config's fixed metrics port would clash between servers;
        # tests that want metrics ask for port 0.
        metrics_listen="",
    )
    return replace(settings, **overrides)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _no_config_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's TACTFUL_CONFIG names their own config: no test reads it."""
    monkeypatch.delenv("TACTFUL_CONFIG", raising=False)


@pytest.fixture
def start_tactful(tmp_path: Path) -> Iterator[Callable[..., Tactful]]:
    """Factory: start_tactful(**settings_overrides) -> a running Tactful."""
    thread = ServerThread()
    started: list[Tactful] = []

    def start(*, span_exporter: object = None, **overrides: object) -> Tactful:
        settings = make_settings(tmp_path / "data", **overrides)
        clock = Clock()
        running = thread.run(create_server(settings, clock=clock, span_exporter=span_exporter))
        target = f"127.0.0.1:{running.port}"
        tactful = Tactful(
            settings,
            clock,
            target,
            grpc.insecure_channel(target),
            bearer(DEFAULT_PRINCIPAL),
            thread,
            running,
        )
        started.append(tactful)
        return tactful

    yield start
    for tactful in started:
        tactful.stop()
    thread.close()


@pytest.fixture
def tactful(start_tactful: Callable[..., Tactful]) -> Tactful:
    return start_tactful()


def timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def email(address: str) -> common_pb2.SubjectRef:
    return common_pb2.SubjectRef(namespace="email", id=address)


def page_view(
    subject: common_pb2.SubjectRef, at: datetime = T0, path: str = "/pricing"
) -> common_pb2.Event:
    return common_pb2.Event(
        subject=subject,
        type="page_viewed",
        occurred_at=timestamp(at),
        attributes={"path": common_pb2.AttributeValue(string_value=path)},
    )


def violations(error: grpc.RpcError) -> dict[str, str]:
    """The field violations (field -> description) of an INVALID_ARGUMENT reply."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "no google.rpc.Status in the trailers"
    found: dict[str, str] = {}
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        assert detail.Unpack(bad_request)
        found.update({v.field: v.description for v in bad_request.field_violations})
    return found


def eventually(condition: Callable[[], bool], *, seconds: float = 10.0) -> None:
    """Wait (polling) for something done on a background thread to land."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "it did not happen in time"
        time.sleep(0.01)


# One signal of a behavior store, through its one read (signal_values).


def count_events(
    store: BehaviorStore, pseudonyms: Sequence[str], purpose: str, event_type: str, since_us: int
) -> int:
    query = SignalQuery("", "count", event_type, None, since_us)
    return int(store.signal_values(pseudonyms, purpose, [query])[0])


def distinct_values(
    store: BehaviorStore,
    pseudonyms: Sequence[str],
    purpose: str,
    event_type: str,
    attribute: str,
    since_us: int,
) -> int:
    query = SignalQuery("", "distinct", event_type, attribute, since_us)
    return int(store.signal_values(pseudonyms, purpose, [query])[0])


def last_attribute(
    store: BehaviorStore, pseudonyms: Sequence[str], purpose: str, event_type: str, attribute: str
) -> object:
    return store.signal_values(
        pseudonyms, purpose, [SignalQuery("", "last_value", event_type, attribute)]
    )[0]


TACTFUL = Path(sys.executable).parent / "tactful"


def serve_process(
    argv: Sequence[str], env: dict[str, str]
) -> tuple[subprocess.Popen[str], str, str]:
    """`tactful serve …` in a child process, once it listens: the process, its
    127.0.0.1:PORT and what it printed until then."""
    process = subprocess.Popen(
        [str(TACTFUL), "serve", *argv], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    lines = []
    for line in process.stdout:  # ends when the process does
        lines.append(line)
        if "listening on" in line:
            break
    output = "".join(lines)
    port = re.search(r"listening on 127\.0\.0\.1:(\d+)", output)
    if port is None:  # reaped here, or a later test meets its ResourceWarning
        process.kill()
        process.wait(timeout=30)
        process.stdout.close()
    assert port, output
    return process, f"127.0.0.1:{port.group(1)}", output
