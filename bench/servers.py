"""One database, several servers: RecordEvents events/s and GetSegments QPS on
PostgreSQL with 1 and 2 `tactful serve` processes, beside SQLite with 1, same run.

Each configuration gets fresh stores (fresh PostgreSQL databases, migrated as
`tactful db migrate` does; a fresh SQLite folder), the same subjects, the same
batches of 500 page views (purpose onboarding; every subject consents first, not
timed), `--concurrency` RecordEvents callers per server, then `--readers`
GetSegments callers per server on the subjects stored. Server CPU is every Tactful
process's CPU, PostgreSQL CPU every process of the `postgres` user, both per event
and per call; an echo server's QPS beside GetSegments gives the gRPC ceiling.

With `--workers N`, instead: PostgreSQL behind one `tactful serve --workers 1`, then
one `tactful serve --workers N` (real processes, as an operator runs them), called
over `--connections` connections of their own (the kernel places each connection on
a worker, so one connection would reach one worker only), with `--concurrency` and
`--readers` callers per worker, as per server above, spread over the connections;
server CPU is the supervisor's and every worker's. A line each of the servers' first
warnings and errors, if any, goes to stderr.

It starts its own throwaway PostgreSQL cluster (tests/postgres_cluster.py) on
127.0.0.1. A benchmark: it prints figures and never fails because a machine is slow.

    .venv/bin/python bench/servers.py [--seconds 10] [--json]
    .venv/bin/python bench/servers.py --workers 2 [--connections 4] [--seconds 10]
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
import pwd  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from contextlib import ExitStack, contextmanager  # noqa: E402
from dataclasses import dataclass, replace  # noqa: E402
from datetime import timedelta  # noqa: E402

import grpc  # noqa: E402

from bench._harness import (  # noqa: E402
    ECHO_METHOD,
    GET_SEGMENTS,
    PRINCIPAL,
    PURPOSE,
    RECORD_EVENTS,
    Load,
    Served,
    bearer,
    drive,
    grant_consent,
    page_views,
    serving,
)
from bench._report import describe_machine, figures, machine, progress  # noqa: E402
from tactful.app.auth import new_token  # noqa: E402
from tactful.app.domain import utc_now  # noqa: E402
from tactful.v1 import common_pb2, personalization_pb2  # noqa: E402

BATCH = 500


@dataclass(frozen=True)
class Run:
    engine: str
    servers: int
    ingest: Load
    reads: Load
    postgres_cpu_ingest_s: float | None
    postgres_cpu_reads_s: float | None


def postgres_cpu_seconds() -> float | None:
    """CPU used so far by every live process of the `postgres` user (the cluster)."""
    try:
        uid = pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.geteuid()
    except KeyError:
        return None
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if os.geteuid() != 0 and "postgres" not in (entry / "comm").read_text():
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


async def _all(servers: Sequence[Served], method: str, requests: list[bytes], token: str,
               concurrency: int, seconds: float) -> Load:  # fmt: skip
    """`concurrency` callers on each server at once; one Load summing them."""
    loads = await asyncio.gather(
        *(
            drive(
                s,
                method,
                requests[i :: len(servers)] or requests,
                bearer(token),
                concurrency=concurrency,
                seconds=seconds,
                warmup=0.5,
            )  # fmt: skip
            for i, s in enumerate(servers)
        )
    )
    cpu = [load.server_cpu_s for load in loads]
    return replace(
        loads[0],
        calls=sum(load.calls for load in loads),
        errors=sum(load.errors for load in loads),
        seconds=max(load.seconds for load in loads),
        latencies_ms=tuple(sorted(x for load in loads for x in load.latencies_ms)),
        server_cpu_s=None if None in cpu else sum(c for c in cpu if c is not None),
        first_error=next((load.first_error for load in loads if load.first_error), None),
    )


@dataclass(frozen=True)
class _Connection(Served):
    """One connection of its own to `tactful serve --workers` (no shared subchannel);
    the first measures the server CPU, the supervisor's and its workers' (the runs
    sum their connections')."""

    measures: bool = False

    def channel(self) -> grpc.aio.Channel:
        return grpc.aio.insecure_channel(self.target, [("grpc.use_local_subchannel_pool", 1)])

    def cpu_seconds(self) -> float | None:
        if not self.measures:
            return 0.0
        total = 0.0
        for pid in [self.pid, *_children(self.pid)]:
            cpu = Served(self.target, pid).cpu_seconds()
            total += cpu or 0.0
        return total


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _worker_cpu(supervisor: int) -> dict[int, float]:
    """CPU seconds so far of each worker (the supervisor itself, with one worker)."""
    pids = _children(supervisor) or [supervisor]
    return {pid: Served("", pid).cpu_seconds() or 0.0 for pid in pids}


@contextmanager
def _supervised(config: Path, workers: int, connections: int) -> Iterator[list[_Connection]]:
    """`tactful serve --workers N` until the block ends, as `connections` connections."""
    command = [str(Path(sys.executable).parent / "tactful"), "serve", "--config", str(config)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TACTFUL_")}
    process = subprocess.Popen(
        [*command, "--workers", str(workers)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    ready = "workers serving on" if workers > 1 else "listening on"
    seen = []
    for line in process.stdout:
        seen.append(line)
        if ready in line:
            break
    port = re.search(rf"{ready} 127\.0\.0\.1:(\d+)", "".join(seen))
    if not port:
        raise RuntimeError("tactful serve --workers did not start:\n" + "".join(seen))
    noted: list[str] = []

    def drain() -> None:
        for line in process.stdout or ():
            if len(noted) < 3 and re.search(r"WARNING|ERROR|Traceback", line):
                noted.append(line.rstrip())

    threading.Thread(target=drain, daemon=True).start()
    target = f"127.0.0.1:{port.group(1)}"
    try:
        yield [_Connection(target, process.pid, measures=i == 0) for i in range(connections)]
    finally:
        process.terminate()  # SIGTERM: the supervisor stops its workers
        process.wait(timeout=120)
        for line in noted:
            progress(f"--workers {workers} said: {line}")


def _measure_workers(
    workers: int,
    urls: tuple[str, str],
    args: argparse.Namespace,
    requests: list[bytes],
    emails: list[str],
    reads: list[bytes],
) -> Run:
    from tests.conftest import token_for
    from tests.postgres.servers import write_config

    token = token_for(PRINCIPAL)
    with tempfile.TemporaryDirectory(prefix="tactful-workers-") as tmp:
        config = write_config(Path(tmp) / "w", *urls, keyring=Path(tmp) / "keyring.json")
        with config.open("a") as file:  # as the other runs: no line per call
            file.write('[log]\nlevel = "warning"\n')
        with _supervised(config, workers, args.connections) as connections:
            asyncio.run(grant_consent(connections[0], token, emails, concurrency=32))
            progress(f"postgresql --workers {workers}: {args.seconds:g} s of RecordEvents ...")
            split = _worker_cpu(connections[0].pid)
            before = postgres_cpu_seconds()
            callers = max(1, args.concurrency * workers // len(connections))
            ingest = asyncio.run(_all(connections, RECORD_EVENTS, requests, token, callers,
                                      args.seconds))  # fmt: skip
            middle = postgres_cpu_seconds()
            progress(f"postgresql --workers {workers}: {args.seconds:g} s of GetSegments ...")
            readers = max(1, args.readers * workers // len(connections))
            got = asyncio.run(_all(connections, GET_SEGMENTS, reads, token, readers,
                                   args.seconds))  # fmt: skip
            after = postgres_cpu_seconds()
            split = {
                p: round(s - split.get(p, 0.0), 1)
                for p, s in _worker_cpu(connections[0].pid).items()
            }
            progress(f"--workers {workers}: CPU seconds per worker, both phases: {split}")
    return Run(
        "pg workers",
        workers,
        ingest,
        got,
        None if before is None or middle is None else middle - before,
        None if middle is None or after is None else after - middle,
    )


def _measure(engine: str, count: int, storage: tuple[str, str] | None, args: argparse.Namespace,
             requests: list[bytes], emails: list[str], reads: list[bytes]) -> Run:  # fmt: skip
    token = new_token()
    with tempfile.TemporaryDirectory(prefix="tactful-servers-") as tmp, ExitStack() as stack:
        keyring = Path(tmp) / "keyring.json"
        servers = [
            stack.enter_context(
                serving(
                    "tactful",
                    token=token,
                    storage=storage,
                    keyring=keyring,
                    data_dir=Path(tmp) / f"s{i}",
                )  # fmt: skip
            )
            for i in range(count)
        ]
        asyncio.run(grant_consent(servers[0], token, emails, concurrency=32))
        progress(f"{engine} x{count}: {args.seconds:g} s of RecordEvents ...")
        before = postgres_cpu_seconds() if storage else None
        ingest = asyncio.run(_all(servers, RECORD_EVENTS, requests, token, args.concurrency,
                                  args.seconds))  # fmt: skip
        middle = postgres_cpu_seconds() if storage else None
        progress(f"{engine} x{count}: {args.seconds:g} s of GetSegments ...")
        got = asyncio.run(_all(servers, GET_SEGMENTS, reads, token, args.readers, args.seconds))
        after = postgres_cpu_seconds() if storage else None
    return Run(
        engine,
        count,
        ingest,
        got,
        None if before is None or middle is None else middle - before,
        None if middle is None or after is None else after - middle,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from tactful.app import stores
    from tactful.app.settings import Settings
    from tests.postgres_cluster import fresh_database, throwaway_cluster

    now = utc_now()
    emails = [f"servers-bench-{i:05d}@example.com" for i in range(args.subjects)]
    events = [
        (emails[(i * 7919) % len(emails)], now - timedelta(seconds=1, microseconds=i))
        for i in range(BATCH * 200)
    ]
    requests = [
        page_views(events[i : i + BATCH]).SerializeToString() for i in range(0, len(events), BATCH)
    ]
    reads = [
        personalization_pb2.GetSegmentsRequest(
            subject=common_pb2.SubjectRef(namespace="email", id=a), purpose=PURPOSE
        ).SerializeToString()
        for a in emails
    ]
    runs: list[Run] = []
    with serving("echo") as echo:
        echo_load = asyncio.run(_all([echo], ECHO_METHOD, reads, "x", args.readers, args.seconds))
    if not args.workers:
        runs.append(_measure("sqlite", 1, None, args, requests, emails, reads))
    with throwaway_cluster() as cluster:
        for count in (1, args.workers) if args.workers else (1, 2):
            urls = (fresh_database(cluster, "behavior"), fresh_database(cluster, "vault"))
            stores.migrate(Settings(storage_url=urls[0], vault_url=urls[1]))
            if args.workers:
                runs.append(_measure_workers(count, urls, args, requests, emails, reads))
            else:
                runs.append(_measure("postgresql", count, urls, args, requests, emails, reads))
    report = {
        "benchmark": "servers",
        "seconds": args.seconds,
        "batch": BATCH,
        "concurrency_per_server": args.concurrency,
        "readers_per_server": args.readers,
        "workers": args.workers or None,
        "connections": args.connections if args.workers else None,
        "echo": figures(echo_load),
        "runs": [
            {
                "engine": r.engine,
                "servers": r.servers,
                "record_events": figures(r.ingest, items_per_call=BATCH),
                "get_segments": figures(r.reads),
                "get_segments_per_echo": round(r.reads.per_second / echo_load.per_second, 3)
                if echo_load.per_second
                else None,
                "postgres_cpu_us_per_event": _per(r.postgres_cpu_ingest_s, r.ingest.calls * BATCH),
                "postgres_cpu_us_per_call": _per(r.postgres_cpu_reads_s, r.reads.calls),
                "postgres_cores_ingest": _busy(r.postgres_cpu_ingest_s, r.ingest),
                "postgres_cores_reads": _busy(r.postgres_cpu_reads_s, r.reads),
            }
            for r in runs
        ],
        "machine": machine(),
    }
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"machine: {describe_machine()}")
    print(f"echo: {echo_load.per_second:,.0f} QPS")
    print(f"{'engine':<12}{'servers':>8}{'events/s':>11}{'µs/event':>10}{'pg µs/ev':>10}"
          f"{'errors':>8}{'reads/s':>10}{'µs/call':>9}{'pg µs/call':>11}{'p99 ms':>8}"
          f"{'/echo':>7}")  # fmt: skip
    for r, row in zip(runs, report["runs"], strict=True):  # type: ignore[call-overload]
        ev = r.ingest.per_second * BATCH
        us_ev = r.ingest.server_cpu_us_per_call / BATCH if r.ingest.server_cpu_us_per_call else 0
        print(f"{r.engine:<12}{r.servers:>8}{ev:>11,.0f}{us_ev:>10.1f}"
              f"{row['postgres_cpu_us_per_event'] or 0:>10.1f}"
              f"{r.ingest.errors + r.reads.errors:>8}{r.reads.per_second:>10,.0f}"
              f"{r.reads.server_cpu_us_per_call or 0:>9.0f}"
              f"{row['postgres_cpu_us_per_call'] or 0:>11.0f}{r.reads.percentile_ms(99):>8.1f}"
              f"{row['get_segments_per_echo'] or 0:>7.3f}")  # fmt: skip
        print(f"{'':20}cores busy, events: client {r.ingest.client_busy:.2f}, servers "
              f"{r.ingest.server_busy or 0:.2f}, PostgreSQL {row['postgres_cores_ingest'] or 0:.2f}"
              f"; reads: client {r.reads.client_busy:.2f}, servers {r.reads.server_busy or 0:.2f}"
              f", PostgreSQL {row['postgres_cores_reads'] or 0:.2f}; others "
              f"{r.ingest.other_busy or 0:.2f} / {r.reads.other_busy or 0:.2f}")  # fmt: skip
        if r.ingest.first_error or r.reads.first_error:
            print(f"  first error: {r.ingest.first_error or r.reads.first_error}")
    return 0


def _per(cpu_s: float | None, items: int) -> float | None:
    return round(cpu_s / items * 1e6, 1) if cpu_s is not None and items else None


def _busy(cpu_s: float | None, load: Load) -> float | None:
    return round(cpu_s / load.seconds, 2) if cpu_s is not None and load.seconds else None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement (10)")
    parser.add_argument(
        "--concurrency", type=int, default=4, help="RecordEvents callers per server (4)"
    )
    parser.add_argument("--readers", type=int, default=16, help="GetSegments callers per server")
    parser.add_argument("--subjects", type=int, default=2000, help="distinct emails (2,000)")
    parser.add_argument(
        "--workers", type=int, default=0, help="instead: PostgreSQL, --workers 1, then N"
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=4,
        help="with --workers: connections, sharing --concurrency and --readers per worker (4)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line instead")
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
