"""What the benchmarks share: a server in a child process, and one closed-loop load generator.

The server under test runs in a spawned child process, so that it and the load
generator do not share one event loop and one GIL. Both servers are driven by the
same client: pre-serialized request bytes in, response bytes out, no protobuf work
inside the timed loop.

Run a benchmark as a file (`python bench/segments.py`): it first puts the
repository root, not `bench/`, at the head of `sys.path`, because there its own
name would shadow the `segments` package.
"""

from __future__ import annotations

import asyncio
import cProfile
import itertools
import multiprocessing
import os
import pstats
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from types import FrameType
from typing import Any, Literal

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from tactful.api.server import create_server
from tactful.app.auth import hash_token
from tactful.app.config_file import load_settings
from tactful.app.domain import utc_now
from tactful.app.settings import PrincipalConfig, TlsSettings
from tactful.privacy.keyring import create_keyring
from tactful.v1 import common_pb2, personalization_pb2

ServerKind = Literal["echo", "tactful"]
Metadata = tuple[tuple[str, str], ...]
Stop = Callable[[], Awaitable[None]]

ECHO_METHOD = "/bench.Echo/Echo"
GET_SEGMENTS = "/tactful.v1.Personalization/GetSegments"
RECORD_EVENTS = "/tactful.v1.Personalization/RecordEvents"
SET_CONSENT = "/tactful.v1.Personalization/SetConsent"
PRINCIPAL = "web_frontend"
PURPOSE = "onboarding"
START_TIMEOUT_S = 60.0
CALL_TIMEOUT_S = 30.0
NOISY_OTHER_CPU = 0.2  # cores used by other processes beyond which a run is not trusted


# --- the server side, in the child process -------------------------------------------------


