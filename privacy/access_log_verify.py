"""Verifying the access log: recompute the chain, check every signed checkpoint,
and name the first record that fails.

An engine may check a large log in parts and stitch them (the SQLite engine: two
processes, storage/sqlite/access_log_verify.py); `check_chain` checks one part.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

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
