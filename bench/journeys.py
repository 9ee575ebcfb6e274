"""NextAction beside GetSegments: the same server, the same subjects, the same run.

Every subject consents to `onboarding` and gets a few page views and a plan choice a
few minutes old. Then, against one server, GetSegments for onboarding and NextAction
on the onboarding journey (the same purpose) are each driven for the same time at
the same concurrency. NextAction does more than GetSegments: it reads the signals and
segments its playbook reads and the journey states its purpose releases, reads and
writes the person's journey memory, renders an explanation, and is recorded like
any call. Target: NextAction QPS / GetSegments QPS >= 0.8, on each engine.

    .venv/bin/python bench/journeys.py [--seconds 8] [--concurrency 32]
        [--engine sqlite|postgresql|both] [--json] [--profile FILE]

`--decisions N` times instead only the engine's decision, in this process, on one
thread's CPU clock: N NextAction decisions on the onboarding journey over the same
four events replayed, the example contract's catalogue asked on each (no server, no
store, no access record; the fakes of tests/journeys/test_engine.py), best of five
rounds, in µs per decision. It is the figure to compare for a change to the journey
code on a noisy machine.

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
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from contextlib import ExitStack  # noqa: E402
from datetime import timedelta  # noqa: E402

from bench._harness import (  # noqa: E402
    GET_SEGMENTS,
    PURPOSE,
    Load,
    Served,
    bearer,
    drive,
    grant_consent,
    print_profile,
    record,
    serving,
)
from bench._report import describe_machine, figures, machine, print_loads, progress  # noqa: E402
from tactful.app.auth import new_token  # noqa: E402
from tactful.app.domain import utc_now  # noqa: E402
from tactful.v1 import common_pb2, journeys_pb2, personalization_pb2  # noqa: E402

TARGET_RATIO = 0.8
NEXT_ACTION = "/tactful.v1.Journeys/NextAction"
JOURNEY = "onboarding"  # bound to PURPOSE, the purpose GetSegments reads
BATCH = 500


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.decisions:
        return _time_decisions(args.decisions, args.json)
    token = new_token()
    emails = [f"journeys-bench-{i:06d}@example.com" for i in range(args.subjects)]
    segments = [_get_segments(e) for e in emails]
    actions = [_next_action(e) for e in emails]
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    runs = {engine: _measure(engine, args, token, emails, segments, actions) for engine in engines}
    if args.json:
        print(json.dumps(_report(args, runs)))
    else:
        _print(args, runs)
        if args.profile:
            print_profile(args.profile)
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
    parser.add_argument("--json", action="store_true", help="print one JSON line instead")
    parser.add_argument("--profile", type=Path, help="cProfile the server to this file")
    parser.add_argument(
        "--decisions", type=int, default=0, metavar="N",
        help="time N decisions in this process instead (no server, no store)",
    )  # fmt: skip
    return parser


def _get_segments(address: str) -> bytes:
    return personalization_pb2.GetSegmentsRequest(
        subject=common_pb2.SubjectRef(namespace="email", id=address), purpose=PURPOSE
    ).SerializeToString()


def _next_action(address: str) -> bytes:
    return journeys_pb2.NextActionRequest(
        subject=common_pb2.SubjectRef(namespace="email", id=address),
        journey=JOURNEY,
        channel="web",
        step="sign-up",
    ).SerializeToString()


def _preload(emails: Sequence[str]) -> list[bytes]:
    """Three page views and a plan choice per subject, a few minutes old."""
    now = utc_now()
    events = []
    for i, address in enumerate(emails):
        subject = common_pb2.SubjectRef(namespace="email", id=address)
        for minutes, kind, attributes in (
            (9, "page_viewed", {"path": "/pricing"}),
            (7, "page_viewed", {"path": "/compare/plans"}),
            (5, "plan_selected", {"plan": "pro" if i % 2 else "trial"}),
            (3, "page_viewed", {"path": "/signup"}),
        ):
            stamp = common_pb2.Event(subject=subject, type=kind)
            stamp.occurred_at.FromDatetime(now - timedelta(minutes=minutes))
            for key, value in attributes.items():
                stamp.attributes[key].string_value = value
            events.append(stamp)
    return [
        personalization_pb2.RecordEventsRequest(
            purpose=PURPOSE, events=events[i : i + BATCH]
        ).SerializeToString()
        for i in range(0, len(events), BATCH)
    ]


def _measure(
    engine: str,
    args: argparse.Namespace,
    token: str,
    emails: Sequence[str],
    segments: Sequence[bytes],
    actions: Sequence[bytes],
) -> tuple[Load, Load]:
    load = {"concurrency": args.concurrency, "seconds": args.seconds}
    with ExitStack() as stack:
        storage = _postgresql(stack) if engine == "postgresql" else None
        server: Served = stack.enter_context(
            serving("tactful", token=token, profile=args.profile, storage=storage)
        )
        asyncio.run(grant_consent(server, token, emails, concurrency=args.concurrency))
        stored = asyncio.run(record(server, token, _preload(emails)))
        progress(f"{engine}: {len(emails)} subjects consented, {stored} events stored")
        progress(f"{engine}: {args.seconds:g} s of GetSegments ...")
        reads = asyncio.run(drive(server, GET_SEGMENTS, segments, bearer(token), **load))
        progress(f"{engine}: {args.seconds:g} s of NextAction ...")
        decided = asyncio.run(drive(server, NEXT_ACTION, actions, bearer(token), **load))
    return reads, decided


def _time_decisions(n: int, as_json: bool) -> int:
    """The engine's decision alone: µs of this thread's CPU per decision, best of five."""
    from tactful.journeys.catalogue import JourneyCatalogue
    from tactful.journeys.engine import JourneyEngine
    from tactful.journeys.next_action import Ask
    from tactful.privacy.decisions import Actor
    from tactful.segments.reader import Reader
    from tactful.segments.replay import ReplayedBehavior
    from tests.journeys.test_engine import (
        CONTRACT,
        NOW,
        PERSON,
        Handoffs,
        Pseudonyms,
        World,
        load_contract,
    )  # fmt: skip

    world = World(load_contract(CONTRACT))
    for minutes, kind, attributes in (
        (9, "page_viewed", {"path": "/pricing"}),
        (7, "page_viewed", {"path": "/compare/plans"}),
        (5, "plan_selected", {"plan": "pro"}),
        (3, "page_viewed", {"path": "/signup"}),
    ):
        world.happened(kind, minutes, **attributes)
    catalogue = JourneyCatalogue(world.contract)  # asked on every decision, as a server's
    engine = JourneyEngine(
        world.contract, catalogue.playbooks(), Pseudonyms(), world.consent,  # type: ignore[arg-type]
        Reader(world.contract, ReplayedBehavior(world.events)), world.memory, Handoffs(),
        catalogue=catalogue,
    )  # fmt: skip
    actor = Actor("web_frontend", frozenset({"frontend"}), frozenset({PURPOSE}))
    ask = Ask(JOURNEY, "web", "sign-up")
    rounds = []
    for _ in range(5):
        started = time.thread_time()
        for _ in range(n):
            engine.next_action(actor, PERSON, ask, now=NOW)
        rounds.append((time.thread_time() - started) / n * 1e6)
    if as_json:
        print(json.dumps({"benchmark": "journeys.decisions", "decisions": n,
                          "us_per_decision": [round(r, 1) for r in rounds],
                          "best_us": round(min(rounds), 1), "machine": machine()}))  # fmt: skip
    else:
        each = ", ".join(f"{r:.1f}" for r in rounds)
        print(f"{n} decisions in-process, best of five: {min(rounds):.1f} µs each "
              f"(rounds: {each}); {describe_machine()}")  # fmt: skip
    return 0


def _postgresql(stack: ExitStack) -> tuple[str, str]:
    from tactful.app import stores
    from tactful.app.settings import Settings
    from tests.postgres_cluster import fresh_database, throwaway_cluster

    cluster = stack.enter_context(throwaway_cluster())
    urls = (fresh_database(cluster, "behavior"), fresh_database(cluster, "vault"))
    stores.migrate(Settings(storage_url=urls[0], vault_url=urls[1]))
    return urls


def _ratio(reads: Load, decided: Load) -> float:
    return decided.per_second / reads.per_second if reads.per_second else 0.0


def _report(args: argparse.Namespace, runs: dict[str, tuple[Load, Load]]) -> dict[str, object]:
    return {
        "benchmark": "journeys",
        "seconds": args.seconds,
        "concurrency": args.concurrency,
        "runs": {
            engine: {
                "get_segments": figures(reads),
                "next_action": figures(decided),
                "ratio": round(_ratio(reads, decided), 3),
                "met": _ratio(reads, decided) >= TARGET_RATIO,
            }
            for engine, (reads, decided) in runs.items()
        },
        "target_ratio": TARGET_RATIO,
        "machine": machine(),
    }


def _print(args: argparse.Namespace, runs: dict[str, tuple[Load, Load]]) -> None:
    print(f"NextAction beside GetSegments, {args.seconds:g} s each at concurrency "
          f"{args.concurrency}; {describe_machine()}")  # fmt: skip
    for engine, (reads, decided) in runs.items():
        print()
        print_loads([(f"{engine}: GetSegments", reads), (f"{engine}: NextAction", decided)],
                    unit="QPS")  # fmt: skip
        ratio = _ratio(reads, decided)
        met = "met" if ratio >= TARGET_RATIO else "MISSED"
        p99 = f"{decided.percentile_ms(99):.1f} ms vs {reads.percentile_ms(99):.1f} ms"
        print(f"{engine}: NextAction / GetSegments QPS {ratio:.3f} "
              f"(target >= {TARGET_RATIO}: {met}); p99 {p99}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
