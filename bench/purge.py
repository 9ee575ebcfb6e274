"""The retention job under load, and key rotation speed.

1. Purge throughput: a behavior store holding N expired events (default
   1,000,000) is purged by `tactful retention run` while a client keeps calling
   GetSegments; prints rows/s (target >= 100,000) and GetSegments p50/p99 before
   and during the purge (target: p99 < 50 ms during).
2. Rekey: `tactful keys rekey` over S subjects (default 10,000); prints subjects/s.

Servers and jobs run as separate processes, as in production. Never fails.

With `--postgres`, the same purge on the PostgreSQL behavior store, in a throwaway
cluster of this machine's PostgreSQL 15 (tests/postgres_cluster.py): N expired events
spread over the ten days before the cut-off (ten whole day partitions, which the purge
drops, and the day that straddles the cut-off, whose expired part it deletes in chunks;
the rest of that day is kept), loaded by SQL; the retention job (`RetentionJob`, as
`tactful retention run` runs it) purges them while `--concurrency` threads read what
GetSegments and GetSignals read for fresh subjects (`consent_and_activity` then a
count signal, one connection of a pool each); prints rows/s and the reads' p50/p99
before and during the purge. No rekey there.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import grpc  # noqa: E402

from tactful.app.auth import hash_token, new_token  # noqa: E402
from tactful.privacy.keyring import create_keyring  # noqa: E402
from tactful.storage.sqlite.behavior import SqliteBehaviorStore  # noqa: E402
from tactful.timestamps import to_us  # noqa: E402
from tactful.v1 import common_pb2, personalization_pb2  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TACTFUL = Path(sys.executable).parent / "tactful"
PURGE_TARGET, P99_TARGET_MS = 100_000, 50.0
GET_SEGMENTS = "/tactful.v1.Personalization/GetSegments"
RECORD_EVENTS = "/tactful.v1.Personalization/RecordEvents"


def write_config(root: Path, token: str) -> Path:
    development = (ROOT / "examples" / "development.toml").read_text()
    development = development.replace('listen = "127.0.0.1:50051"', "").replace(
        'contract = "contract.toml"', f'contract = "{ROOT / "examples" / "contract.toml"}"'
    )
    development = development.replace(
        'name = "support_widget"', f'name = "support_widget"\ntoken_sha256 = "{hash_token(token)}"'
    )
    config = root / "tactful.toml"
    config.write_text(f'data_dir = "{root / "data"}"\n{development}')
    return config


def fill_expired(path: Path, rows: int, *, subjects: int, now: datetime) -> None:
    """`rows` support_triage events 60 days old (retention 30 days), straight into SQLite."""
    SqliteBehaviorStore(path).close()  # the schema, by the store's own migrations
    old_us = to_us(now - timedelta(days=60))
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO subjects (id, pseudonym) VALUES (?, ?)",
            ((i, f"hmac-sha256:v1:{i:064x}") for i in range(1, subjects + 1)),
        )
        db.executemany(
            "INSERT INTO events (subject_id, purpose, type, occurred_at_us, received_at_us,"
            " attributes) VALUES (?, 'support_triage', 'page_viewed', ?, ?, '{\"path\":\"/x\"}')",
            ((1 + i % subjects, old_us + i, old_us + i) for i in range(rows)),
        )
        db.execute(
            "INSERT INTO purpose_activity SELECT subject_id, 'support_triage',"
            " min(occurred_at_us), max(occurred_at_us), count(*) FROM events GROUP BY subject_id"
        )
        db.execute(  # the hourly counts the store keeps beside its events
            "INSERT INTO signal_counts SELECT subject_id, purpose, type,"
            " occurred_at_us / 3600000000, count(*) FROM events GROUP BY 1, 2, 3, 4"
        )


def start_server(config: Path) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [str(TACTFUL), "serve", "--config", str(config), "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    for line in server.stdout:
        found = re.search(r"listening on (\S+)", line)
        if found:
            return server, found.group(1)
    raise RuntimeError("the server did not start")


def subject(i: int) -> common_pb2.SubjectRef:
    return common_pb2.SubjectRef(namespace="email", id=f"purge-bench-{i}@example.com")


async def record_fresh(target: str, token: str, count: int) -> None:
    now = datetime.now(UTC)
    stamp = common_pb2.Event().occurred_at.__class__()
    stamp.FromDatetime(now - timedelta(seconds=5))
    metadata = (("authorization", f"Bearer {token}"),)
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.unary_unary(RECORD_EVENTS)
        for start in range(0, count, 500):
            events = [
                common_pb2.Event(subject=subject(i), type="page_viewed", occurred_at=stamp)
                for i in range(start, min(count, start + 500))
            ]
            request = personalization_pb2.RecordEventsRequest(
                purpose="support_triage", events=events
            )
            await call(request.SerializeToString(), metadata=metadata, timeout=60)


async def segments_until(
    target: str, token: str, stop: asyncio.Event, *, concurrency: int, subjects: int
) -> list[float]:
    requests = [
        personalization_pb2.GetSegmentsRequest(
            subject=subject(i), purpose="support_triage"
        ).SerializeToString()
        for i in range(subjects)
    ]
    metadata = (("authorization", f"Bearer {token}"),)
    latencies: list[float] = []
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.unary_unary(GET_SEGMENTS)

        async def caller(offset: int) -> None:
            i = offset
            while not stop.is_set():
                began = time.perf_counter()
                await call(requests[i % len(requests)], metadata=metadata, timeout=30)
                latencies.append((time.perf_counter() - began) * 1000)
                i += concurrency

        await asyncio.gather(*(caller(k) for k in range(concurrency)))
    return sorted(latencies)


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p / 100))] if values else float("nan")


async def measure(args: argparse.Namespace, root: Path) -> None:
    token = new_token()
    config = write_config(root, token)
    now = datetime.now(UTC)
    create_keyring(root / "data" / "keyring.json", now=now)
    started = time.perf_counter()
    fill_expired(root / "data" / "behavior.db", args.rows, subjects=args.rows // 20, now=now)
    print(
        f"filled {args.rows:,} expired events in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    server, target = start_server(config)
    try:
        await record_fresh(target, token, args.subjects)
        stop = asyncio.Event()
        load = asyncio.create_task(
            segments_until(
                target, token, stop, concurrency=args.concurrency, subjects=args.subjects
            )
        )
        await asyncio.sleep(args.baseline)
        stop.set()
        before = await load

        stop = asyncio.Event()
        load = asyncio.create_task(
            segments_until(
                target, token, stop, concurrency=args.concurrency, subjects=args.subjects
            )
        )
        began = time.perf_counter()
        job = await asyncio.create_subprocess_exec(
            str(TACTFUL),
            "retention",
            "run",
            "--config",
            str(config),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        summary = (await job.communicate())[0].decode().strip()
        purge_s = time.perf_counter() - began
        stop.set()
        during = await load

        rotate = subprocess.run(
            [str(TACTFUL), "keys", "rotate", "--config", str(config)],
            capture_output=True,
            text=True,
            check=True,
        )
        del rotate
        began = time.perf_counter()
        subprocess.run(
            [str(TACTFUL), "keys", "rekey", "--config", str(config)],
            capture_output=True,
            text=True,
            check=True,
        )
        rekey_s = time.perf_counter() - began
    finally:
        server.terminate()
        server.wait(timeout=30)
    rate = args.rows / purge_s
    print(f"retention run: {summary}")
    print(
        f"purge: {args.rows:,} rows in {purge_s:.1f} s = {rate:,.0f} rows/s "
        f"(target >= {PURGE_TARGET:,}: {'met' if rate >= PURGE_TARGET else 'MISSED'})"
    )
    print(
        f"GetSegments at concurrency {args.concurrency}, before the purge: "
        f"p50 {pct(before, 50):.1f} ms, p99 {pct(before, 99):.1f} ms ({len(before)} calls)"
    )
    p99 = pct(during, 99)
    print(
        f"GetSegments during the purge: p50 {pct(during, 50):.1f} ms, p99 {p99:.1f} ms "
        f"({len(during)} calls; target p99 < {P99_TARGET_MS:.0f} ms: "
        f"{'met' if p99 < P99_TARGET_MS else 'MISSED'})"
    )
    print(
        f"rekey: {args.subjects:,} subjects in {rekey_s:.1f} s = "
        f"{args.subjects / rekey_s:,.0f} subjects/s (process start included)"
    )


def measure_postgres(args: argparse.Namespace, root: Path) -> None:
    from tactful.app.domain import load_checked_contract
    from tactful.lifecycle.retention import RetentionJob
    from tactful.privacy.errors import StoreUnavailable
    from tactful.segments.store import SignalQuery, tracked_by
    from tactful.storage.postgres import behavior_schema as layout
    from tactful.storage.postgres.behavior import PostgresBehaviorStore
    from tactful.storage.postgres.connection import Database
    from tactful.storage.postgres.subjects import PostgresSubjectData
    from tactful.timestamps import to_us
    from tests.conftest import make_settings
    from tests.postgres_cluster import fresh_database, throwaway_cluster

    contract = load_checked_contract(make_settings(root))
    purpose = "support_triage"
    now = datetime.now(UTC)
    cutoff_us = to_us(now - contract.purposes[purpose].retention)
    with throwaway_cluster() as cluster:
        url = fresh_database(cluster, "purge")
        started = time.perf_counter()
        subjects = max(args.subjects, args.rows // 20)
        fill_expired_postgres(url, args.rows, subjects=subjects, fresh=args.subjects,
                              cutoff_us=cutoff_us, now_us=to_us(now))  # fmt: skip
        print(
            f"filled {args.rows:,} expired events in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        store = PostgresBehaviorStore(Database(url, size=args.concurrency), tracked_by(contract))
        since = to_us(now) - 3_600_000_000
        signal = [SignalQuery("viewed_1h", "count", "page_viewed", None, since)]

        def reads(seconds: float | None, stop: threading.Event) -> list[float]:
            latencies: list[list[float]] = [[] for _ in range(args.concurrency)]
            deadline = None if seconds is None else time.perf_counter() + seconds

            def reader(k: int) -> None:
                i = k
                while not stop.is_set() and (deadline is None or time.perf_counter() < deadline):
                    who = [f"hmac-sha256:v1:{1 + i % args.subjects:064x}"]
                    began = time.perf_counter()
                    try:
                        store.consent_and_activity(who, purpose)
                        store.signal_values(who, purpose, signal)
                    except StoreUnavailable:  # counted as a slow read: the pool timed out
                        pass
                    latencies[k].append((time.perf_counter() - began) * 1000)
                    i += args.concurrency

            threads = [threading.Thread(target=reader, args=(k,)) for k in range(args.concurrency)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return sorted(x for mine in latencies for x in mine)

        before = reads(args.baseline, threading.Event())
        data = PostgresSubjectData(Database(url, size=2))
        job = RetentionJob(contract, data, _NoIdentities(), timedelta(days=3650))
        stop = threading.Event()
        during: list[float] = []
        load = threading.Thread(target=lambda: during.extend(reads(None, stop)))
        load.start()
        began = time.perf_counter()
        try:
            receipt = job.run(now=now)
        finally:
            purge_s = time.perf_counter() - began
            stop.set()
            load.join()
        left = data.count_older(purpose, cutoff_us)
        with Database(url, size=1).transaction() as conn:
            partitions = len(layout.days_of(conn, purpose))
        data.close()
        store.close()
    gone = receipt.events[purpose]
    rate = gone / purge_s
    print(f"retention run: {gone:,} {purpose} events deleted, {left:,} expired left,"
          f" {partitions} day partition(s) kept")  # fmt: skip
    print(
        f"purge (PostgreSQL): {gone:,} rows in {purge_s:.1f} s = {rate:,.0f} rows/s "
        f"(target >= {PURGE_TARGET:,}: {'met' if rate >= PURGE_TARGET else 'MISSED'})"
    )
    print(
        f"GetSegments reads at concurrency {args.concurrency}, before the purge: "
        f"p50 {pct(before, 50):.1f} ms, p99 {pct(before, 99):.1f} ms ({len(before)} reads)"
    )
    p99 = pct(during, 99)
    print(
        f"GetSegments reads during the purge: p50 {pct(during, 50):.1f} ms, p99 {p99:.1f} ms "
        f"({len(during)} reads; target p99 < {P99_TARGET_MS:.0f} ms: "
        f"{'met' if p99 < P99_TARGET_MS else 'MISSED'})"
    )


class _NoIdentities:
    """The vault's side of the job, empty: the figure is the behavior store's purge."""

    def created_before(self, cutoff: datetime, *, after: str = "", limit: int = 5000) -> list[str]:
        return []

    def shred(self, pseudonyms: Sequence[str]) -> int:
        return 0


def fill_expired_postgres(
    url: str, rows: int, *, subjects: int, fresh: int, cutoff_us: int, now_us: int
) -> None:
    """`rows` support_triage events spread over the ten days before `cutoff_us`, 10,000
    kept ones in the hour after it (the straddling day stays), and one fresh event for
    each of the first `fresh` subjects; their activity and hourly counts, by SQL."""
    from tactful.storage.postgres import behavior_schema as layout
    from tactful.storage.postgres.connection import Database

    day_us, hour_us, start_us = layout.DAY_US, 3_600_000_000, cutoff_us - 10 * layout.DAY_US
    db = Database(url, size=1)
    layout.SCHEMA.migrate(db)
    with db.transaction() as conn:
        days = {d for d in range(start_us // day_us, cutoff_us // day_us + 1)} | {now_us // day_us}
        layout.ensure_partitions(conn, {("support_triage", d) for d in days})
        conn.execute(
            "INSERT INTO subjects (id, pseudonym) SELECT i, 'hmac-sha256:v1:'"
            " || lpad(to_hex(i), 64, '0') FROM generate_series(1, %s) i",
            [subjects],
        )
        insert = (
            "INSERT INTO events (subject_id, purpose, type, occurred_at_us, received_at_us,"
            " attributes) SELECT 1 + i %% %(subjects)s, 'support_triage', 'page_viewed',"
            ' %(start)s + i * %(step)s, %(start)s + i * %(step)s, \'{"path":"/x"}\''
            " FROM generate_series(0::bigint, %(n)s::bigint - 1) i"
        )
        conn.execute(insert, {"subjects": subjects, "start": start_us, "n": rows,
                              "step": (cutoff_us - start_us) // rows})  # fmt: skip
        conn.execute(insert, {"subjects": subjects, "start": cutoff_us, "n": 10_000,
                              "step": hour_us // 10_000})  # fmt: skip
        conn.execute(insert, {"subjects": fresh, "start": now_us - 60_000_000, "n": fresh,
                              "step": 1})  # fmt: skip
        conn.execute(
            "INSERT INTO purpose_activity SELECT subject_id, purpose, min(occurred_at_us),"
            " max(occurred_at_us), count(*) FROM events GROUP BY 1, 2"
        )
        conn.execute(
            "INSERT INTO signal_counts SELECT subject_id, purpose, type,"
            " occurred_at_us / %s, count(*) FROM events GROUP BY 1, 2, 3, 4",
            [hour_us],
        )
    with db.autocommit() as conn:
        conn.execute("VACUUM ANALYZE")
    db.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="expired events (1,000,000)")
    parser.add_argument(
        "--subjects",
        type=int,
        default=10_000,
        help="fresh subjects read during the purge and rekeyed (10,000)",
    )
    parser.add_argument("--concurrency", type=int, default=8, help="GetSegments callers (8)")
    parser.add_argument("--baseline", type=float, default=5.0, help="seconds of load before")
    parser.add_argument(
        "--postgres", action="store_true", help="the purge on PostgreSQL (a throwaway cluster)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tactful-bench-") as tmp:
        if args.postgres:
            measure_postgres(args, Path(tmp))
        else:
            asyncio.run(measure(args, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
