"""The access log: one record per access, chained, with signed checkpoints.

Each record carries the SHA-256 of the previous record's hash and its own
canonical encoding, so changing, removing, inserting or reordering a record
breaks the chain from that point on. Every N records (or T seconds) a
checkpoint (sequence, record hash, time) is signed with the keyring's Ed25519
key and written both to the database and to a file outside it: whoever holds
only the database cannot recompute history to match.

Old records leave only through a signed truncation checkpoint naming the first
record kept and the hash it chains from, so verification still passes after.

A record is stored as its canonical encoding, a compact JSON array of its
fields in a fixed order; the columns used for queries are generated from it by
the database, so they cannot disagree with what the hash covers, and
verification only has to hash what it reads.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from privacy import _crypto
from privacy.errors import PrivacyError
from privacy.keyring import Keys

GENESIS_HASH = "0" * 64
ANONYMOUS = "anonymous"


class AccessLogUnavailable(PrivacyError):
    """The record could not be written durably; nothing may be released."""


class Decided(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"


@dataclass(frozen=True)
class AccessEntry:
    """One access as the edge saw it: names of items, never their values."""

    time_us: int
    principal: str
    role: str
    method: str
    purpose: str
    subject: str  # a pseudonym, never a raw identifier
    requested: tuple[str, ...]
    released: tuple[str, ...]
    decision: Decided
    status: str
    reason: str
    request_id: str
    latency_us: int


@dataclass(frozen=True)
class AccessRecord:
    sequence: int
    entry: AccessEntry
    previous_hash: str
    record_hash: str
    content: str  # the canonical encoding the hash covers


# Positions in the canonical array; the store's generated columns use them.
CANONICAL_FIELDS = (
    "sequence",
    "time_us",
    "principal",
    "role",
    "method",
    "purpose",
    "subject",
    "requested",
    "released",
    "decision",
    "status",
    "reason",
    "request_id",
    "latency_us",
)


def canonical(sequence: int, entry: AccessEntry) -> str:
    """The canonical encoding of a record's content (everything but its hashes)."""
    values = [
        sequence,
        entry.time_us,
        entry.principal,
        entry.role,
        entry.method,
        entry.purpose,
        entry.subject,
        list(entry.requested),
        list(entry.released),
        str(entry.decision),
        entry.status,
        entry.reason,
        entry.request_id,
        entry.latency_us,
    ]
    # ASCII with \u escapes: any Python text encodes, lone surrogates included.
    return json.dumps(values, separators=(",", ":"))


def decode(encoded: str) -> tuple[int, AccessEntry]:
    """The sequence and entry of a canonical encoding."""
    (
        sequence,
        time_us,
        principal,
        role,
        method,
        purpose,
        subject,
        requested,
        released,
        decision,
        status,
        reason,
        request_id,
        latency_us,
    ) = json.loads(encoded)
    entry = AccessEntry(
        time_us,
        principal,
        role,
        method,
        purpose,
        subject,
        tuple(requested),
        tuple(released),
        Decided(decision),
        status,
        reason,
        request_id,
        latency_us,
    )
    return sequence, entry


def chain_hash(previous_hash: str, encoded: str) -> str:
    return hashlib.sha256((previous_hash + encoded).encode("utf-8")).hexdigest()


def seal_record(sequence: int, entry: AccessEntry, previous_hash: str) -> AccessRecord:
    content = canonical(sequence, entry)
    return AccessRecord(sequence, entry, previous_hash, chain_hash(previous_hash, content), content)


def record_as_dict(record: AccessRecord) -> dict[str, object]:
    """A record as plain data, for exports (JSON lines, CSV, a subject's export)."""
    e = record.entry
    return {
        "sequence": record.sequence,
        "time": datetime.fromtimestamp(e.time_us / 1_000_000, tz=UTC).isoformat(),
        "principal": e.principal,
        "role": e.role,
        "method": e.method,
        "purpose": e.purpose,
        "subject": e.subject,
        "requested": list(e.requested),
        "released": list(e.released),
        "decision": str(e.decision),
        "status": e.status,
        "reason": e.reason,
        "request_id": e.request_id,
        "latency_us": e.latency_us,
        "previous_hash": record.previous_hash,
        "record_hash": record.record_hash,
    }


class CheckpointKind(StrEnum):
    CHECKPOINT = "checkpoint"  # record `sequence` has hash `record_hash`
    TRUNCATION = "truncation"  # records before `sequence` were removed; it chains from hash


@dataclass(frozen=True)
class Checkpoint:
    kind: CheckpointKind
    sequence: int
    record_hash: str
    time_us: int
    key_version: int
    signature: str  # hex

    def message(self) -> bytes:
        return checkpoint_message(self.kind, self.sequence, self.record_hash, self.time_us)

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": str(self.kind),
                "sequence": self.sequence,
                "record_hash": self.record_hash,
                "time_us": self.time_us,
                "key_version": self.key_version,
                "signature": self.signature,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, line: str) -> Checkpoint:
        raw = json.loads(line)
        return cls(
            CheckpointKind(raw["kind"]),
            int(raw["sequence"]),
            str(raw["record_hash"]),
            int(raw["time_us"]),
            int(raw["key_version"]),
            str(raw["signature"]),
        )


def checkpoint_message(kind: str, sequence: int, record_hash: str, time_us: int) -> bytes:
    return f"tactful-checkpoint/1|{kind}|{sequence}|{record_hash}|{time_us}".encode()


def sign_checkpoint(
    keys: Keys, kind: CheckpointKind, sequence: int, record_hash: str, time_us: int
) -> Checkpoint:
    version, key = keys.primary_key()
    signature = _crypto.sign(key, checkpoint_message(kind, sequence, record_hash, time_us))
    return Checkpoint(kind, sequence, record_hash, time_us, version, signature.hex())


@dataclass(frozen=True)
class Verification:
    intact: bool
    records: int
    first_bad_sequence: int = 0
    problem: str = ""


# A stored row as verification reads it: sequence, previous hash, record hash, canonical.
StoredRow = tuple[int, str, str, str]


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
