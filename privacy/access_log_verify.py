"""Verifying the access log: recompute the chain, check every signed checkpoint,
and name the first record that fails.

A log of more than a few hundred thousand records is checked in two halves by two
processes (hashing holds the GIL) and stitched at the middle.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import sqlite3
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

from privacy import _crypto
from privacy.access_log import (
    GENESIS_HASH,
    Checkpoint,
    CheckpointKind,
    StoredRow,
    Verification,
    chain_hash,
)
from privacy.keyring import Keys


@dataclass(frozen=True)
class Anchor:
    """Where verification starts, and the record hashes the signed checkpoints pin."""

    sequence: int
    previous_hash: str
    pinned: dict[int, str]


@dataclass(frozen=True)
class ChainCheck:
    """The outcome of checking one contiguous run of records."""

    next_sequence: int  # the sequence after the last good record
    first_previous: str  # the previous_hash of the first record read ("" if none)
    last_hash: str  # the hash of the last good record (the start value if none)
    count: int
    problem: Verification | None


@dataclass(frozen=True)
class Truncation:
    """Records `first_removed`..`last_removed` left the log at `time_us`, behind a
    signed truncation checkpoint."""

    first_removed: int
    last_removed: int
    time_us: int


def truncations(checkpoints: Sequence[Checkpoint]) -> list[Truncation]:
    """What each signed truncation checkpoint removed, oldest first.

    >>> from privacy.access_log import Checkpoint, CheckpointKind as K
    >>> cut = [Checkpoint(K.TRUNCATION, 5, "", 10, 1, ""),
    ...        Checkpoint(K.CHECKPOINT, 9, "", 20, 1, ""),
    ...        Checkpoint(K.TRUNCATION, 8, "", 30, 1, "")]
    >>> [(t.first_removed, t.last_removed, t.time_us) for t in truncations(cut)]
    [(1, 4, 10), (5, 7, 30)]
    """
    removed, first = [], 1
    for checkpoint in checkpoints:
        if checkpoint.kind is CheckpointKind.TRUNCATION and checkpoint.sequence > first:
            removed.append(Truncation(first, checkpoint.sequence - 1, checkpoint.time_us))
            first = checkpoint.sequence
    return removed


def anchor(checkpoints: Sequence[Checkpoint], keys: Keys) -> Anchor | Verification:
    """Check every checkpoint's signature and order; then where the chain starts."""
    public = {v: _crypto.public_key(k) for v, k in keys.versions.items()}
    problem = _checkpoint_problem(checkpoints, public)
    if problem:
        return Verification(False, 0, problem[0], problem[1])
    truncations = [c for c in checkpoints if c.kind is CheckpointKind.TRUNCATION]
    start = max(truncations, key=lambda c: c.sequence) if truncations else None
    sequence = start.sequence if start else 1
    pinned = {
        c.sequence: c.record_hash
        for c in checkpoints
        if c.kind is CheckpointKind.CHECKPOINT and c.sequence >= sequence
    }
    return Anchor(sequence, start.record_hash if start else GENESIS_HASH, pinned)


def check_chain(
    batches: Iterable[Sequence[StoredRow]],
    expected: int,
    previous: str | None,
    pinned: dict[int, str],
) -> ChainCheck:
    """Check records from `expected` on; `previous` None trusts the first row's link
    (a run that another check ends), which the caller must then compare."""
    first, first_previous = expected, ""
    sha256 = hashlib.sha256
    for batch in batches:
        if previous is None and batch:
            previous = first_previous = batch[0][1]
        # The hot loop: a million records must verify in about two seconds.
        for sequence, previous_hash, record_hash, content in batch:
            if (
                sequence != expected
                or previous_hash != previous
                or sha256((previous + content).encode()).hexdigest() != record_hash
                or (sequence in pinned and pinned[sequence] != record_hash)
            ):
                problem = _diagnose(
                    sequence,
                    previous_hash,
                    record_hash,
                    content,
                    expected,
                    previous or "",
                    expected - first,
                )
                return ChainCheck(
                    expected, first_previous, previous or "", expected - first, problem
                )
            if not first_previous:
                first_previous = previous_hash
            previous = record_hash
            expected += 1
    return ChainCheck(expected, first_previous, previous or "", expected - first, None)


