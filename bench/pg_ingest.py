"""PostgreSQL ingest: raw inserts of the rows beside the behavior store's own, from 4
connections, on a throwaway cluster of this machine's PostgreSQL 15.

Batches of 500 `page_viewed` events (purpose `support_triage`, one `path` attribute)
about subjects drawn from 10,000 people, their events a few milliseconds apart as a
frontend would send them. Three figures, each from `--connections` threads with a
connection (a pool) each, for `--seconds`:

- raw: ``INSERT ... SELECT FROM unnest(...)`` of the event rows, one statement per
  batch and transaction, into a plain table with the store's two indexes; the
  baseline the issue names (49-66k events/s measured on this box);
- raw + counters: the same, with the per-hour counters (per subject, purpose, type
  and hour, as the store keeps them) upserted in the same transaction: the issue's
  second figure (43-57k);
- raw + counters + activity: and the per-subject activity (first and last seen, how
  many) upserted too: every row the store writes for these events;
- store: `EventRecorder.store_many` over `PostgresBehaviorStore`, one batch per call:
  suppression checked, subject ids, events (partitioned), activity and hourly
  counts, under the per-person locks. The batches are checked, pseudonymized and
  encoded before the clock starts (that is the serving thread's work, not the
  database's), as the raw figures' columns are; the vault is one that remembers
  nothing (the vault is another store, measured on its own); the 10,000 people are
  known before the clock starts, as the raw figures' subject ids are (a person's
  first batch also creates their subject row).

Prints events/s of each and store / raw, the issue's target being >= 0.5. A benchmark
never fails on a slow machine: it reports.

    .venv/bin/python bench/pg_ingest.py [--seconds 10] [--connections 4] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterable, Sequence  # noqa: E402
from datetime import datetime, timedelta  # noqa: E402
from typing import Any  # noqa: E402

from tactful.app.domain import load_checked_contract  # noqa: E402
from tactful.privacy.decisions import Actor  # noqa: E402
from tactful.privacy.keyring import KeyringWatcher  # noqa: E402
from tactful.privacy.pseudonym import Pseudonymizer  # noqa: E402
from tactful.privacy.suppression import Tombstones  # noqa: E402
from tactful.privacy.vault import Identity  # noqa: E402
from tactful.segments.ingest import EventInput, EventRecorder, PreparedBatch, SubjectInput  # noqa: E402
from tactful.segments.store import tracked_by  # noqa: E402
from tactful.storage.postgres.behavior import PostgresBehaviorStore  # noqa: E402
from tactful.storage.postgres.behavior_schema import SCHEMA  # noqa: E402
from tactful.storage.postgres.connection import Database  # noqa: E402
from tactful.timestamps import to_us  # noqa: E402
from tests.conftest import make_settings  # noqa: E402
from tests.postgres_cluster import fresh_database, throwaway_cluster  # noqa: E402

BATCH, PEOPLE, BATCHES = 500, 10_000, 400
START = datetime(2026, 12, 1, 12, 0, 0).astimezone()
RAW_TABLE = """
CREATE TABLE raw_events (id bigserial, subject_id bigint NOT NULL, purpose text NOT NULL,
    type text NOT NULL, occurred_at_us bigint NOT NULL, received_at_us bigint NOT NULL,
    attributes jsonb);
CREATE INDEX ON raw_events (subject_id, occurred_at_us);
CREATE INDEX ON raw_events (occurred_at_us);
CREATE TABLE raw_counts (subject_id bigint, purpose text, type text, hour bigint, n bigint,
    PRIMARY KEY (subject_id, purpose, type, hour));
CREATE TABLE raw_activity (subject_id bigint PRIMARY KEY, first bigint, last bigint, n bigint);
"""
RAW_INSERT = """
INSERT INTO raw_events (subject_id, purpose, type, occurred_at_us, received_at_us, attributes)
SELECT s, 'support_triage', 'page_viewed', at, at, a::jsonb
FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) AS r(s, at, a)
"""
RAW_COUNTERS = [
    "INSERT INTO raw_counts SELECT s, 'support_triage', 'page_viewed', h, count(*)"
    " FROM unnest(%s::bigint[], %s::bigint[]) AS r(s, h) GROUP BY 1, 2, 3, 4 ORDER BY 1, 4"
    " ON CONFLICT (subject_id, purpose, type, hour) DO UPDATE SET n = raw_counts.n + excluded.n",
    "INSERT INTO raw_activity SELECT s, min(at), max(at), count(*)"
    " FROM unnest(%s::bigint[], %s::bigint[]) AS r(s, at) GROUP BY 1 ORDER BY 1"
    " ON CONFLICT (subject_id) DO UPDATE SET first = least(raw_activity.first, excluded.first),"
    " last = greatest(raw_activity.last, excluded.last), n = raw_activity.n + excluded.n",
]


class ForgetfulVault:
    """A vault that stores nothing: the figure is the behavior store's."""

    def remember(self, identities: Iterable[Identity], *, now: datetime) -> int:
        return 0


