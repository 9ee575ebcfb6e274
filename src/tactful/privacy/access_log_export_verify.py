"""Verifying an exported copy of the access log (privacy/access_log_export.py) on its
own, and against the store it came from.

On its own: every line is an export line; each record's hash covers its content and
links to the record before it in its chain, its shown fields say what its content
says, nothing follows a chain's closing record, every record a checkpoint line pins
has the pinned hash. With the keyring also every record's MAC and every checkpoint
line's signature (the checks of `tactful audit verify`). An exact repeat of a record
already read is a duplicate (the export is at least once), counted, not an error;
anything else out of place names its line.

Against the store: every record of the copy is the store's record of that sequence,
byte for byte (records the store no longer holds, truncated since, are counted).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from tactful.privacy.access_log import (
    GENESIS_HASH,
    Checkpoint,
    StoredRow,
    Verification,
    chain_hash,
    is_closing,
    mac_problem,
    record_keys,
)
from tactful.privacy.access_log_epochs import chain_genesis, check_epochs
from tactful.privacy.access_log_export import (
    CHECKPOINT,
    RECORD,
    FollowedLog,
    checkpoint_line,
    record_line,
)
from tactful.privacy.access_log_verify import anchor
from tactful.privacy.keyring import Keys

_REPEAT_WINDOW = 100_000  # records per chain a duplicate may repeat (a batch written twice)


@dataclass
class CopyVerdict:
    intact: bool
    records: int = 0
    line: int = 0  # the first bad line (1-based; 0: none)
    problem: str = ""
    duplicates: int = 0
    checkpoints: int = 0
    chains: dict[str, tuple[int, int]] = field(default_factory=dict)  # first, last sequence
    notices: list[str] = field(default_factory=list)


class _Bad(Exception):
    def __init__(self, line: int, problem: str) -> None:
        super().__init__(problem)
        self.line, self.problem = line, problem


@dataclass
class _Chain:
    first: int
    head: tuple[int, str]
    closed_at: int = 0
    recent: deque[tuple[int, str]] = field(default_factory=lambda: deque(maxlen=_REPEAT_WINDOW))


def verify_copy(lines: Callable[[], Iterable[str]], keys: Keys | None = None) -> CopyVerdict:
    """Check the copy `lines()` yields (read twice: the checkpoint lines pin records
    that come before them); `keys` adds the MACs and signatures."""
    verdict = CopyVerdict(True)
    try:
        starts: dict[tuple[str, int], str] = {}
        pinned = _signed(lines(), keys, verdict, starts)
        _records(lines(), pinned, starts, keys, verdict)
    except _Bad as bad:
        verdict.intact, verdict.line, verdict.problem = False, bad.line, bad.problem
    return verdict


def _parsed(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, object]]]:
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
        except ValueError:
            raise _Bad(number, f"line {number} is not JSON (cut or edited)") from None
        if not isinstance(line, dict) or line.get("type") not in (RECORD, CHECKPOINT):
            raise _Bad(number, f"line {number} is not an access-log export line")
        yield number, line


def _signed(
    lines: Iterable[str],
    keys: Keys | None,
    verdict: CopyVerdict,
    starts: dict[tuple[str, int], str],
) -> dict[str, dict[int, str]]:
    """Every checkpoint line checked (shown fields, order; signatures with `keys`);
    the record hashes they pin, by chain and sequence. `starts` gets where a signed
    truncation says each chain now begins: (chain, sequence) -> the hash it chains from."""
    signed: list[str] = []
    seen: set[str] = set()
    pinned: dict[str, dict[int, str]] = {}
    for number, line in _parsed(lines):
        if line["type"] != CHECKPOINT:
            continue
        text = line.get("line")
        try:
            same = isinstance(text, str) and json.loads(checkpoint_line(text)) == line
        except (ValueError, KeyError, TypeError):
            same = False
        if not same:
            raise _Bad(number, f"line {number}: checkpoint fields differ from the signed line")
        assert isinstance(text, str)
        if text in seen:  # a batch written again (at least once)
            verdict.duplicates += 1
            continue
        seen.add(text)
        raw = json.loads(text)
        epoch = raw["kind"] == "epoch"  # an epoch pins its heads, maybe none
        heads = raw["heads"] if epoch else [["", raw["sequence"], raw["record_hash"]]]
        if raw["kind"] == "truncation":
            starts[("", int(raw["sequence"]))] = str(raw["record_hash"])
        for chain, sequence, chained_from in raw.get("starts", []):
            starts[(str(chain), int(sequence))] = str(chained_from)
        if raw["kind"] != "truncation":
            for chain, sequence, record_hash in heads:
                pinned.setdefault(str(chain), {})[int(sequence)] = str(record_hash)
        signed.append(text)
        _check_signed_order(signed, number)
    verdict.checkpoints = len(signed)
    if keys is not None and signed:
        _check_signatures(signed, keys)
    return pinned


def _check_signed_order(signed: list[str], number: int) -> None:
    previous = [json.loads(s) for s in signed[-2:]]
    if len(previous) == 2 and previous[0]["kind"] == previous[1]["kind"]:
        if int(previous[1]["sequence"]) < int(previous[0]["sequence"]):
            raise _Bad(number, f"line {number}: checkpoint out of order")
        if "epoch" in previous[1] and previous[1]["epoch"] != previous[0]["epoch"] + 1:
            raise _Bad(number, f"line {number}: epoch {previous[1]['epoch']} out of order")


def _check_signatures(signed: list[str], keys: Keys) -> None:
    """Each line's signature, and their order, as `tactful audit verify` checks them."""
    first = json.loads(signed[0])
    if first["kind"] == "epoch" and first["epoch"] == 1:
        result: object = check_epochs(signed, keys)  # their links and digests too
    else:  # signatures and order (a copy begun later: its first epoch links to none here)
        result = anchor([Checkpoint.from_json(s) for s in signed], keys)
    if isinstance(result, Verification):
        raise _Bad(0, f"checkpoint lines: {result.problem}")


