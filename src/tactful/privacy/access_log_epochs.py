"""Many chains, one log: the rules of an access log kept by many server processes.

Each process appends to a chain of its own, whose first record chains from a
genesis hash derived from the chain's id (so a record moved to another chain no
longer links). Records carry a global sequence (unique, increasing within a chain,
with gaps). An *epoch* binds every chain together: it lists the heads (chain,
sequence, record hash) that advanced since the epoch before, and its
`record_hash` is a digest over its number, the previous epoch's digest, the Merkle
root over every chain's head and its own fields; that digest is what the
signature covers (`checkpoint_message`, as for a single chain's checkpoint). An
epoch may also carry `starts`: where each truncated chain now begins.

Whoever holds the database but not the keyring cannot remove, change, reorder
or insert a record, drop a chain, or cut a chain's tail before the newest epoch
without `check_chain_links` naming it; nor add a record anywhere, since every record
carries a MAC under a key from the keyring (privacy/access_log.py). Records after the
newest epoch are pinned by nothing yet: that is the window a cut tail goes unnoticed
(at most the epoch interval plus one commit).

A chain ends with a closing record: its process writes one when it stops cleanly, and
the elected signer writes one for a chain whose owner stopped renewing its lease. A
record after it is reported as appended to a closed chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from tactful.privacy import _crypto
from tactful.privacy.access_log import (
    Checkpoint,
    CheckpointKind,
    StoredRow,
    Verification,
    authenticated_by,
    chain_hash,
    is_closing,
    mac_problem,
    sign_checkpoint,
    unauthenticated_notice,
)
from tactful.privacy.keyring import Keys

Head = tuple[str, int, str]  # chain id, sequence, record hash
NOT_PINNED = (
    "records after the newest epoch are pinned by none yet (at most epoch_seconds plus one commit)"
)


def chain_genesis(chain_id: str) -> str:
    """The hash the first record of chain `chain_id` chains from."""
    return hashlib.sha256(f"tactful-chain/1|{chain_id}".encode()).hexdigest()


def merkle_root(heads: dict[str, tuple[int, str]]) -> str:
    """RFC 6962's tree hash over every chain's head, in chain id order.

    >>> merkle_root({}) == hashlib.sha256(b"").hexdigest()
    True
    """
    level = [
        hashlib.sha256(b"\x00" + f"{c}|{s}|{h}".encode()).digest()
        for c, (s, h) in sorted(heads.items())
    ]
    if not level:
        return hashlib.sha256(b"").hexdigest()
    while len(level) > 1:
        paired = [
            hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        level = paired + ([level[-1]] if len(level) % 2 else [])
    return level[0].hex()


@dataclass(frozen=True)
class Epoch:
    """One signed epoch, as its line (JSON) in the database and the checkpoint files."""

    number: int
    previous: str  # the digest of epoch number - 1 ("" for the first)
    heads: tuple[Head, ...]  # the chains that advanced
    starts: tuple[Head, ...]  # truncated chains: first kept sequence, the hash it chains from
    root: str  # Merkle root over every chain's head after this epoch
    published_at: str  # "host:path" of the checkpoint file its signer appends to
    checkpoint: Checkpoint  # kind EPOCH; record_hash is this epoch's digest

    def to_json(self) -> str:
        fields = json.loads(self.checkpoint.to_json())
        fields.update(
            epoch=self.number,
            previous=self.previous,
            heads=[list(h) for h in self.heads],
            starts=[list(s) for s in self.starts],
            root=self.root,
            published_at=self.published_at,
        )
        return json.dumps(fields, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> Epoch:
        raw = json.loads(line)
        return cls(
            int(raw["epoch"]),
            str(raw["previous"]),
            tuple((str(c), int(s), str(h)) for c, s, h in raw["heads"]),
            tuple((str(c), int(s), str(h)) for c, s, h in raw["starts"]),
            str(raw["root"]),
            str(raw["published_at"]),
            Checkpoint.from_json(line),
        )


def epoch_digest(
    number: int,
    previous: str,
    heads: Sequence[Head],
    starts: Sequence[Head],
    root: str,
    published_at: str,
) -> str:
    body = json.dumps(
        [number, previous, [list(h) for h in heads], [list(s) for s in starts], root, published_at],
        separators=(",", ":"),
    )
    return hashlib.sha256(f"tactful-epoch/1|{body}".encode()).hexdigest()


def sign_epoch(
    keys: Keys,
    number: int,
    previous: str,
    pinned: dict[str, tuple[int, str]],
    heads: Sequence[Head],
    starts: Sequence[Head],
    published_at: str,
    now_us: int,
) -> Epoch:
    """Epoch `number` over `pinned` (every chain's head before it) moved on by `heads`."""
    after = dict(pinned)
    after.update({c: (s, h) for c, s, h in heads})
    root = merkle_root(after)
    digest = epoch_digest(number, previous, heads, starts, root, published_at)
    high = max((s for s, _ in after.values()), default=0)
    checkpoint = sign_checkpoint(keys, CheckpointKind.EPOCH, high, digest, now_us)
    return Epoch(number, previous, tuple(heads), tuple(starts), root, published_at, checkpoint)


@dataclass
class Pins:
    """What the epochs say every chain must hold."""

    heads: dict[str, tuple[int, str]] = field(default_factory=dict)  # the newest per chain
    pinned: dict[str, dict[int, str]] = field(default_factory=dict)  # every pinned head
    starts: dict[str, tuple[int, str]] = field(default_factory=dict)
    digest: str = ""
    number: int = 0


def check_epochs(lines: Sequence[str], keys: Keys) -> Pins | Verification:
    """Every epoch's signature first (what is signed cannot be forged), then each one's
    number, link to the one before and digest, in order."""
    public = {v: _crypto.public_key(k) for v, k in keys.versions.items()}
    for index, line in enumerate(lines, start=1):
        try:
            checkpoint = Checkpoint.from_json(line)
        except (ValueError, KeyError, TypeError) as exc:
            return Verification(False, 0, 0, f"checkpoint #{index} is unreadable: {exc}")
        key = public.get(checkpoint.key_version)
        try:
            signature = bytes.fromhex(checkpoint.signature)
        except ValueError:
            signature = b""
        if key is None or not _crypto.signature_is_valid(key, signature, checkpoint.message()):
            why = f"checkpoint #{index} (record {checkpoint.sequence}) has a bad signature"
            return _bad(checkpoint, why)
    pins = Pins()
    for index, line in enumerate(lines, start=1):
        checkpoint = Checkpoint.from_json(line)
        try:
            epoch = Epoch.from_json(line)
        except (ValueError, KeyError, TypeError) as exc:
            return _bad(checkpoint, f"epoch #{index} is malformed: {exc}")
        problem = _epoch_problem(epoch, pins)
        if problem:
            return _bad(checkpoint, f"epoch {epoch.number}: {problem}")
        _apply(epoch, pins)
    return pins


def _bad(checkpoint: Checkpoint, why: str) -> Verification:
    return Verification(False, 0, checkpoint.sequence, why)


def _epoch_problem(epoch: Epoch, pins: Pins) -> str:
    if epoch.checkpoint.kind is not CheckpointKind.EPOCH:
        return f"is a {epoch.checkpoint.kind}, not an epoch"
    if epoch.number != pins.number + 1:
        return f"out of order or missing (expected epoch {pins.number + 1})"
    if epoch.previous != pins.digest:
        return "does not link to the epoch before it"
    after = dict(pins.heads)
    for chain, sequence, record_hash in epoch.heads:
        if chain in after and after[chain][0] >= sequence:
            return f"moves chain {chain} backwards"
        after[chain] = (sequence, record_hash)
    root = merkle_root(after)
    digest = epoch_digest(
        epoch.number, epoch.previous, epoch.heads, epoch.starts, root, epoch.published_at
    )
    if root != epoch.root or digest != epoch.checkpoint.record_hash:
        return "does not match the chain heads it signs"
    return ""


def _apply(epoch: Epoch, pins: Pins) -> None:
    for chain, sequence, record_hash in epoch.heads:
        pins.heads[chain] = (sequence, record_hash)
        pins.pinned.setdefault(chain, {})[sequence] = record_hash
    for chain, sequence, chained_from in epoch.starts:
        pins.starts[chain] = (sequence, chained_from)
        kept = pins.pinned.get(chain, {})
        pins.pinned[chain] = {s: h for s, h in kept.items() if s >= sequence}
    pins.digest, pins.number = epoch.checkpoint.record_hash, epoch.number


# Absent sequences in (low, high): how a gap in a chain is told from a broken link.
Absent = Callable[[int, int], list[int]]


@dataclass(frozen=True)
class ChainVerdict:
    records: int  # access records: a closing record is none
    problem: Verification | None
    unauthenticated: tuple[int, int, int] = (0, 0, 0)  # records without a MAC: count, first, last


def check_chain_links(
    chain: str,
    rows: Iterable[StoredRow],
    pins: Pins,
    absent: Absent,
    macs: Mapping[str, bytes],
) -> ChainVerdict:
    """Check one chain's rows (in sequence order) from its genesis or its last truncation,
    against every head the epochs pinned for it, every record's MAC under `macs` (by
    label) and its closing record."""
    start_sequence, previous = pins.starts.get(chain, (1, chain_genesis(chain)))
    last = start_sequence - 1
    pinned = pins.pinned.get(chain, {})
    order, at = sorted(pinned), 0  # the pinned sequences, and the next one to meet
    count = 0
    authenticated, closed_at = False, 0
    bare: tuple[int, int, int] = (0, 0, 0)
    for sequence, previous_hash, record_hash, content, mac in rows:
        if sequence < start_sequence:
            return _problem(count, sequence, "lies before its chain's signed truncation")
        if previous_hash != previous:
            gone = absent(last, sequence)
            if gone:
                return _problem(count, gone[0], f"is missing (found {sequence})")
            return _problem(count, sequence, "previous_hash does not match the record before it")
        if chain_hash(previous, content) != record_hash:
            return _problem(count, sequence, "record_hash does not match the record's contents")
        if not content.startswith(f"[{sequence},"):
            return _problem(count, sequence, "holds the content of another sequence (renumbered)")
        if authenticated_by(content):
            why = mac_problem(content, record_hash, mac, macs)
            if why:
                return _problem(count, sequence, why)
            authenticated = True
        elif authenticated:
            return _problem(
                count,
                sequence,
                "carries no MAC, after authenticated records of its chain (written without"
                " the keyring)",
            )
        else:
            bare = (bare[0] + 1, bare[1] or sequence, sequence)
        if closed_at:
            return _problem(
                count, sequence, f"was appended to chain {chain} after it closed at {closed_at}"
            )
        if pinned.get(sequence, record_hash) != record_hash:
            return ChainVerdict(
                count,
                Verification(
                    False,
                    count,
                    sequence,
                    f"record differs from the signed checkpoint at {sequence}",
                ),
            )
        if at < len(order) and order[at] < sequence:
            return _problem(count, order[at], "is missing; a signed epoch pins it")
        at += at < len(order) and order[at] == sequence
        closing = is_closing(content)
        closed_at = sequence if closing else 0
        previous, last, count = record_hash, sequence, count + (not closing)
    newest = max(pinned, default=0)
    if newest > last:
        gone = absent(last, newest + 1) or [last + 1]
        return ChainVerdict(
            count,
            Verification(
                False,
                count,
                gone[0],
                f"records {gone[0]}..{newest} are missing from chain {chain}; a signed"
                f" checkpoint covers record {newest} ({NOT_PINNED})",
            ),
        )
    return ChainVerdict(count, None, bare)


def _problem(count: int, sequence: int, what: str) -> ChainVerdict:
    text = (
        what if what.startswith(("previous_hash", "record_hash")) else f"record {sequence} {what}"
    )
    return ChainVerdict(count, Verification(False, count, sequence, text))


def first_problem(verdicts: Iterable[ChainVerdict]) -> Verification:
    """Every chain intact: the records counted; else the problem at the lowest sequence."""
    problems, total, bare = [], 0, []
    for verdict in verdicts:
        total += verdict.records
        if verdict.problem:
            problems.append(verdict.problem)
        if verdict.unauthenticated[0]:
            bare.append(verdict.unauthenticated)
    if problems:
        return min(problems, key=lambda p: p.first_bad_sequence)
    if not bare:
        return Verification(True, total)
    count = sum(b[0] for b in bare)
    first, last = min(b[1] for b in bare), max(b[2] for b in bare)
    return Verification(True, total, notices=(unauthenticated_notice(count, first, last),))
