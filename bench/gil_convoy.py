"""Why the behavior store writes a batch in whole-batch statements, not `executemany`.

`executemany` releases and re-takes the GIL around every row. While another thread
of the process runs Python (the event loop answering reads), each re-take waits for
that thread to let go. This inserts the same 500-row batches into the behavior
store's own schema three ways: `executemany` alone, `executemany` with a Python
thread spinning beside it, and one `INSERT ... SELECT FROM json_each(?)` per batch
with the same thread spinning (what `SqliteBehaviorWrite.append` does).

    .venv/bin/python bench/gil_convoy.py [--batches 40]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a file, bench/ heads sys.path, where bench/segments.py would shadow `segments`.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse  # noqa: E402
import random  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from contextlib import contextmanager  # noqa: E402

from tactful.storage.sqlite.behavior_schema import migrations  # noqa: E402
from tactful.storage.sqlite.connection import connect, from_rows, rows_param  # noqa: E402

COLUMNS = "subject_id, purpose, type, occurred_at_us, received_at_us, attributes"
Row = tuple[int, str, str, int, int, str]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40, help="500-row batches per way (40)")
    args = parser.parse_args(argv)
    rng = random.Random(3)
    now = int(time.time() * 1_000_000)
    batches = [
        [
            (rng.randrange(10_000), "onboarding", "page_viewed", now - i, now, '{"path":"/p"}')
            for i in range(500)
        ]
        for _ in range(args.batches)
    ]
    print(f"{args.batches} batches of 500 rows into the behavior store's events table")
    for label, spinning, whole in (
        ("executemany, nothing else running", False, False),
        ("executemany, a Python thread busy beside it", True, False),
        ("one INSERT ... SELECT FROM json_each, the thread busy", True, True),
    ):
        with _busy_thread(spinning):
            rate = _rows_per_second(batches, whole_batch=whole)
        print(f"  {label:55} {rate:>10,.0f} rows/s")
    return 0


def _rows_per_second(batches: Sequence[Sequence[Row]], *, whole_batch: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        db = connect(Path(tmp) / "behavior.db")
        migrations.apply(db)
        conn = db.conn
        started = time.perf_counter()
        for batch in batches:
            conn.execute("BEGIN IMMEDIATE")
            if whole_batch:
                conn.execute(f"INSERT INTO events ({COLUMNS}) {from_rows(6)}", (rows_param(batch),))
            else:
                conn.executemany(f"INSERT INTO events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", batch)
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
        db.close()
    return len(batches) * 500 / elapsed


@contextmanager
def _busy_thread(spinning: bool) -> Iterator[None]:
    stop = threading.Event()

    def spin() -> None:
        count = 0
        while not stop.is_set():
            for _ in range(1000):
                count += 1

    thread = threading.Thread(target=spin, daemon=True)
    if spinning:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        if spinning:
            thread.join()


if __name__ == "__main__":
    raise SystemExit(main())
