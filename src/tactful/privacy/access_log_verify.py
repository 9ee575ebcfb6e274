"""Verifying the access log: recompute the chain, check every signed checkpoint,
and name the first record that fails.

An engine may check a large log in parts and stitch them (the SQLite engine: two
processes, storage/sqlite/access_log_verify.py); `check_chain` checks one part.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from tactful.privacy import _crypto
from tactful.privacy.access_log import (
    GENESIS_HASH,
    Checkpoint,
    CheckpointKind,
    StoredRow,
    Verification,
    authenticated_by,
    chain_hash,
    mac_problem,
    record_keys,
    unauthenticated_notice,
)
from tactful.privacy.keyring import Keys


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
    first_authenticated: int = 0  # the first record with a MAC (0: none)
    unauthenticated: tuple[int, int, int] = (0, 0, 0)  # records without one: count, first, last


@dataclass(frozen=True)
class Truncation:
    """Records `first_removed`..`last_removed` left the log at `time_us`, behind a
    signed truncation checkpoint."""

    first_removed: int
    last_removed: int
    time_us: int


def truncations(checkpoints: Sequence[Checkpoint]) -> list[Truncation]:
    """What each signed truncation checkpoint removed, oldest first.

    >>> from tactful.privacy.access_log import Checkpoint, CheckpointKind as K
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
    macs: Mapping[str, bytes],
) -> ChainCheck:
    """Check records from `expected` on; `previous` None trusts the first row's link
    (a run that another check ends), which the caller must then compare. `macs`: the
    keys records may be authenticated with, by label (`record_keys`)."""
    first, first_previous = expected, ""
    first_authenticated, bare, bare_first, bare_last = 0, 0, 0, 0
    sha256 = hashlib.sha256
    macers = {label: hmac.new(key, digestmod="sha256") for label, key in macs.items()}
    for batch in batches:
        if previous is None and batch:
            previous = first_previous = batch[0][1]
        # The hot loop: a million records must verify in about two seconds.
        for sequence, previous_hash, record_hash, content, mac in batch:
            # authenticated_by and record_mac, inline: this loop runs a million times.
            label = content[content.rfind(',"') + 2 : -2] if content[-2:] == '"]' else ""
            if label:
                macer = macers.get(label)
                if macer is not None:
                    macer = macer.copy()
                    macer.update(b"tactful-access-record/1|" + record_hash.encode())
                authentic = macer is not None and macer.hexdigest() == mac
            else:
                authentic = not first_authenticated
            if (
                sequence != expected
                or previous_hash != previous
                or sha256((previous + content).encode()).hexdigest() != record_hash
                or (sequence in pinned and pinned[sequence] != record_hash)
                or not authentic
            ):
                problem = _diagnose(
                    (sequence, previous_hash, record_hash, content, mac),
                    expected,
                    previous or "",
                    expected - first,
                    macs,
                )
                return ChainCheck(
                    expected,
                    first_previous,
                    previous or "",
                    expected - first,
                    problem,
                    first_authenticated,
                    (bare, bare_first, bare_last),
                )
            if not first_previous:
                first_previous = previous_hash
            if label:
                first_authenticated = first_authenticated or sequence
            else:
                bare, bare_first, bare_last = bare + 1, bare_first or sequence, sequence
            previous = record_hash
            expected += 1
    return ChainCheck(
        expected,
        first_previous,
        previous or "",
        expected - first,
        None,
        first_authenticated,
        (bare, bare_first, bare_last),
    )


def after(first: ChainCheck, second: ChainCheck) -> Verification | None:
    """The problem of `second` following `first` in one chain as far as MACs go: a
    record without one after a record with one."""
    count, bare_first, _ = second.unauthenticated
    if first.first_authenticated and count:
        return Verification(False, first.count, bare_first, unauthenticated_after(bare_first))
    return None


def unauthenticated_after(sequence: int) -> str:
    return (
        f"record {sequence} carries no MAC, after authenticated records of its chain"
        " (written without the keyring)"
    )


def finish(start: Anchor, check: ChainCheck) -> Verification:
    """The verdict once every record was read: a problem, or records missing at the tail."""
    if check.problem:
        return check.problem
    count, first, last = check.unauthenticated
    notices = (unauthenticated_notice(count, first, last),) if count else ()
    last_pinned = max(start.pinned, default=0)
    if last_pinned >= check.next_sequence:
        return Verification(
            False,
            check.count,
            check.next_sequence,
            f"records {check.next_sequence}..{last_pinned} are missing; a "
            f"signed checkpoint covers record {last_pinned}",
        )
    return Verification(True, check.count, notices=notices)


def verify(
    batches: Iterable[Sequence[StoredRow]], checkpoints: Sequence[Checkpoint], keys: Keys
) -> Verification:
    """Recompute the chain and check every checkpoint; name the first bad record.

    `batches` yields the stored rows in sequence order, a batch at a time.
    """
    start = anchor(checkpoints, keys)
    if isinstance(start, Verification):
        return start
    macs = record_keys(keys)
    return finish(
        start, check_chain(batches, start.sequence, start.previous_hash, start.pinned, macs)
    )


def _diagnose(
    row: StoredRow, expected: int, previous: str, count: int, macs: Mapping[str, bytes]
) -> Verification:
    sequence, previous_hash, record_hash, content, mac = row
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
    if not authenticated_by(content):
        return Verification(False, count, sequence, unauthenticated_after(sequence))
    why = mac_problem(content, record_hash, mac, macs)
    if why:
        return Verification(False, count, sequence, f"record {sequence} {why}")
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
