"""Soak: a mixed load for minutes on end, and whether throughput holds as the store grows.

16 callers share one Tactful server (in a child process), each sending, over and
over, one RecordEvents batch (25 events, mostly `page_viewed`, some `signup_started`
with a plan; event times are the time of sending), then two GetSegments and two
GetSignals (`pages_viewed_24h`, `signup_plan`), all under the purpose `onboarding`,
about subjects drawn from a consented set. Every call writes an access record, so
the behavior store, the access log and the vault grow for the whole run. Bounded in
time (`--minutes`, default 10) and in calls (`--max-calls`).

`--engine sqlite` (the default) serves from the embedded default, SQLite files in a
temporary folder; `--engine postgresql` from a throwaway PostgreSQL cluster
(tests/postgres_cluster.py: its own folder and port on 127.0.0.1, run as the
`postgres` user when we are root, removed at the end) with fresh behavior and vault
databases, migrated; `--engine both` runs SQLite, then PostgreSQL, one after the
other (never together: they would share the cores).

Printed: operations/s per minute and per 30 s, by method, with p99 latency, server
CPU (cores, and µs per operation: what an operation costs, whoever limited the
rate), on PostgreSQL its processes' CPU the same way, the CPU other processes took
(a window where they took more than 0.2 cores is marked: not representative),
server RSS and the stores' sizes at the end of each window (SQLite: behavior.db,
access_log.db and their WALs; PostgreSQL: the behavior database, which holds the
access log, the vault database and pg_wal); then the last minute's rate over the
first's, and the server's RSS at the end of the first and the last minute.
Target: >= 0.9 (the last minute within 10 % of the first), RSS flat.

    .venv/bin/python bench/soak.py [--minutes 10] [--engine sqlite|postgresql|both]
        [--concurrency 16] [--subjects 2000] [--json]

With `--json`, one JSON line per engine.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a file, bench/ heads sys.path, where bench/segments.py would shadow `segments`.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import timedelta  # noqa: E402

import grpc  # noqa: E402

from bench._args import count, positive  # noqa: E402
from bench._harness import (  # noqa: E402
    CALL_TIMEOUT_S,
    GET_SEGMENTS,
    PURPOSE,
    RECORD_EVENTS,
    Served,
    bearer,
    grant_consent,
    machine_busy_seconds,
    print_profile,
    serving,
)
from bench._report import progress  # noqa: E402
from bench._soak_report import Sample, Soak, Window, print_report, report  # noqa: E402
from tactful.app.auth import new_token  # noqa: E402
from tactful.app.domain import utc_now  # noqa: E402
from tactful.v1 import common_pb2, personalization_pb2  # noqa: E402

GET_SIGNALS = "/tactful.v1.Personalization/GetSignals"
# What each caller sends, in turn, for the whole run.
ROUND = ("RecordEvents", "GetSegments", "GetSignals", "GetSegments", "GetSignals")
SIGNALS = ("pages_viewed_24h", "signup_plan")
PLANS = ("free", "trial", "pro", "enterprise")
SQLITE_FILES = ("behavior.db", "behavior.db-wal", "access_log.db", "access_log.db-wal")
POSTGRES_SIZES = ("behavior database", "vault database", "pg_wal")


@dataclass(frozen=True)
class Store:
    """Where the server keeps its stores, and how to watch them during the run."""

    engine: str
    storage: tuple[str, str] | None  # PostgreSQL's behavior and vault URLs; None: SQLite
    size_names: tuple[str, ...]
    sizes: Callable[[], dict[str, int]]  # bytes by name, now
    database_cpu: Callable[[], float | None]  # CPU the database has used so far, if apart

    def sample(self, server: Served) -> Sample:
        return Sample(
            server.cpu_seconds(),
            time.process_time(),
            self.database_cpu(),
            machine_busy_seconds(),
            server.rss_bytes(),
            self.sizes(),
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    if "postgresql" in engines and not _postgresql_here():
        progress("postgresql: skipped, no PostgreSQL server binaries on this machine")
        engines.remove("postgresql")
    for engine in engines:
        with (
            tempfile.TemporaryDirectory(prefix="tactful-soak-") as home,
            _store(engine, Path(home) / "data") as store,
        ):
            soak = _run(store, Path(home), args)
        if args.json:
            print(json.dumps(report(args, soak)), flush=True)
        else:
            print_report(args, soak)
            if args.profile:
                print_profile(args.profile)
            print(flush=True)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=positive, default=10.0, help="how long (10)")
    parser.add_argument("--max-calls", type=count, default=2_000_000, help="at most (2,000,000)")
    parser.add_argument("--concurrency", type=count, default=16, help="concurrent callers (16)")
    parser.add_argument("--subjects", type=count, default=2000, help="consented subjects (2,000)")
    parser.add_argument("--batch", type=count, default=25, help="events per RecordEvents (25)")
    parser.add_argument("--window", type=positive, default=30.0, help="seconds per window (30)")
    parser.add_argument(
        "--engine", choices=("sqlite", "postgresql", "both"), default="sqlite",
        help="the storage engine; both: SQLite, then PostgreSQL (default sqlite)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="one JSON line per engine instead")
    parser.add_argument("--profile", type=Path, help="cProfile the Tactful server to this file")
    return parser


def _postgresql_here() -> bool:
    from tests.postgres_cluster import binaries

    return binaries() is not None


@contextmanager
def _store(engine: str, data: Path) -> Iterator[Store]:
    """SQLite's files in `data`, or a throwaway PostgreSQL cluster with fresh databases."""
    if engine == "sqlite":
        yield Store(engine, None, SQLITE_FILES, lambda: _file_sizes(data), lambda: None)
        return
    import psycopg

    from tactful.app import stores
    from tactful.app.settings import Settings
    from tests.postgres_cluster import fresh_database, throwaway_cluster

    with throwaway_cluster() as cluster:
        urls = (fresh_database(cluster, "behavior"), fresh_database(cluster, "vault"))
        stores.migrate(Settings(storage_url=urls[0], vault_url=urls[1]))
        with psycopg.connect(cluster.url, autocommit=True) as watcher:
            names = [url.rsplit("/", 1)[1] for url in urls]

            def sizes() -> dict[str, int]:
                row = watcher.execute(
                    "SELECT pg_database_size(%s), pg_database_size(%s),"
                    " (SELECT coalesce(sum(size), 0) FROM pg_ls_waldir())",
                    names,
                ).fetchone()
                assert row is not None
                return dict(zip(POSTGRES_SIZES, (int(n) for n in row), strict=True))

            assert cluster.data is not None
            postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
            yield Store(
                engine, urls, POSTGRES_SIZES, sizes, lambda: cluster_cpu_seconds(postmaster)
            )


