"""Ingest throughput: events/s through RecordEvents, beside raw SQLite inserts of the same rows.

RecordEvents takes batches of 500 `page_viewed` events (purpose `onboarding`)
about subjects drawn from 10,000 emails, so the vault meets many new subjects in
the first batches, from a few concurrent clients, with Tactful in a child
process. With `--clock advancing` (the default) the events happen as time goes
by, as a frontend would send them: batch i's events occurred within the second
before start + i x 20 ms (25,000 events/s of event time), 1,000 distinct batches;
`--clock fixed` sends 64 batches in rotation whose events all occurred within
the 2 minutes before the start (the shape of earlier runs: every insert lands at
a random place of the time index). Every subject consents first (not timed): without
consent, events are accepted but not stored. The baseline is sqlite3
`executemany` of the same rows, 500 to a transaction, into a fresh database made
by the behavior store's own migration (same table, same indexes) and opened the
same way (WAL): what SQLite and the disk allow before gRPC, checks, pseudonyms,
consent and the vault. Target: >= 30,000 events/s through RecordEvents.
`cpu_ratio` compares the two by CPU per event (the raw inserts' own CPU against the
server's), which the machine's other work moves far less than `ratio`.

    .venv/bin/python bench/ingest.py [--seconds 10] [--concurrency 4] [--json]
    .venv/bin/python bench/ingest.py --in-process 15 --subjects 2000  # below gRPC
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a file, bench/ heads sys.path, where bench/segments.py would shadow `segments`.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse  # noqa: E402
import asyncio  # noqa: E402
import gc  # noqa: E402
import hashlib  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import replace  # noqa: E402
from datetime import datetime, timedelta  # noqa: E402
from typing import Any  # noqa: E402

from bench._harness import (  # noqa: E402
    GET_SEGMENTS,
    PRINCIPAL,
    PURPOSE,
    RECORD_EVENTS,
    Load,
    Served,
    bearer,
    drive,
    grant_consent,
    machine_busy_seconds,
    page_views,
    print_profile,
    record,
    serving,
)
from bench._report import (  # noqa: E402
    describe_machine,
    figures,
    machine,
    print_loads,
    progress,
    verdict,
)
from tactful.api.convert import event_from_proto  # noqa: E402
from tactful.app.auth import new_token  # noqa: E402
from tactful.app.config_file import load_settings  # noqa: E402
from tactful.app.domain import open_domain, utc_now  # noqa: E402
from tactful.privacy.decisions import Actor  # noqa: E402
from tactful.privacy.keyring import create_keyring  # noqa: E402
from tactful.segments.ingest import EventRecorder  # noqa: E402
from tactful.storage.sqlite.behavior_schema import migrations  # noqa: E402
from tactful.storage.sqlite.connection import connect  # noqa: E402
from tactful.timestamps import to_us  # noqa: E402
from tactful.v1 import common_pb2, personalization_pb2  # noqa: E402

TARGET_EVENTS_PER_S = 30_000
Event = tuple[str, datetime]  # (email, occurred_at)
Row = tuple[int, str, str, int, int, str]
INSERT = (
    "INSERT INTO events (subject_id, purpose, type, occurred_at_us, received_at_us, attributes)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    token = new_token()
    count = args.distinct_batches or (1000 if args.clock == "advancing" else 64)
    batches = _batches(args.subjects, args.batch, count, now=utc_now(), clock=args.clock)
    requests = [page_views(batch).SerializeToString() for batch in batches]
    emails = sorted({address for batch in batches for address, _ in batch})
    if args.in_process:
        return _in_process(requests, emails, args)

    progress(f"tactful: {args.seconds:g} s of RecordEvents, {args.concurrency} clients ...")
    with serving("tactful", token=token, profile=args.profile) as server:
        started = time.perf_counter()
        asyncio.run(grant_consent(server, token, emails, concurrency=32))
        progress(
            f"tactful: consent for {len(emails):,} subjects in "
            f"{time.perf_counter() - started:.1f} s (not measured)"
        )
        first = asyncio.run(record(server, token, requests[:1]))
        if first != args.batch:
            raise SystemExit(f"the first batch stored {first} events, not {args.batch}")
        grpc_load = asyncio.run(
            drive(
                server,
                RECORD_EVENTS,
                requests,
                bearer(token),
                concurrency=args.concurrency,
                seconds=args.seconds,
                warmup=0,  # the first batches meet new subjects; they belong in the figure
            )
        )
        mixed = None
        if args.readers:
            progress(
                f"tactful: {args.seconds:g} s of RecordEvents with {args.readers} GetSegments"
                " callers beside it ..."
            )
            mixed = asyncio.run(_mixed(server, token, requests, emails, args))
    progress(f"sqlite3: {args.seconds:g} s of executemany ...")
    sqlite_load = _raw_sqlite([_rows(batch) for batch in batches], seconds=args.seconds)

    grpc_rate = grpc_load.per_second * args.batch
    sqlite_rate = sqlite_load.per_second * args.batch
    ratio = grpc_rate / sqlite_rate if sqlite_rate else 0.0
    # The same comparison by CPU: what each would reach with a core to itself. On a
    # machine whose other work takes the cores, `ratio` says more about that work.
    raw_us = _cpu_us_per_event(sqlite_load.client_cpu_s, sqlite_load, args.batch)
    served_us = _cpu_us_per_event(grpc_load.server_cpu_s, grpc_load, args.batch)
    cpu_ratio = raw_us / served_us if raw_us and served_us else None
    met = grpc_rate >= TARGET_EVENTS_PER_S
    if args.json:
        report = {
            "benchmark": "ingest",
            "batch": args.batch,
            "clock": args.clock,
            "concurrency": args.concurrency,
            "seconds": args.seconds,
            "subjects": len(emails),
            "record_events": figures(grpc_load, items_per_call=args.batch),
            "raw_sqlite": figures(sqlite_load, items_per_call=args.batch),
            "ratio": round(ratio, 4),
            "raw_cpu_us_per_item": None if raw_us is None else round(raw_us, 1),
            "cpu_ratio": None if cpu_ratio is None else round(cpu_ratio, 4),
            "with_readers": None
            if mixed is None
            else {
                "readers": args.readers,
                "record_events": figures(mixed[0], items_per_call=args.batch),
                "get_segments": figures(mixed[1], items_per_call=1),
            },
            "target_events_per_s": TARGET_EVENTS_PER_S,
            "met": met,
            "machine": machine(),
        }
        print(json.dumps(report))
        return 0
    print(
        f"RecordEvents in batches of {args.batch}: {args.concurrency} clients, {args.seconds:g} s; "
        f"{len(emails):,} distinct subjects; event times {args.clock}"
    )
    print(f"machine: {describe_machine()}")
    print_loads(
        [("Tactful RecordEvents", grpc_load), ("raw sqlite3 executemany", sqlite_load)],
        unit="events/s",
        items_per_call=args.batch,
    )
    print(f"ratio RecordEvents / raw SQLite: {ratio:.3f}")
    if cpu_ratio is not None:
        print(
            f"by CPU per event (raw {raw_us:.1f} us / RecordEvents' server {served_us:.1f} us):"
            f" {cpu_ratio:.3f}"
        )
    if mixed is not None:
        print(f"with {args.readers} GetSegments callers on the same server (after the run above):")
        print_loads([("RecordEvents", mixed[0])], unit="events/s", items_per_call=args.batch)
        print_loads([("GetSegments", mixed[1])], unit="QPS", items_per_call=1)
    print(
        f"target >= {TARGET_EVENTS_PER_S:,} events/s through RecordEvents: {verdict(met)} "
        f"({grpc_rate / TARGET_EVENTS_PER_S:.2f} of it)"
    )
    if args.profile:
        print_profile(args.profile)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement (10)")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent clients (4)")
    parser.add_argument("--batch", type=int, default=500, help="events per RecordEvents (500)")
    parser.add_argument("--subjects", type=int, default=10_000, help="distinct emails (10,000)")
    parser.add_argument(
        "--clock",
        choices=("advancing", "fixed"),
        default="advancing",
        help="events happen as time goes by (advancing, default) or all within 2 minutes",
    )
    parser.add_argument(
        "--distinct-batches",
        type=int,
        default=0,
        help="pre-built batches, sent in rotation (1,000 advancing, 64 fixed)",
    )
    parser.add_argument(
        "--readers",
        type=int,
        default=0,
        help="then measure again with this many GetSegments callers beside ingest (0: don't)",
    )
    parser.add_argument(
        "--in-process",
        type=int,
        metavar="ROUNDS",
        default=0,
        help="instead: the domain's path alone (decode, convert, prepare, store), in this"
        " process, this many rounds over 40 batches: thread CPU per event, median",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line instead")
    parser.add_argument("--profile", type=Path, help="cProfile the Tactful server to this file")
    return parser


async def _mixed(
    server: Served, token: str, requests: Sequence[bytes], emails: Sequence[str], args: Any
) -> tuple[Load, Load]:
    """RecordEvents and GetSegments (purpose onboarding, the same subjects) at once: does
    ingest starve reads, or reads ingest? Both share one event loop and one GIL."""
    reads = [
        personalization_pb2.GetSegmentsRequest(
            subject=common_pb2.SubjectRef(namespace="email", id=address), purpose=PURPOSE
        ).SerializeToString()
        for address in emails[:1000]
    ]
    common = {"seconds": args.seconds, "warmup": 0}
    ingest, segments = await asyncio.gather(
        drive(
            server, RECORD_EVENTS, requests, bearer(token), concurrency=args.concurrency, **common
        ),
        drive(server, GET_SEGMENTS, reads, bearer(token), concurrency=args.readers, **common),
    )
    return ingest, segments


def _batches(
    subjects: int, size: int, count: int, *, now: datetime, clock: str
) -> list[list[Event]]:
    """`count` batches of `size` events, each about a random subject: occurred within the
    second before now + i x 20 ms (advancing), or within 2 minutes before now (fixed)."""
    rng = random.Random(27)
    emails = [f"ingest-bench-{i:06d}@example.com" for i in range(subjects)]

    def occurred(i: int) -> datetime:
        if clock == "fixed":
            return now - timedelta(microseconds=rng.randrange(120_000_000))
        return now + timedelta(microseconds=i * 20_000 - rng.randrange(1_000_000))

    return [[(rng.choice(emails), occurred(i)) for _ in range(size)] for i in range(count)]


def _rows(batch: Sequence[Event]) -> list[Row]:
    """The events-table rows for a batch. The subject id only needs to be stable here."""
    received = to_us(utc_now())
    return [
        (
            int.from_bytes(hashlib.sha256(address.encode()).digest()[:4], "big"),
            PURPOSE,
            "page_viewed",
            to_us(at),
            received,
            '{"path":"/pricing"}',
        )
        for address, at in batch
    ]


def _in_process(requests: Sequence[bytes], emails: Sequence[str], args: Any) -> int:
    """The RecordEvents path below gRPC, timed by this thread's CPU clock: the protobuf
    decode and conversion, `EventRecorder.prepare`, and `store_many` (one batch per
    transaction). Rounds 2 and later reuse the batches: their subjects are remembered."""
    with tempfile.TemporaryDirectory(prefix="tactful-bench-") as tmp:
        development = load_settings(None, {})
        settings = replace(development, data_dir=Path(tmp) / "data", development=False)
        create_keyring(settings.keyring_path, now=utc_now())
        domain = open_domain(settings, renormalized=lambda report: None)
        recorder = EventRecorder(
            domain.contract,
            domain.pseudonymizer,
            domain.vault,
            domain.store,
            domain.tombstones,
            classifier=domain.text_classifier,
        )
        found = next(p for p in settings.principals if p.name == PRINCIPAL)
        actor = Actor(found.name, found.roles, found.purposes)
        for email in emails:
            domain.consent.set_consent(actor, "email", email, PURPOSE, True, "bench", now=utc_now())
        gc.freeze()  # as the server does after start
        rounds: list[tuple[float, float, float]] = []
        for _ in range(args.in_process):
            convert = prepare = store = 0.0
            for raw in requests[:40]:
                now = utc_now()
                began = time.thread_time()
                request = personalization_pb2.RecordEventsRequest.FromString(raw)
                events = [event_from_proto(e) for e in request.events]
                converted = time.thread_time()
                prepared = recorder.prepare(actor, request.purpose, events, now=now)
                ready = time.thread_time()
                recorder.store_many([(prepared, now)])
                stored = time.thread_time()
                convert, prepare = convert + converted - began, prepare + ready - converted
                store += stored - ready
            rounds.append((convert, prepare, store))
        domain.close()
    per_event = 1e6 / (40 * args.batch)
    medians = [statistics.median(r[i] for r in rounds) * per_event for i in range(3)]
    report = dict(zip(("decode_convert_us", "prepare_us", "store_us"), medians, strict=True))
    if args.json:
        print(json.dumps({"benchmark": "ingest-in-process", "batch": args.batch, **report}))
    else:
        print(", ".join(f"{name} {value:.2f}" for name, value in report.items()), "per event")
    return 0


def _cpu_us_per_event(cpu_s: float | None, load: Load, batch: int) -> float | None:
    events = load.calls * batch
    return cpu_s / events * 1e6 if cpu_s and events else None


def _raw_sqlite(batches: Sequence[Sequence[Row]], *, seconds: float) -> Load:
    """Plain executemany, one transaction per batch, for about `seconds`, in this process."""
    with tempfile.TemporaryDirectory(prefix="tactful-bench-") as tmp:
        db = connect(Path(tmp) / "behavior.db")
        migrations.apply(db)
        conn = db.conn
        latencies: list[float] = []
        cpu_before, busy_before = time.process_time(), machine_busy_seconds()
        start = time.perf_counter()
        for rows in itertools.cycle(batches):
            began = time.perf_counter()
            if began - start >= seconds:
                break
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(INSERT, rows)
            latencies.append((time.perf_counter() - began) * 1000)
        elapsed = time.perf_counter() - start
        cpu, busy_after = time.process_time() - cpu_before, machine_busy_seconds()
        db.close()
    other = None
    if busy_before is not None and busy_after is not None:
        other = max(0.0, busy_after - busy_before - cpu)
    return Load(len(latencies), 0, elapsed, tuple(sorted(latencies)), None, cpu, None, other)


if __name__ == "__main__":
    sys.exit(main())