def _records(
    lines: Iterable[str],
    pinned: dict[str, dict[int, str]],
    starts: dict[tuple[str, int], str],
    keys: Keys | None,
    verdict: CopyVerdict,
) -> None:
    macs = record_keys(keys) if keys is not None else None
    chains: dict[str, _Chain] = {}
    for number, line in _parsed(lines):
        if line["type"] != RECORD:
            continue
        row, chain = _row(number, line)
        sequence, previous_hash, record_hash, content, mac = row
        state = chains.get(chain)
        if state is not None and sequence <= state.head[0]:
            if (sequence, record_hash) in state.recent:
                verdict.duplicates += 1
                continue
            raise _Bad(
                number,
                f"line {number}: record {sequence} is out of order or altered"
                f" (record {state.head[0]} came before it)",
            )
        if chain_hash(previous_hash, content) != record_hash:
            raise _Bad(
                number, f"line {number}: record {sequence}'s hash does not match its content"
            )
        if state is None:
            state = chains[chain] = _Chain(sequence, (sequence, record_hash))
            start = GENESIS_HASH if chain == "" else chain_genesis(chain)
            if previous_hash != start:
                verdict.notices.append(
                    f"chain {chain or '(the one chain)'} begins in the copy at record"
                    f" {sequence}, not at its first: the export began later, or after a truncation"
                )
        elif previous_hash != state.head[1]:
            if starts.get((chain, sequence)) != previous_hash:
                raise _Bad(
                    number,
                    f"line {number}: record {sequence} does not link to record"
                    f" {state.head[0]} before it (a record is missing or reordered)",
                )
            verdict.notices.append(
                f"records {state.head[0] + 1}..{sequence - 1} of chain"
                f" {chain or '(the one chain)'} were truncated from the log before they"
                " were exported (a signed truncation says where the chain goes on)"
            )
        if state.closed_at:
            raise _Bad(
                number,
                f"line {number}: record {sequence} follows its chain's closing"
                f" record {state.closed_at}",
            )
        if macs is not None and mac:
            why = mac_problem(content, record_hash, mac, macs)
            if why:
                raise _Bad(number, f"line {number}: record {sequence} {why}")
        expected = pinned.get(chain, {}).get(sequence)
        if expected is not None and expected != record_hash:
            raise _Bad(
                number,
                f"line {number}: record {sequence} differs from the signed checkpoint that pins it",
            )
        state.head = (sequence, record_hash)
        state.recent.append((sequence, record_hash))
        state.closed_at = sequence if is_closing(content) else 0
        verdict.records += 1
    for chain, pins in pinned.items():
        state = chains.get(chain)
        for sequence in pins:
            if state is None or sequence > state.head[0]:
                raise _Bad(0, f"a checkpoint line pins record {sequence}, which the copy lacks")
    verdict.chains = {c: (s.first, s.head[0]) for c, s in chains.items()}


def _row(number: int, line: dict[str, object]) -> tuple[StoredRow, str]:
    try:
        chain = str(line["chain"])
        sequence = line["sequence"]
        row = (sequence, line["previous_hash"], line["record_hash"], line["content"], line["mac"])
        if not isinstance(sequence, int) or not all(isinstance(v, str) for v in row[1:]):
            raise TypeError("field of the wrong type")
        stored: StoredRow = (sequence, str(row[1]), str(row[2]), str(row[3]), str(row[4]))
        if not stored[3].startswith(f"[{sequence},"):
            raise ValueError("its content names another sequence")
        same = json.loads(record_line(chain, stored)) == line
    except (KeyError, TypeError, ValueError) as exc:
        raise _Bad(number, f"line {number}: not a readable record ({exc})") from None
    if not same:
        raise _Bad(number, f"line {number}: record {sequence}'s fields differ from its content")
    return stored, chain


@dataclass
class Comparison:
    matched: int = 0
    truncated: int = 0  # records of the copy the store no longer holds
    behind: int = 0  # records of the store after the copy's last, per chain, summed
    line: int = 0
    problem: str = ""


def compare_with_store(lines: Iterable[str], log: FollowedLog, *, page: int = 5_000) -> Comparison:
    """Every record of an intact copy against the store's record of that sequence."""
    result = Comparison()
    pending: dict[str, deque[StoredRow]] = {}
    last: dict[str, int] = {}
    for number, line in _parsed(lines):
        if line["type"] != RECORD:
            continue
        row, chain = _row(number, line)
        if last.get(chain, 0) >= row[0]:
            continue  # a duplicate (verify_copy counted it)
        last[chain] = row[0]
        queue = pending.setdefault(chain, deque())
        while queue and queue[0][0] < row[0]:
            queue.popleft()  # skipped by the copy: the copy began later (chain checks the rest)
        if not queue:
            queue.extend(log.chain_rows(chain, after_sequence=row[0] - 1, limit=page))
        if not queue or queue[0][0] > row[0]:
            result.truncated += 1
            continue
        stored = queue.popleft()
        if stored != row:
            result.line = number
            result.problem = f"line {number}: record {row[0]} differs from the store's"
            return result
        result.matched += 1
    for chain, sequence in last.items():
        result.behind += log.backlog(chain, after_sequence=sequence)[0]
    for chain in log.chains():
        if chain not in last:
            result.behind += log.backlog(chain, after_sequence=0)[0]
    return result
