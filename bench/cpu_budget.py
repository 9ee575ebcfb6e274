"""A CPU budget per call: where the server's CPU goes, phase by phase, beside the bare echo.

For GetSegments, RecordEvents (per event), NextAction and RecordOutcome, and for the
bare echo (bench/segments.py's: the same gRPC machinery, no work), the server's CPU
per call is split into decode, authenticate, decide, pseudonymize, read/write,
record (the access log), observe (metrics, log line, span), encode, transport
(gRPC's Python side and the event loop), native (gRPC core's threads) and other.

Each server is run twice, in a child process while this one only generates load:
- unprofiled, for the total: server CPU per call from /proc, nothing else added;
- profiled (cProfile on every thread, timed by the thread's CPU clock), for the
  split: each function's own time goes to a phase by its module (bench/_phases.py),
  and the shares are scaled to the unprofiled total. `profiled ×` is what profiling
  cost; the shares are the point, not the µs of a profiled run.

Tactful runs with metrics served and a JSON log line per call (as an operator
runs it; `--quiet` for neither). Every subject consents to `onboarding` and has a
few page views and one NextAction decision before anything is measured.

    .venv/bin/python bench/cpu_budget.py [--seconds 3] [--concurrency 16] [--batch 100]
        [--subjects 500] [--engine sqlite|postgresql|both] [--quiet] [--json]

`--engine postgresql` starts a throwaway PostgreSQL cluster (tests/postgres_cluster.py);
its own CPU is not the server's and is not counted.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a file, bench/ heads sys.path and would shadow the `segments` package.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from contextlib import ExitStack, contextmanager, suppress  # noqa: E402
from datetime import timedelta  # noqa: E402
from multiprocessing.connection import Connection  # noqa: E402

import grpc  # noqa: E402

from bench._args import count, not_negative, positive  # noqa: E402
from bench._budget import COLUMNS, Column, print_budget, report  # noqa: E402
from bench._harness import (  # noqa: E402
    CALL_TIMEOUT_S,
    ECHO_METHOD,
    GET_SEGMENTS,
    PURPOSE,
    RECORD_EVENTS,
    START_TIMEOUT_S,
    Load,
    Served,
    _start_echo,
    _start_tactful,
    bearer,
    drive,
    grant_consent,
    page_views,
    record,
)
from bench._phases import (  # noqa: E402
    PHASES,
    Window,
    WindowProfiler,
    wrap_reply_serializers,
)
from bench._report import progress  # noqa: E402
from tactful.app.auth import new_token  # noqa: E402
from tactful.app.domain import utc_now  # noqa: E402
from tactful.v1 import common_pb2, journeys_pb2, personalization_pb2  # noqa: E402

NEXT_ACTION = "/tactful.v1.Journeys/NextAction"
RECORD_OUTCOME = "/tactful.v1.Journeys/RecordOutcome"
JOURNEY = "onboarding"  # bound to PURPOSE
WRITE_CONCURRENCY = 4  # RecordEvents batches in flight, as bench/ingest.py sends them
DISTINCT_BATCHES = 20


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if sys.version_info >= (3, 12):
        # There cProfile rests on sys.monitoring: one profiler per process, not per thread.
        progress("the CPU budget needs Python 3.11, whose cProfile profiles each thread on "
                 "its own; on this Python it measures nothing")  # fmt: skip
        return 0
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    if "postgresql" in engines and not _postgresql_here():
        progress("postgresql: skipped, no PostgreSQL server binaries on this machine")
        engines.remove("postgresql")
    runs = {engine: _measure_engine(engine, args) for engine in engines}
    if args.json:
        print(json.dumps(report(args, runs)))
    else:
        print_budget(args, runs)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="phases:\n" + "\n".join(f"  {name:13} {what}" for name, what in PHASES),
    )  # fmt: skip
    parser.add_argument("--seconds", type=positive, default=3.0, help="per method and run (3)")
    parser.add_argument(
        "--warmup", type=not_negative, default=1.0, help="before each, not counted (1)"
    )
    parser.add_argument("--concurrency", type=count, default=16, help="calls in flight (16)")
    parser.add_argument("--batch", type=count, default=100, help="events per RecordEvents (100)")
    parser.add_argument("--subjects", type=count, default=500, help="preloaded subjects (500)")
    parser.add_argument(
        "--engine", choices=("sqlite", "postgresql", "both"), default="sqlite",
        help="the storage engine (default sqlite)",
    )  # fmt: skip
    parser.add_argument(
        "--quiet", action="store_true", help="Tactful without metrics and the JSON log line"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line instead")
    return parser


# --- measuring -----------------------------------------------------------------------------


def _measure_engine(engine: str, args: argparse.Namespace) -> dict[str, Column]:
    token = new_token()
    emails = [f"budget-bench-{i:06d}@example.com" for i in range(args.subjects)]
    with ExitStack() as stack:
        stores = _postgresql(stack) if engine == "postgresql" else None
        plain = _run_all(engine, args, token, emails, stores and stores(), profiled=False)
        profiled = _run_all(engine, args, token, emails, stores and stores(), profiled=True)
    return {
        column: Column(
            items_per_call=args.batch if column == "RecordEvents" else 1,
            plain=plain[column][0],
            profiled=profiled[column][0],
            window=profiled[column][1],
        )
        for column in COLUMNS
    }


def _run_all(
    engine: str,
    args: argparse.Namespace,
    token: str,
    emails: list[str],
    storage: tuple[str, str] | None,
    *,
    profiled: bool,
) -> dict[str, tuple[Load, Window]]:
    how = "profiled" if profiled else "unprofiled"
    runs: dict[str, tuple[Load, Window]] = {}
    echo_requests = [_get_segments(e) for e in emails]
    with _serving("echo", token, profiled=profiled) as (server, control):
        progress(f"{engine}, {how}: echo ...")
        runs["echo"] = _window(args, server, control, ECHO_METHOD, echo_requests, token)
    with _serving(
        "tactful", token, profiled=profiled, storage=storage, observability=not args.quiet
    ) as (server, control):
        requests = _prepare(server, token, emails, args.batch)
        for column, method in (
            ("GetSegments", GET_SEGMENTS),
            ("NextAction", NEXT_ACTION),
            ("RecordOutcome", RECORD_OUTCOME),
            ("RecordEvents", RECORD_EVENTS),
        ):
            progress(f"{engine}, {how}: {column} ...")
            concurrency = WRITE_CONCURRENCY if column == "RecordEvents" else None
            runs[column] = _window(
                args, server, control, method, requests[column], token, concurrency
            )
    return runs


def _window(
    args: argparse.Namespace,
    server: Served,
    control: Connection,
    method: str,
    requests: Sequence[bytes],
    token: str,
    concurrency: int | None = None,
) -> tuple[Load, Window]:
    """Warm up, then one window of load with the server's profile (if any) around it."""
    load = {"concurrency": min(concurrency or args.concurrency, args.concurrency)}
    asyncio.run(
        drive(server, method, requests, bearer(token), seconds=args.warmup, warmup=0, **load)
    )
    control.send("begin")
    control.recv()
    measured = asyncio.run(
        drive(server, method, requests, bearer(token), seconds=args.seconds, warmup=0, **load)
    )
    control.send("end")
    window: Window = control.recv()
    if measured.first_error:
        progress(f"  {measured.errors} errors; the first: {measured.first_error}")
    return measured, window