@dataclass(frozen=True)
class Served:
    """A server running in a child process: where to call it, and its process id."""

    target: str
    pid: int
    tls: Path | None = None  # the development PKI it serves TLS with, if any

    def channel(self) -> grpc.aio.Channel:
        """A channel to it: TLS trusting the PKI's CA if it serves TLS, else plaintext."""
        if self.tls is None:
            return grpc.aio.insecure_channel(self.target)
        credentials = grpc.ssl_channel_credentials((self.tls / "ca.pem").read_bytes())
        return grpc.aio.secure_channel(self.target.replace("127.0.0.1", "localhost"), credentials)

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system, all threads) the server has used so far; Linux only."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_bytes(self) -> int | None:
        """The server's resident memory now; Linux only."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            return None
        return None


@contextmanager
def serving(
    kind: ServerKind,
    *,
    token: str = "",
    profile: Path | None = None,
    tls: Path | None = None,
    observability: bool = False,
    data_dir: Path | None = None,
    storage: tuple[str, str] | None = None,
    keyring: Path | None = None,
    principal: str = PRINCIPAL,
) -> Iterator[Served]:
    """Run a server in a child process for the duration of the block.

    With `profile`, the child runs cProfile over its event loop and every thread it
    starts (the writer) and writes the combined stats there when it stops. With `tls`
    (a folder `tactful certs dev` wrote), it serves TLS with that folder's server
    certificate. With `observability`, Tactful serves metrics (on a port of its own)
    and logs a JSON line per call to a file; without, neither.
    With `data_dir`, Tactful keeps its files there (for the caller to watch them grow)
    instead of in a temporary folder of its own. With `storage` (the main and the
    vault's PostgreSQL URLs, migrated), Tactful keeps its stores there; `keyring` is a
    keyring file to share with other servers (created if missing). `token` is
    `principal`'s (the others of the development configuration get none).
    """
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(
        target=_child_main,
        args=(
            kind,
            token,
            profile,
            tls,
            observability,
            theirs,
            data_dir,
            storage,
            keyring,
            principal,
        ),
        name=f"bench-{kind}",
        daemon=True,
    )
    process.start()
    theirs.close()
    try:
        if not ours.poll(START_TIMEOUT_S):
            raise RuntimeError(f"the {kind} server did not start in {START_TIMEOUT_S:.0f} s")
        try:
            port = ours.recv()
        except EOFError:
            raise RuntimeError(f"the {kind} server exited before it listened") from None
        yield Served(f"127.0.0.1:{port}", process.pid or 0, tls)
    finally:
        with suppress(OSError):
            ours.send("stop")
        process.join(timeout=60)
        if process.is_alive():
            process.terminate()
            process.join()
        ours.close()


def _child_main(
    kind: ServerKind,
    token: str,
    profile: Path | None,
    tls: Path | None,
    observability: bool,
    parent: Connection,
    data_dir: Path | None = None,
    storage: tuple[str, str] | None = None,
    keyring: Path | None = None,
    principal: str = PRINCIPAL,
) -> None:
    profiler = _ThreadsProfiler() if profile else None
    try:
        asyncio.run(
            _serve_until_told(
                kind, token, tls, observability, parent, data_dir, storage, keyring, principal
            )
        )
    finally:
        if profiler and profile:
            profiler.dump(profile)


async def _serve_until_told(
    kind: ServerKind,
    token: str,
    tls: Path | None,
    observability: bool,
    parent: Connection,
    data_dir: Path | None = None,
    storage: tuple[str, str] | None = None,
    keyring: Path | None = None,
    principal: str = PRINCIPAL,
) -> None:
    with tempfile.TemporaryDirectory(prefix="tactful-bench-") as tmp:
        home = Path(tmp) if data_dir is None else data_dir
        port, stop = await (
            _start_echo(tls)
            if kind == "echo"
            else _start_tactful(home, token, tls, observability, storage, keyring, principal)
        )
        parent.send(port)
        told = asyncio.Event()
        # Readable on "stop", and on EOF if the parent died: either way, stop.
        asyncio.get_running_loop().add_reader(parent.fileno(), told.set)
        await told.wait()
        await stop()


async def _echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return request


async def _start_echo(tls: Path | None) -> tuple[int, Stop]:
    server = grpc.aio.server()
    handler = grpc.unary_unary_rpc_method_handler(_echo)  # no (de)serializers: bytes as they are
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("bench.Echo", {"Echo": handler}),)
    )
    if tls is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        pair = ((tls / "server.key").read_bytes(), (tls / "server.pem").read_bytes())
        port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([pair]))
    await server.start()
    return port, partial(server.stop, None)


async def _start_tactful(
    tmp: Path,
    token: str,
    tls: Path | None,
    observability: bool = False,
    storage: tuple[str, str] | None = None,
    keyring: Path | None = None,
    principal: str = PRINCIPAL,
) -> tuple[int, Stop]:
    # The development configuration: the example contract and every principal it names
    # (the server refuses a contract naming an unconfigured principal); only ours gets a
    # token, the benchmark's.
    development = load_settings(None, {})
    settings = replace(
        development,
        listen="127.0.0.1:0",
        data_dir=tmp / "data",
        principals=tuple(_with_token(p, token, principal) for p in development.principals),
        development=False,
        tls=TlsSettings(tls / "server.pem", tls / "server.key") if tls else None,
        # Off unless measured: the development config turns metrics on at a fixed port.
        metrics_listen="127.0.0.1:0" if observability else "",
        log_format="json",
        log_level="info" if observability else "warning",
        log_file=tmp / "calls.jsonl",
        keyring=keyring,
        storage_url=storage[0] if storage else "",
        vault_url=storage[1] if storage else "",
    )
    if not settings.keyring_path.exists():
        create_keyring(settings.keyring_path, now=utc_now())
    running = await create_server(settings)
    return running.port, running.stop


def _with_token(principal: PrincipalConfig, token: str, name: str) -> PrincipalConfig:
    if principal.name != name:
        return principal
    return replace(principal, token_sha256=hash_token(token))


class _ThreadsProfiler:
    """cProfile over the calling thread and every thread started after this one."""

    def __init__(self) -> None:
        self._main = cProfile.Profile()
        self._threads: list[cProfile.Profile] = []
        threading.setprofile(self._start_in_thread)
        self._main.enable()

    def _start_in_thread(self, frame: FrameType, event: str, arg: Any) -> None:
        profiler = cProfile.Profile()
        self._threads.append(profiler)
        profiler.enable()  # replaces this hook in this thread from now on

    def dump(self, path: Path) -> None:
        self._main.disable()
        threading.setprofile(None)
        stats = pstats.Stats(self._main)
        for profiler in self._threads:
            stats.add(profiler)
        stats.dump_stats(path)


def print_profile(path: Path, *, limit: int = 25) -> None:
    """The functions the server spent most time in, by own time, then by cumulative time."""
    print(f"\nserver profile ({path}; `python -m pstats {path}` for more):")
    for key in ("tottime", "cumulative"):
        pstats.Stats(str(path)).strip_dirs().sort_stats(key).print_stats(limit)


# --- the client side, in this process ------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """What one closed-loop run measured: completed calls, failures, time, latencies."""

    calls: int
    errors: int
    seconds: float
    latencies_ms: tuple[float, ...]  # sorted
    first_error: str | None = None
    client_cpu_s: float = 0.0
    server_cpu_s: float | None = None
    other_cpu_s: float | None = None  # everything else on the machine: noise

    @property
    def per_second(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0

    @property
    def client_busy(self) -> float:
        """Share of one core the load generator used; near 1.0, it, not the server, limits."""
        return self.client_cpu_s / self.seconds if self.seconds else 0.0

    @property
    def server_busy(self) -> float | None:
        """Share of one core the server process used (its threads together)."""
        return self.server_cpu_s / self.seconds if self.server_cpu_s is not None else None

    @property
    def other_busy(self) -> float | None:
        """Cores' worth of CPU that other processes took during the run; near 0 on a quiet box."""
        return self.other_cpu_s / self.seconds if self.other_cpu_s is not None else None

    @property
    def server_cpu_us_per_call(self) -> float | None:
        """Server CPU per completed call: its cost, whoever limited the rate."""
        if self.server_cpu_s is None or not self.calls:
            return None
        return self.server_cpu_s / self.calls * 1e6

    def percentile_ms(self, percent: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        index = min(len(self.latencies_ms) - 1, int(len(self.latencies_ms) * percent / 100))
        return self.latencies_ms[index]


async def drive(
    server: Served,
    method: str,
    requests: Sequence[bytes],
    metadata: Metadata,
    *,
    concurrency: int,
    seconds: float,
    warmup: float = 1.0,
) -> Load:
    """`concurrency` callers, each sending the next request as soon as its last returns.

    Requests rotate over `requests`; a warm-up of `warmup` seconds is not counted.
    """
    async with server.channel() as channel:
        call = channel.unary_unary(method)  # no serializers: bytes in, bytes out
        if warmup > 0:
            await _closed_loop(call, requests, metadata, concurrency, warmup)
        before = (server.cpu_seconds(), time.process_time(), machine_busy_seconds())
        load = await _closed_loop(call, requests, metadata, concurrency, seconds)
        after = (server.cpu_seconds(), time.process_time(), machine_busy_seconds())
    client_cpu = after[1] - before[1]
    server_cpu = other_cpu = None
    if before[0] is not None and after[0] is not None:
        server_cpu = after[0] - before[0]
        if before[2] is not None and after[2] is not None:
            other_cpu = max(0.0, after[2] - before[2] - server_cpu - client_cpu)
    return replace(load, client_cpu_s=client_cpu, server_cpu_s=server_cpu, other_cpu_s=other_cpu)


def machine_busy_seconds() -> float | None:
    """CPU time all processes of the machine have used (and the hypervisor stolen); Linux."""
    try:
        with open("/proc/stat") as stat:
            ticks = [int(t) for t in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


async def _closed_loop(
    call: grpc.aio.UnaryUnaryMultiCallable,
    requests: Sequence[bytes],
    metadata: Metadata,
    concurrency: int,
    seconds: float,
) -> Load:
    next_request = itertools.cycle(requests).__next__
    latencies: list[float] = []
    errors: list[str] = []
    start = time.perf_counter()
    deadline = start + seconds

    async def caller() -> None:
        while (began := time.perf_counter()) < deadline:
            try:
                await call(next_request(), metadata=metadata, timeout=CALL_TIMEOUT_S)
            except grpc.aio.AioRpcError as error:
                errors.append(f"{error.code().name}: {error.details()}")
                continue
            latencies.append((time.perf_counter() - began) * 1000)

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    first_error = errors[0] if errors else None
    return Load(len(latencies), len(errors), elapsed, tuple(sorted(latencies)), first_error)


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


def page_views(events: Iterable[tuple[str, datetime]]) -> personalization_pb2.RecordEventsRequest:
    """A RecordEvents request of `page_viewed` events, one per (email, occurred_at)."""
    return personalization_pb2.RecordEventsRequest(
        purpose=PURPOSE,
        events=[
            common_pb2.Event(
                subject=common_pb2.SubjectRef(namespace="email", id=address),
                type="page_viewed",
                occurred_at=_timestamp(at),
                attributes={"path": common_pb2.AttributeValue(string_value="/pricing")},
            )
            for address, at in events
        ],
    )


async def record(server: Served, token: str, requests: Iterable[bytes]) -> int:
    """Send RecordEvents requests one after another; the number of events stored."""
    stored = 0
    async with server.channel() as channel:
        call = channel.unary_unary(
            RECORD_EVENTS, response_deserializer=personalization_pb2.RecordEventsResponse.FromString
        )
        for request in requests:
            reply = await call(request, metadata=bearer(token), timeout=CALL_TIMEOUT_S)
            stored += reply.stored
    return stored


async def grant_consent(
    server: Served, token: str, emails: Sequence[str], *, concurrency: int
) -> None:
    """Grant consent to the purpose for every subject (onboarding rests on consent: without
    it, events are accepted but not stored, and segments are not released)."""
    async with server.channel() as channel:
        call = channel.unary_unary(SET_CONSENT)

        async def grant(share: Sequence[str]) -> None:
            for address in share:
                request = personalization_pb2.SetConsentRequest(
                    subject=common_pb2.SubjectRef(namespace="email", id=address),
                    purpose=PURPOSE,
                    granted=True,
                    source="bench/consent",
                ).SerializeToString()
                await call(request, metadata=bearer(token), timeout=CALL_TIMEOUT_S)

        await asyncio.gather(*(grant(emails[i::concurrency]) for i in range(concurrency)))


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


# --- reporting -----------------------------------------------------------------------------
