"""RecordOutcome beside RecordEvents: the same server, the same subjects, the same run;
and the scorecard's read (`scored`) over many outcomes.

Every subject consents to `onboarding`, gets a few events and one NextAction decision
on the onboarding journey. Then, against one server, RecordEvents with one event per
call and RecordOutcome (an outcome on that person's decision) are each driven for the
same time at the same concurrency. RecordOutcome does more per call than a one-event
RecordEvents needs to: it looks the decision up in the journey memory and checks the
contract's outcomes, then writes one row on the writer, and is recorded like any call.
Target: RecordOutcome QPS / RecordEvents QPS >= 0.8, on each engine.

`--scored N` also times `scored` over N decisions with one outcome each, written
straight to a fresh store (no server), on the chosen engine; target < 2 s for 1,000,000.

    .venv/bin/python bench/outcomes.py [--seconds 8] [--concurrency 32]
        [--engine sqlite|postgresql|both] [--scored 1000000] [--json]

`--engine postgresql` starts a throwaway PostgreSQL cluster (tests/postgres_cluster.py;
the server binaries must be on this machine). Each server runs alone, in a child
process; this process only generates load.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a file, bench/ heads sys.path and this file would shadow the `journeys` package.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from contextlib import ExitStack  # noqa: E402
from datetime import timedelta  # noqa: E402

from bench._harness import (  # noqa: E402
    CALL_TIMEOUT_S,
    PURPOSE,
    RECORD_EVENTS,
    Load,
    Served,
    bearer,
    drive,
    grant_consent,
    page_views,
    record,
    serving,
)
from bench._report import describe_machine, figures, machine, print_loads, progress  # noqa: E402
from tactful.app.auth import new_token  # noqa: E402
from tactful.app.domain import utc_now  # noqa: E402
from tactful.v1 import common_pb2, journeys_pb2  # noqa: E402

TARGET_RATIO = 0.8
SCORED_TARGET_S = 2.0
NEXT_ACTION = "/tactful.v1.Journeys/NextAction"
RECORD_OUTCOME = "/tactful.v1.Journeys/RecordOutcome"
JOURNEY = "onboarding"  # bound to PURPOSE
BATCH = 500


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    token = new_token()
    emails = [f"outcomes-bench-{i:06d}@example.com" for i in range(args.subjects)]
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    runs = {engine: _measure(engine, args, token, emails) for engine in engines}
    scored = {engine: _scored(engine, args.scored) for engine in engines} if args.scored else {}
    if args.json:
        print(json.dumps(_report(args, runs, scored)))
    else:
        _print(args, runs, scored)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="per method (default 8)")
    parser.add_argument("--concurrency", type=int, default=32, help="calls in flight (32)")
    parser.add_argument("--subjects", type=int, default=1000, help="preloaded subjects (1000)")
    parser.add_argument(
        "--engine", choices=("sqlite", "postgresql", "both"), default="sqlite",
        help="the storage engine (default sqlite)",
    )  # fmt: skip
    parser.add_argument("--scored", type=int, default=0, help="time `scored` over N outcomes")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead")
    return parser


def _one_event(address: str) -> bytes:
    return page_views([(address, utc_now() - timedelta(seconds=30))]).SerializeToString()


def _outcome(address: str, decision_id: str, n: int) -> bytes:
    return journeys_pb2.RecordOutcomeRequest(
        subject=common_pb2.SubjectRef(namespace="email", id=address),
        decision_id=decision_id,
        converted=bool(n % 2),
        effort=1 + n % 7,
    ).SerializeToString()


def _preload(emails: Sequence[str]) -> list[bytes]:
    views = [(address, utc_now() - timedelta(minutes=m)) for address in emails for m in (9, 5)]
    return [
        page_views(views[i : i + BATCH]).SerializeToString() for i in range(0, len(views), BATCH)
    ]


async def _decide(server: Served, token: str, emails: Sequence[str]) -> list[str]:
    """One NextAction decision per subject: their ids."""
    async with server.channel() as channel:
        call = channel.unary_unary(
            NEXT_ACTION, response_deserializer=journeys_pb2.NextActionResponse.FromString
        )
        ids = []
        for address in emails:
            request = journeys_pb2.NextActionRequest(
                subject=common_pb2.SubjectRef(namespace="email", id=address), journey=JOURNEY,
                channel="web", step="sign-up",
            ).SerializeToString()  # fmt: skip
            reply = await call(request, metadata=bearer(token), timeout=CALL_TIMEOUT_S)
            ids.append(reply.decision_id)
    return ids


def _measure(
    engine: str, args: argparse.Namespace, token: str, emails: Sequence[str]
) -> tuple[Load, Load]:
    load = {"concurrency": args.concurrency, "seconds": args.seconds}
    with ExitStack() as stack:
        storage = _postgresql(stack) if engine == "postgresql" else None
        server: Served = stack.enter_context(serving("tactful", token=token, storage=storage))
        asyncio.run(grant_consent(server, token, emails, concurrency=args.concurrency))
        stored = asyncio.run(record(server, token, _preload(emails)))
        ids = asyncio.run(_decide(server, token, emails))
        progress(f"{engine}: {len(emails)} subjects, {stored} events, {len(ids)} decisions")
        events = [_one_event(e) for e in emails]
        outcomes = [_outcome(e, d, n) for n, (e, d) in enumerate(zip(emails, ids, strict=True))]
        progress(f"{engine}: {args.seconds:g} s of RecordEvents (1 event a call) ...")
        recorded = asyncio.run(drive(server, RECORD_EVENTS, events, bearer(token), **load))
        progress(f"{engine}: {args.seconds:g} s of RecordOutcome ...")
        kept = asyncio.run(drive(server, RECORD_OUTCOME, outcomes, bearer(token), **load))
    return recorded, kept


def _scored(engine: str, count: int) -> dict[str, float]:
    """`scored` over `count` decisions with one outcome each, on a fresh store."""
    from tactful.app import stores
    from tactful.app.settings import Settings
    from tactful.journeys.memory import Remembered
    from tactful.journeys.outcomes import OutcomeReport, RecordedOutcome

    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if engine == "postgresql":
            url, vault = _postgresql(stack)
            settings = Settings(storage_url=url, vault_url=vault, data_dir=folder)
        else:
            settings = Settings(data_dir=folder)
        memory = stores.open_journey_memory(settings)
        stack.callback(memory.close)
        outcomes = stores.open_journey_outcomes(settings)
        stack.callback(outcomes.close)
        progress(f"{engine}: writing {count} decisions and outcomes for `scored` ...")
        _fill(settings, count, Remembered, RecordedOutcome, OutcomeReport)
        started = time.perf_counter()
        scored = outcomes.scored(JOURNEY, 0, 2**62)
        seconds = time.perf_counter() - started
    assert len(scored) == count
    return {"outcomes": count, "seconds": round(seconds, 3)}


def _fill(settings: object, count: int, *types: object) -> None:
    """Rows straight into the tables, in bulk (the stores write one at a time)."""
    from tactful.storage.journey_rows import COLUMNS as MEMORY
    from tactful.storage.outcome_rows import COLUMNS as OUTCOMES

    url = getattr(settings, "storage_url", "")
    decisions = (
        (f"dec_{i:08d}", f"ps:{i % 50_000}", PURPOSE, JOURNEY, "choose_plan", "guide", "none", 1,
         1_000_000 + i, "offered", 0.0, "holdout" if i % 10 == 0 else "treatment")
        for i in range(count)
    )  # fmt: skip
    outcomes = (
        (f"dec_{i:08d}", f"ps:{i % 50_000}", PURPOSE, JOURNEY, 2_000_000 + i, None, None, None,
         None, i % 5 == 0, i % 2 == 0, False, None, 1 + i % 7, float(i), None, None)
        for i in range(count)
    )  # fmt: skip
    if url:
        import psycopg

        with psycopg.connect(url) as conn, conn.cursor() as cur:
            with cur.copy(f"COPY journey_memory ({MEMORY}) FROM STDIN") as copy:
                for row in decisions:
                    copy.write_row(row)
            with cur.copy(f"COPY journey_outcomes ({OUTCOMES}) FROM STDIN") as copy:
                for row in outcomes:
                    copy.write_row(row)
            conn.execute("ANALYZE journey_memory; ANALYZE journey_outcomes")
        return
    import sqlite3

    data_dir = Path(getattr(settings, "data_dir"))  # noqa: B009
    with sqlite3.connect(data_dir / "behavior.db") as conn:
        conn.executemany(f"INSERT INTO journey_memory ({MEMORY}) VALUES ({','.join('?' * 12)})",
                         decisions)  # fmt: skip
        conn.executemany(
            f"INSERT INTO journey_outcomes ({OUTCOMES}) VALUES ({','.join('?' * 17)})", outcomes
        )
        conn.execute("ANALYZE")


def _postgresql(stack: ExitStack) -> tuple[str, str]:
    from tactful.app import stores
    from tactful.app.settings import Settings
    from tests.postgres_cluster import fresh_database, throwaway_cluster

    cluster = stack.enter_context(throwaway_cluster())
    urls = (fresh_database(cluster, "behavior"), fresh_database(cluster, "vault"))
    stores.migrate(Settings(storage_url=urls[0], vault_url=urls[1]))
    return urls


def _ratio(recorded: Load, kept: Load) -> float:
    return kept.per_second / recorded.per_second if recorded.per_second else 0.0


def _report(
    args: argparse.Namespace,
    runs: dict[str, tuple[Load, Load]],
    scored: dict[str, dict[str, float]],
) -> dict[str, object]:
    return {
        "benchmark": "outcomes",
        "seconds": args.seconds,
        "concurrency": args.concurrency,
        "runs": {
            engine: {
                "record_events_1": figures(recorded),
                "record_outcome": figures(kept),
                "ratio": round(_ratio(recorded, kept), 3),
                "met": _ratio(recorded, kept) >= TARGET_RATIO,
                **({"scored": scored[engine]} if engine in scored else {}),
            }
            for engine, (recorded, kept) in runs.items()
        },
        "target_ratio": TARGET_RATIO,
        "machine": machine(),
    }


def _print(
    args: argparse.Namespace,
    runs: dict[str, tuple[Load, Load]],
    scored: dict[str, dict[str, float]],
) -> None:
    print(f"RecordOutcome beside RecordEvents (1 event a call), {args.seconds:g} s each at "
          f"concurrency {args.concurrency}; {describe_machine()}")  # fmt: skip
    for engine, (recorded, kept) in runs.items():
        print()
        print_loads([(f"{engine}: RecordEvents", recorded), (f"{engine}: RecordOutcome", kept)],
                    unit="calls/s")  # fmt: skip
        ratio = _ratio(recorded, kept)
        met = "met" if ratio >= TARGET_RATIO else "MISSED"
        p99 = f"{kept.percentile_ms(99):.1f} ms vs {recorded.percentile_ms(99):.1f} ms"
        print(f"{engine}: RecordOutcome / RecordEvents per call {ratio:.3f} "
              f"(target >= {TARGET_RATIO}: {met}); p99 {p99}")  # fmt: skip
        if engine in scored:
            s = scored[engine]
            met = "met" if s["seconds"] < SCORED_TARGET_S else "MISSED"
            print(f"{engine}: scored over {int(s['outcomes']):,} outcomes in {s['seconds']:.2f} s"
                  f" (target < {SCORED_TARGET_S:g} s: {met})")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