def _prepare(server: Served, token: str, emails: list[str], batch: int) -> dict[str, list[bytes]]:
    """Consent, page views and one decision per subject; then the requests of each method."""
    asyncio.run(grant_consent(server, token, emails, concurrency=8))
    now = utc_now()
    views = [(a, now - timedelta(minutes=m)) for a in emails for m in (9, 5)]
    asyncio.run(
        record(server, token, [page_views(views[i : i + 500]).SerializeToString()
                               for i in range(0, len(views), 500)])
    )  # fmt: skip
    decisions = asyncio.run(_decide(server, token, emails))
    fresh = [
        page_views(
            [(emails[(b * batch + j) % len(emails)], now - timedelta(seconds=30 + j))
             for j in range(batch)]
        ).SerializeToString()
        for b in range(DISTINCT_BATCHES)
    ]  # fmt: skip
    return {
        "GetSegments": [_get_segments(e) for e in emails],
        "NextAction": [_next_action(e) for e in emails],
        "RecordOutcome": [
            journeys_pb2.RecordOutcomeRequest(
                subject=_subject(e), decision_id=d, converted=bool(n % 2), effort=1 + n % 7
            ).SerializeToString()
            for n, (e, d) in enumerate(zip(emails, decisions, strict=True))
        ],
        "RecordEvents": fresh,
    }


