"""Access-log appends on PostgreSQL from 1, 2 and 4 writer processes: one chain per
process bound by signed epochs (the engine's design) against one chain behind one
advisory lock with the head read under it (the alternative), in the same run.

Each writer appends batches as the GroupCommitter does (1 record per transaction,
then 50) for `--seconds`; it reports the records it committed and the CPU its own
process spent (os.times), so "records per CPU-second" is the server's cost. Starts
its own throwaway cluster (tests/postgres_cluster.py).

    .venv/bin/python bench/access_log_pg.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tactful.privacy.access_log import seal_record  # noqa: E402
from tactful.privacy.keyring import create_keyring  # noqa: E402
from tactful.storage.postgres.access_log import SCHEMA, PostgresAccessLog  # noqa: E402
from tactful.storage.postgres.connection import Database  # noqa: E402
from tests.conftest import T0  # noqa: E402
from tests.postgres_cluster import fresh_database, throwaway_cluster  # noqa: E402
from tests.storage.contract.test_contract_access_log import entry  # noqa: E402

ONE_LOCK = 0x7AC7F0_0199


def _chains(url: str, folder: str, batch: int, seconds: float, start: float) -> tuple[int, float]:
    keys = create_keyring(Path(folder) / f"keys-{os.getpid()}.json", now=T0).signing
    log = PostgresAccessLog(
        Database(url, size=2),
        Path(folder) / "checkpoints.jsonl",
        keys,
        checkpoint_every=1000,
        checkpoint_seconds=60,
        epoch_seconds=1.0,
    )
    entries = [entry(i % 30 + 1) for i in range(batch)]
    return _run(lambda now: log.append(entries, now_us=now), log.sign_epoch, seconds, start)


def _one_lock(url: str, folder: str, batch: int, seconds: float, start: float) -> tuple[int, float]:
    db = Database(url, size=2)
    entries = [entry(i % 30 + 1) for i in range(batch)]

    def append(now: int) -> None:
        with db.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [ONE_LOCK])
            head = conn.execute(
                "SELECT sequence, record_hash FROM access_log_records ORDER BY sequence DESC"
                " LIMIT 1"
            ).fetchone()
            sequence, previous = head if head else (0, "0" * 64)
            rows = []
            for e in entries:
                sequence += 1
                record = seal_record(sequence, e, previous)
                previous = record.record_hash
                rows.append((sequence, "one", record.content, record.previous_hash, previous))
            with conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO access_log_records"
                    " (sequence, chain_id, content, previous_hash, record_hash)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    rows,
                )

    return _run(append, None, seconds, start)


def _run(append, epoch, seconds: float, start: float) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    while time.time() < start:
        time.sleep(0.001)
    before, records, next_epoch = os.times(), 0, time.time() + 1.0
    ends = time.time() + seconds  # a writer that started late still runs `seconds`
    while (now := time.time()) < ends:
        append(int(now * 1e6))
        records += 1
        if epoch and now >= next_epoch:
            epoch(now_us=int(now * 1e6))
            next_epoch = now + 1.0
    after = os.times()
    return records, (after.user - before.user) + (after.system - before.system)


def _child(kind: str, url: str, folder: str, batch: int, seconds: float, start: float, out):  # type: ignore[no-untyped-def]
    runner = _chains if kind == "chains" else _one_lock
    transactions, cpu = runner(url, folder, batch, seconds, start)
    out.put((transactions * batch, cpu))


def measure(kind, cluster_url_of, writers, batch, seconds):  # type: ignore[no-untyped-def]
    url = cluster_url_of()
    db = Database(url, size=1)
    SCHEMA.migrate(db)
    db.close()
    folder = tempfile.mkdtemp(prefix="tactful-bench-")
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    start = time.time() + 10.0  # every writer connected before the clock starts
    children = [
        context.Process(target=_child, args=(kind, url, folder, batch, seconds, start, out))
        for _ in range(writers)
    ]
    for child in children:
        child.start()
    results = [out.get(timeout=seconds + 60) for _ in children]
    for child in children:
        child.join()
    records = sum(r for r, _ in results)
    cpu = sum(c for _, c in results)
    return records / seconds, records / cpu if cpu else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    with throwaway_cluster() as cluster:
        print(f"{'design':<28}{'writers':>8}{'batch':>7}{'records/s':>12}{'records/CPU-s':>15}")
        for batch in (1, 50):
            designs = (("chains", "one chain per process"), ("lock", "one chain, one lock"))
            for kind, label in designs:
                per_cpu, rates = {}, {}
                for writers in (1, 2, 4):
                    rate, cpu = measure(
                        kind, lambda: fresh_database(cluster, "bench"), writers, batch, args.seconds
                    )
                    per_cpu[writers], rates[writers] = cpu, rate
                    row = f"{label:<28}{writers:>8}{batch:>7}{rate:>12,.0f}{cpu:>15,.0f}"
                    print(row, flush=True)
                # The target: 4 processes reach >= 3x one process's records per
                # second, at no worse records per CPU-second (no shared lock caps it).
                print(f"{'':<28}4 vs 1 writer: records/s x{rates[4] / rates[1]:.2f},"
                      f" records/CPU-s x{per_cpu[4] / per_cpu[1]:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
