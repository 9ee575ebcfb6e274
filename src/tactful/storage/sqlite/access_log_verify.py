"""A large access log on SQLite is verified in two halves by two processes (hashing
holds the GIL) and stitched at the middle; each half reads the file read-only."""

from __future__ import annotations

import multiprocessing
import sqlite3
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

from tactful.privacy.access_log import Verification
from tactful.privacy.access_log_verify import Anchor, ChainCheck, after, check_chain


def check_in_two(path: str, start: Anchor, middle: int, macs: dict[str, bytes]) -> ChainCheck:
    """Both halves at once, each in its own process (hashing holds the GIL), then
    stitched: the second half must link to the end of the first."""
    context = multiprocessing.get_context("spawn")  # never fork a process running gRPC
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        head = pool.submit(
            _check_range,
            path,
            None,
            middle,
            start.sequence,
            start.previous_hash,
            start.pinned,
            macs,
        )
        tail = pool.submit(_check_range, path, middle, None, middle + 1, None, start.pinned, macs)
        first, second = head.result(), tail.result()
    if first.problem:
        return first
    count = first.count + second.count
    if first.next_sequence != middle + 1:
        return replace(
            first,
            problem=Verification(
                False,
                first.count,
                first.next_sequence,
                f"record {first.next_sequence} is missing",
            ),
        )
    if second.count and second.first_previous != first.last_hash:
        return replace(
            second,
            count=count,
            problem=Verification(
                False,
                first.count,
                middle + 1,
                "previous_hash does not match the record before it",
            ),
        )
    problem = after(first, second) or (
        second.problem and replace(second.problem, records=first.count + second.problem.records)
    )
    bare = [u for u in (first.unauthenticated, second.unauthenticated) if u[0]]
    return replace(
        second,
        count=count,
        problem=problem,
        last_hash=second.last_hash if second.count else first.last_hash,
        first_authenticated=first.first_authenticated or second.first_authenticated,
        unauthenticated=((sum(u[0] for u in bare), bare[0][1], bare[-1][2]) if bare else (0, 0, 0)),
    )


def _check_range(
    path: str,
    after: int | None,
    up_to: int | None,
    expected: int,
    previous: str | None,
    pinned: dict[int, str],
    macs: dict[str, bytes],
) -> ChainCheck:
    """Check the records in (after, up_to] of the log at `path`, in a worker process."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        cursor = conn.execute(
            "SELECT sequence, previous_hash, record_hash, content, mac FROM records"
            " WHERE sequence > ? AND sequence <= ? ORDER BY sequence",
            [after if after is not None else -1, up_to if up_to is not None else 2**62],
        )
        batches = iter(lambda: cursor.fetchmany(20_000), [])
        return check_chain(batches, expected, previous, pinned, macs)
    finally:
        conn.close()