def _subject(address: str) -> common_pb2.SubjectRef:
    return common_pb2.SubjectRef(namespace="email", id=address)


def _get_segments(address: str) -> bytes:
    return personalization_pb2.GetSegmentsRequest(
        subject=_subject(address), purpose=PURPOSE
    ).SerializeToString()


def _next_action(address: str) -> bytes:
    return journeys_pb2.NextActionRequest(
        subject=_subject(address), journey=JOURNEY, channel="web", step="sign-up"
    ).SerializeToString()


async def _decide(server: Served, token: str, emails: Sequence[str]) -> list[str]:
    """One NextAction decision per subject: their ids (RecordOutcome answers one)."""
    async with server.channel() as channel:
        call: grpc.aio.UnaryUnaryMultiCallable[bytes, journeys_pb2.NextActionResponse] = (
            channel.unary_unary(
                NEXT_ACTION, response_deserializer=journeys_pb2.NextActionResponse.FromString
            )
        )
        ids = []
        for address in emails:
            reply = await call(
                _next_action(address), metadata=bearer(token), timeout=CALL_TIMEOUT_S
            )
            ids.append(reply.decision_id)
        return ids


def _postgresql_here() -> bool:
    from tests.postgres_cluster import binaries

    return binaries() is not None


def _postgresql(stack: ExitStack) -> Callable[[], tuple[str, str]]:
    """A throwaway cluster; each call, a fresh pair of databases in it, migrated."""
    from tactful.app import stores
    from tactful.app.settings import Settings
    from tests.postgres_cluster import fresh_database, throwaway_cluster

    cluster = stack.enter_context(throwaway_cluster())

    def fresh() -> tuple[str, str]:
        urls = (fresh_database(cluster, "behavior"), fresh_database(cluster, "vault"))
        stores.migrate(Settings(storage_url=urls[0], vault_url=urls[1]))
        return urls

    return fresh


# --- the server, in a child process that takes "begin" / "end" / "stop" ----------------------


@contextmanager
def _serving(
    kind: str,
    token: str,
    *,
    profiled: bool,
    storage: tuple[str, str] | None = None,
    observability: bool = False,
) -> Iterator[tuple[Served, Connection]]:
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(
        target=_child_main,
        args=(kind, token, profiled, storage, observability, theirs),
        name=f"budget-{kind}",
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
        yield Served(f"127.0.0.1:{port}", process.pid or 0), ours
    finally:
        with suppress(OSError):
            ours.send("stop")
        process.join(timeout=60)
        if process.is_alive():
            process.terminate()
            process.join()
        ours.close()


def _child_main(
    kind: str,
    token: str,
    profiled: bool,
    storage: tuple[str, str] | None,
    observability: bool,
    parent: Connection,
) -> None:
    wrap_reply_serializers()  # in both runs, so that they differ by the profile alone
    profiler = WindowProfiler() if profiled else None
    asyncio.run(_serve(kind, token, storage, observability, parent, profiler))


async def _serve(
    kind: str,
    token: str,
    storage: tuple[str, str] | None,
    observability: bool,
    parent: Connection,
    profiler: WindowProfiler | None,
) -> None:
    with tempfile.TemporaryDirectory(prefix="tactful-budget-") as tmp:
        port, stop = await (
            _start_echo(None)
            if kind == "echo"
            else _start_tactful(Path(tmp), token, None, observability, storage)
        )
        parent.send(port)
        told = asyncio.Event()

        def answer() -> None:
            try:
                command = parent.recv()
            except EOFError:
                command = "stop"  # the parent died
            if command == "begin":
                if profiler:
                    profiler.begin()
                parent.send("ok")
            elif command == "end":
                parent.send(profiler.end() if profiler else Window((), {}, {}))
            else:
                told.set()

        asyncio.get_running_loop().add_reader(parent.fileno(), answer)
        await told.wait()
        await stop()


if __name__ == "__main__":
    sys.exit(main())
