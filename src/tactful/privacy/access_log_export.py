"""The access log streamed to where operators keep logs: every record, and every signed
checkpoint line, as one JSON line, in order, resumable.

A SQLite log is one chain; a PostgreSQL log is a chain per server process
(privacy/access_log_epochs.py). Each chain's records are exported in its order, which
is the order they committed (a chain's owner appends one transaction at a time); the
records one poll finds are written in sequence order. A checkpoint line is written
once every record it pins has been, so a copy never names a record it lacks.

The cursor (each chain's last exported sequence and hash, the signed lines written, the
chains whose closing record was written) is saved only after the sink flushed: a crash
between the two writes some records again, never skips one (at least once). The
verifier (access_log_export_verify.py) counts an exact repeat as a duplicate.

    {"type": "access_record", "chain": "", "sequence": 7, "previous_hash": "…",
     "record_hash": "…", "mac": "…", "content": "[7,…]", "record": {…}}
    {"type": "checkpoint", "kind": "checkpoint", "sequence": 7, "record_hash": "…",
     "line": "{…the signed line, as the checkpoint file holds it…}"}

`record` is the content decoded (privacy/access_log.py `record_as_dict`) for the
SIEM's searches; the verifier checks it says what `content` says.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from tactful.privacy.access_log import (
    AccessRecord,
    StoredRow,
    decode,
    is_closing,
    record_as_dict,
)

RECORD = "access_record"
CHECKPOINT = "checkpoint"


class FollowedLog(Protocol):
    """What the export reads from an access log store (each engine has it)."""

    def chains(self) -> list[str]: ...

    def chain_rows(self, chain: str, *, after_sequence: int, limit: int) -> list[StoredRow]: ...

    def backlog(self, chain: str, *, after_sequence: int) -> tuple[int, int]: ...

    def signed_lines(self, *, after: int = 0) -> list[str]:
        """The signed checkpoint lines, in order, after the first `after` of them."""
        ...


class Sink(Protocol):
    """Where the lines go: `write` hands them over, durably or to the network, before it
    returns, or raises OSError (the cursor then does not move)."""

    def write(self, lines: Sequence[str]) -> None: ...

    def close(self) -> None: ...


@dataclass
class Cursor:
    """Where the export stands: per chain the last (sequence, record hash) written."""

    heads: dict[str, tuple[int, str]] = field(default_factory=dict)
    signed: int = 0  # signed checkpoint lines written
    closed: set[str] = field(default_factory=set)  # chains whose closing record was written

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": 1,
                "heads": {c: list(h) for c, h in sorted(self.heads.items())},
                "signed": self.signed,
                "closed": sorted(self.closed),
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Cursor:
        raw = json.loads(text)
        heads = {str(c): (int(s), str(h)) for c, (s, h) in raw["heads"].items()}
        return cls(heads, int(raw["signed"]), {str(c) for c in raw["closed"]})

    def copy(self) -> Cursor:
        return Cursor(dict(self.heads), self.signed, set(self.closed))


def record_line(chain: str, row: StoredRow) -> str:
    sequence, previous_hash, record_hash, content, mac = row
    _, entry = decode(content)
    record = AccessRecord(sequence, entry, previous_hash, record_hash, content, mac)
    shown = record_as_dict(record)
    del shown["previous_hash"], shown["record_hash"], shown["sequence"]
    return json.dumps(
        {
            "type": RECORD,
            "chain": chain,
            "sequence": sequence,
            "previous_hash": previous_hash,
            "record_hash": record_hash,
            "mac": mac,
            "content": content,
            "record": shown,
        },
        ensure_ascii=False,
    )


def checkpoint_line(signed: str) -> str:
    raw = json.loads(signed)
    return json.dumps(
        {
            "type": CHECKPOINT,
            "kind": raw["kind"],
            "sequence": raw["sequence"],
            "record_hash": raw["record_hash"],
            "line": signed,
        }
    )


def pins_of(signed: str) -> dict[str, int]:
    """The records (chain: sequence) a signed line pins; none for a truncation.

    >>> pins_of('{"kind": "checkpoint", "sequence": 9}')
    {'': 9}
    >>> pins_of('{"kind": "epoch", "sequence": 9, "heads": [["a", 4, "h"], ["b", 9, "h"]]}')
    {'a': 4, 'b': 9}
    """
    raw = json.loads(signed)
    if raw["kind"] == "epoch":
        return {str(c): int(s) for c, s, _ in raw["heads"]}
    if raw["kind"] == "checkpoint":
        return {"": int(raw["sequence"])}
    return {}


@dataclass(frozen=True)
class Batch:
    """The lines of one poll, and the cursor once they are written."""

    lines: list[str]
    after: Cursor
    records: int


def next_batch(log: FollowedLog, cursor: Cursor, *, limit: int) -> Batch:
    """The records after `cursor` (at most `limit` per chain) in sequence order, each
    chain in its own, then every signed line whose records are all written."""
    after = cursor.copy()
    found: list[tuple[int, str, StoredRow]] = []
    for chain in log.chains():
        if chain in cursor.closed:
            continue
        since = cursor.heads.get(chain, (0, ""))[0]
        found += [
            (row[0], chain, row) for row in log.chain_rows(chain, after_sequence=since, limit=limit)
        ]
    lines = []
    for _, chain, row in sorted(found):
        lines.append(record_line(chain, row))
        after.heads[chain] = (row[0], row[2])
        if is_closing(row[3]):
            after.closed.add(chain)
    records = len(lines)
    lines += _signed_lines_due(log.signed_lines(after=cursor.signed), after)
    return Batch(lines, after, records)


def _signed_lines_due(signed: Sequence[str], after: Cursor) -> Iterable[str]:
    for line in signed:
        pins = pins_of(line)
        if any(after.heads.get(c, (0, ""))[0] < s for c, s in pins.items()):
            return  # later lines wait too: the copy keeps the signed order
        after.signed += 1
        yield checkpoint_line(line)


def backlog(log: FollowedLog, cursor: Cursor) -> tuple[int, int]:
    """Records not yet exported, and the time of the oldest of them (0: none)."""
    count, oldest = 0, 0
    for chain in log.chains():
        if chain in cursor.closed:
            continue
        behind, first = log.backlog(chain, after_sequence=cursor.heads.get(chain, (0, ""))[0])
        count += behind
        if first:
            oldest = min(oldest, first) if oldest else first
    return count, oldest


def resume_from_tail(cursor: Cursor, tail: Iterable[str], signed: Sequence[str]) -> Cursor:
    """The cursor moved past what the copy's last lines already hold (a crash after the
    sink flushed and before the cursor was saved), so a restart writes nothing twice.

    Only lines that continue the cursor count: a record that links to its chain's head,
    a signed line that is the next one due (`signed`: those after the cursor's).
    """
    after = cursor.copy()
    for text in tail:
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if not isinstance(line, dict):
            continue
        if line.get("type") == RECORD:
            chain = str(line.get("chain", ""))
            head = after.heads.get(chain)
            sequence = line.get("sequence")
            if not isinstance(sequence, int) or (head and sequence <= head[0]):
                continue
            if head and line.get("previous_hash") != head[1]:
                continue
            after.heads[chain] = (sequence, str(line.get("record_hash")))
            if is_closing(str(line.get("content", ""))):
                after.closed.add(chain)
        elif (
            line.get("type") == CHECKPOINT
            and after.signed - cursor.signed < len(signed)
            and line.get("line") == signed[after.signed - cursor.signed]
        ):
            after.signed += 1
    return after