def events(i: int, rng: random.Random) -> list[tuple[int, int, str]]:
    """Batch i: (person, occurred_at_us, path) rows, within the second before its time."""
    end = to_us(START + timedelta(milliseconds=20 * i))
    return [(rng.randrange(PEOPLE), end - rng.randrange(1_000_000), f"/p/{rng.randrange(40)}")
            for _ in range(BATCH)]  # fmt: skip


def timed(connections: int, seconds: float, work: Callable[[int, int], None]) -> float:
    """Events/s of `connections` threads each calling work(thread, batch number)."""
    done = [0] * connections
    stop = time.perf_counter() + seconds

    def run(t: int) -> None:
        n = 0
        while time.perf_counter() < stop:
            work(t, n * connections + t)
            n += 1
        done[t] = n

    threads = [threading.Thread(target=run, args=(t,)) for t in range(connections)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) * BATCH / (time.perf_counter() - began)


def raw(url: str, batches: Sequence[list[tuple[int, int, str]]], connections: int,
        seconds: float, *, counters: int) -> float:  # fmt: skip
    """Events/s of the raw inserts, with `counters` of RAW_COUNTERS (0, 1 or 2) upserted in
    each batch's transaction."""
    setup = Database(url, size=1)
    with setup.transaction() as conn:
        conn.execute(RAW_TABLE)
    setup.close()
    dbs = [Database(url, size=1) for _ in range(connections)]
    hour = 3_600_000_000
    columns = [
        ([r[0] for r in rows], [r[1] for r in rows], [json.dumps({"path": r[2]}) for r in rows],
         [r[1] // hour for r in rows])
        for rows in batches
    ]  # fmt: skip

    def work(t: int, i: int) -> None:
        who, at, attributes, hours = columns[i % len(columns)]
        with dbs[t].transaction() as conn:
            conn.execute(RAW_INSERT, [who, at, attributes])
            if counters > 0:
                conn.execute(RAW_COUNTERS[0], [who, hours])
            if counters > 1:
                conn.execute(RAW_COUNTERS[1], [who, at])

    try:
        return timed(connections, seconds, work)
    finally:
        for db in dbs:
            db.close()


def store(url: str, batches: Sequence[list[tuple[int, int, str]]], connections: int,
          seconds: float) -> float:  # fmt: skip
    setup = Database(url, size=1)
    SCHEMA.migrate(setup)
    setup.close()
    folder = Path(tempfile.mkdtemp(prefix="tactful-bench-"))
    settings = make_settings(folder)
    contract = load_checked_contract(settings)
    keyring = KeyringWatcher(settings.keyring_path)
    pseudonymizer = Pseudonymizer(keyring.keys("pseudonym"))
    tombstones = Tombstones(keyring.keys("suppression"))
    stores = [PostgresBehaviorStore(Database(url, size=1), tracked_by(contract))
              for _ in range(connections)]  # fmt: skip
    recorders = [EventRecorder(contract, pseudonymizer, ForgetfulVault(), s, tombstones)  # type: ignore[arg-type]
                 for s in stores]  # fmt: skip
    actor = Actor("support_widget", frozenset({"frontend"}), frozenset({"support_triage"}))
    now = START + timedelta(hours=1)
    prepared: list[list[PreparedBatch[Any]]] = [
        [recorders[t].prepare(actor, "support_triage", [
            EventInput(SubjectInput("email", f"person{p}@example.com"), "page_viewed", at,
                       {"path": path}) for p, at, path in rows], now=now)
         for rows in batches[t::connections]]
        for t in range(connections)
    ]  # fmt: skip
    everyone = [EventInput(SubjectInput("email", f"person{p}@example.com"), "page_viewed",
                           to_us(START) - 60_000_000, {"path": "/"})
                for p in range(PEOPLE)]  # fmt: skip
    for first in range(0, PEOPLE, BATCH):  # the people known, before the clock
        recorders[0].store_many([(recorders[0].prepare(
            actor, "support_triage", everyone[first : first + BATCH], now=now), now)])  # fmt: skip

    def work(t: int, i: int) -> None:
        mine = prepared[t]
        recorders[t].store_many([(mine[(i // connections) % len(mine)], now)])

    try:
        return timed(connections, seconds, work)
    finally:
        for s in stores:
            s.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rng = random.Random(13)
    batches = [events(i, rng) for i in range(BATCHES)]
    with throwaway_cluster() as cluster:
        figures = {
            "raw": raw(fresh_database(cluster, "raw"), batches, args.connections, args.seconds,
                       counters=0),
            "raw_with_counters": raw(fresh_database(cluster, "rawc"), batches, args.connections,
                                     args.seconds, counters=1),
            "raw_with_counters_and_activity": raw(fresh_database(cluster, "rawca"), batches,
                                                  args.connections, args.seconds, counters=2),
            "store": store(fresh_database(cluster, "store"), batches, args.connections,
                           args.seconds),
        }  # fmt: skip
    figures["store_over_raw"] = figures["store"] / figures["raw"]
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"PostgreSQL ingest, {args.connections} connections, batches of {BATCH}:")
        for name in ("raw", "raw_with_counters", "raw_with_counters_and_activity", "store"):
            print(f"  {name:<31} {figures[name]:>10,.0f} events/s")
        print(f"  {'store / raw':<31} {figures['store_over_raw']:>10.2f}  (target >= 0.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