def cluster_cpu_seconds(postmaster: int) -> float | None:
    """CPU used so far by one PostgreSQL cluster: its postmaster, its live children
    (backends, background workers) and, through the postmaster's children's time, those
    that have exited. Not every process of the `postgres` user: on a shared machine,
    other clusters run as that user too."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        pid, parent = int(entry.name), int(fields[1])
        if pid == postmaster:  # its own time, and that of the children it has reaped
            total += sum(int(f) for f in fields[11:15]) / tick
        elif parent == postmaster:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total or None


def _file_sizes(data: Path) -> dict[str, int]:
    sizes = {}
    for name in SQLITE_FILES:
        try:
            sizes[name] = (data / name).stat().st_size
        except OSError:
            sizes[name] = 0
    return sizes


def _run(store: Store, home: Path, args: argparse.Namespace) -> Soak:
    token = new_token()
    emails = [f"soak-bench-{i:06d}@example.com" for i in range(args.subjects)]
    with serving(
        "tactful", token=token, profile=args.profile, data_dir=home, storage=store.storage
    ) as server:
        started = time.perf_counter()
        asyncio.run(grant_consent(server, token, emails, concurrency=args.concurrency))
        progress(
            f"soak on {store.engine}: {len(emails):,} subjects consented in "
            f"{time.perf_counter() - started:.1f} s (not measured); "
            f"{args.minutes:g} min of mixed load at concurrency {args.concurrency} ..."
        )
        return asyncio.run(_soak(server, token, emails, store, args))


async def _soak(
    server: Served, token: str, emails: Sequence[str], store: Store, args: argparse.Namespace
) -> Soak:
    rng = random.Random(12)
    metadata = bearer(token)
    reads = {
        "GetSegments": [
            personalization_pb2.GetSegmentsRequest(
                subject=common_pb2.SubjectRef(namespace="email", id=a), purpose=PURPOSE
            ).SerializeToString()
            for a in emails
        ],
        "GetSignals": [
            personalization_pb2.GetSignalsRequest(
                subject=common_pb2.SubjectRef(namespace="email", id=a),
                purpose=PURPOSE,
                names=SIGNALS,
            ).SerializeToString()
            for a in emails
        ],
    }
    windows: list[Window] = []
    errors: list[str] = []
    kinds: Counter[str] = Counter()
    calls_left = args.max_calls
    at_start = store.sample(server)
    start = time.perf_counter()
    deadline = start + args.minutes * 60

    def window_at(moment: float) -> Window:
        index = int((moment - start) // args.window)
        while len(windows) <= index:
            windows.append(Window(start_s=len(windows) * args.window))
        return windows[index]

    async with server.channel() as channel:
        send: dict[str, Callable[[bytes], object]] = {
            "RecordEvents": channel.unary_unary(RECORD_EVENTS),
            "GetSegments": channel.unary_unary(GET_SEGMENTS),
            "GetSignals": channel.unary_unary(GET_SIGNALS),
        }

        def request(method: str) -> bytes:
            if method == "RecordEvents":
                return _batch(rng, emails, args.batch)
            return rng.choice(reads[method])

        async def caller(offset: int) -> None:
            nonlocal calls_left
            turn = offset
            while (began := time.perf_counter()) < deadline and calls_left > 0:
                calls_left -= 1
                method = ROUND[turn % len(ROUND)]
                turn += 1
                try:
                    await send[method](  # type: ignore[misc]
                        request(method), metadata=metadata, timeout=CALL_TIMEOUT_S
                    )
                except grpc.aio.AioRpcError as error:
                    errors.append(f"{method} {error.code().name}: {error.details()}")
                    kinds[f"{method} {error.code().name}"] += 1
                    window_at(time.perf_counter()).errors += 1
                    continue
                done = time.perf_counter()
                window = window_at(done)
                window.calls[method] += 1
                window.latencies_ms.append((done - began) * 1000)

        async def sampler() -> None:
            boundary = start
            while True:
                boundary += args.window
                await asyncio.sleep(max(0.0, boundary - time.perf_counter()))
                window_at(boundary - args.window / 2).end = store.sample(server)

        watching = asyncio.create_task(sampler())
        await asyncio.gather(*(caller(i) for i in range(args.concurrency)))
        end = time.perf_counter()
        watching.cancel()
    if windows and windows[-1].end is None:  # the last window, cut short
        windows[-1].end = store.sample(server)
    for window in windows:
        window.seconds = min(window.start_s + args.window, end - start) - window.start_s
    # A last window of a few seconds only says how the run ended: drop it.
    if len(windows) > 1 and windows[-1].seconds < args.window / 2:
        windows.pop()
    return Soak(
        store.engine,
        store.size_names,
        windows,
        end - start,
        errors[0] if errors else None,
        "calls" if calls_left <= 0 else "time",
        time.process_time() - at_start.client_cpu_s,
        at_start,
        dict(kinds.most_common()),
    )


def _batch(rng: random.Random, emails: Sequence[str], size: int) -> bytes:
    """A RecordEvents batch happening now: page views, and one sign-up start in five."""
    now = utc_now()
    events = []
    for _ in range(size):
        at = common_pb2.Event(
            subject=common_pb2.SubjectRef(namespace="email", id=rng.choice(emails))
        )
        at.occurred_at.FromDatetime(now - timedelta(milliseconds=rng.randrange(1000)))
        if rng.randrange(5):
            at.type = "page_viewed"
            at.attributes["path"].string_value = f"/docs/{rng.randrange(50)}"
        else:
            at.type = "signup_started"
            at.attributes["plan"].string_value = rng.choice(PLANS)
        events.append(at)
    return personalization_pb2.RecordEventsRequest(
        purpose=PURPOSE, events=events
    ).SerializeToString()


if __name__ == "__main__":
    sys.exit(main())