def finish(start: Anchor, check: ChainCheck) -> Verification:
    """The verdict once every record was read: a problem, or records missing at the tail."""
    if check.problem:
        return check.problem
    last_pinned = max(start.pinned, default=0)
    if last_pinned >= check.next_sequence:
        return Verification(
            False,
            check.count,
            check.next_sequence,
            f"records {check.next_sequence}..{last_pinned} are missing; a "
            f"signed checkpoint covers record {last_pinned}",
        )
    return Verification(True, check.count)


def verify(
    batches: Iterable[Sequence[StoredRow]], checkpoints: Sequence[Checkpoint], keys: Keys
) -> Verification:
    """Recompute the chain and check every checkpoint; name the first bad record.

    `batches` yields the stored rows in sequence order, a batch at a time.
    """
    start = anchor(checkpoints, keys)
    if isinstance(start, Verification):
        return start
    return finish(start, check_chain(batches, start.sequence, start.previous_hash, start.pinned))


def _diagnose(
    sequence: int,
    previous_hash: str,
    record_hash: str,
    content: str,
    expected: int,
    previous: str,
    count: int,
) -> Verification:
    if sequence != expected:
        what = "missing" if sequence > expected else "out of order or repeated"
        return Verification(
            False, count, expected, f"record {expected} is {what} (found {sequence})"
        )
    if previous_hash != previous:
        return Verification(
            False, count, sequence, "previous_hash does not match the record before it"
        )
    if chain_hash(previous, content) != record_hash:
        return Verification(
            False, count, sequence, "record_hash does not match the record's contents"
        )
    return Verification(
        False, count, sequence, f"record differs from the signed checkpoint at {sequence}"
    )


def _checkpoint_problem(
    checkpoints: Sequence[Checkpoint], public: dict[int, bytes]
) -> tuple[int, str] | None:
    # Each kind moves forward; the two kinds may interleave (a truncation run from the
    # command line while the server checkpoints).
    previous = dict.fromkeys(CheckpointKind, 0)
    for index, checkpoint in enumerate(checkpoints):
        key = public.get(checkpoint.key_version)
        try:
            signature = bytes.fromhex(checkpoint.signature)
        except ValueError:
            signature = b""
        if key is None or not _crypto.signature_is_valid(key, signature, checkpoint.message()):
            return checkpoint.sequence, (
                f"checkpoint #{index + 1} (record {checkpoint.sequence}) has a bad signature"
            )
        if checkpoint.sequence <= previous[checkpoint.kind]:
            return checkpoint.sequence, (
                f"checkpoint #{index + 1} (record {checkpoint.sequence}) is out of order"
            )
        previous[checkpoint.kind] = checkpoint.sequence
    return None


def check_in_two(path: str, start: Anchor, middle: int) -> ChainCheck:
    """Both halves at once, each in its own process (hashing holds the GIL), then
    stitched: the second half must link to the end of the first."""
    context = multiprocessing.get_context("spawn")  # never fork a process running gRPC
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        head = pool.submit(
            _check_range, path, None, middle, start.sequence, start.previous_hash, start.pinned
        )
        tail = pool.submit(_check_range, path, middle, None, middle + 1, None, start.pinned)
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
    problem = second.problem and replace(
        second.problem, records=first.count + second.problem.records
    )
    return replace(
        second,
        count=count,
        problem=problem,
        last_hash=second.last_hash if second.count else first.last_hash,
    )


def _check_range(
    path: str,
    after: int | None,
    up_to: int | None,
    expected: int,
    previous: str | None,
    pinned: dict[int, str],
) -> ChainCheck:
    """Check the records in (after, up_to] of the log at `path`, in a worker process."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        cursor = conn.execute(
            "SELECT sequence, previous_hash, record_hash, content FROM records"
            " WHERE sequence > ? AND sequence <= ? ORDER BY sequence",
            [after if after is not None else -1, up_to if up_to is not None else 2**62],
        )
        batches = iter(lambda: cursor.fetchmany(20_000), [])
        return check_chain(batches, expected, previous, pinned)
    finally:
        conn.close()
