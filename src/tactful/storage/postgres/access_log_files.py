"""The checkpoint files against the database's copy of the epochs.

Each signing server appends every epoch it signs, fsync'd, to its own host's file
before the database commits it; on many hosts each file holds only the lines its
host signed. A file is the authority outside the database, so, for each file given:

- every line of it is in the database unchanged, once, in the order of its epoch
  numbers: a line dropped, changed, repeated or reordered is named;
- every line the database holds from the file's host is in it.

Two kinds of signed line may be in a file and not in the database without anyone
having tampered: a crash between a line's fsync and its commit leaves it there (as
the file's newest line, or, once a server has signed again, as a line whose number
another committed epoch took: a *lost* line), and a server may sign after the
database's epochs were read (the file's *tail* beyond the database). The tail still
pins what it signed: the database's newest epoch rows may have been lost that way,
or deleted by someone who holds the database. Either way verification reports every
such line (a notice, not a failure: a crash leaves them too).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tactful.privacy import _crypto
from tactful.privacy.access_log import Checkpoint, Verification
from tactful.privacy.access_log_epochs import Epoch
from tactful.privacy.keyring import Keys


@dataclass(frozen=True)
class CheckpointFile:
    path: Path
    lines: list[str]
    host: str = ""  # the "host:path" its lines name, known even when it holds none


@dataclass(frozen=True)
class Comparison:
    problem: Verification | None
    epochs: list[str]  # the database's epochs, and the files' tails that follow them
    file_only: list[str] = dataclasses.field(default_factory=list)  # lost lines and tails


def compare(in_db: Sequence[str], files: Sequence[CheckpointFile], keys: Keys) -> Comparison:
    """The first problem of the first file that has one; else the epochs to check."""
    tails: list[str] = []
    file_only: list[str] = []
    db_lines = set(in_db)
    for file in files:
        problem, tail = _check_file(file, in_db, keys)
        if problem:
            return Comparison(problem, [])
        tails += tail
        file_only += [line for line in file.lines if line not in db_lines]
    epochs = list(in_db)
    for line in sorted(set(tails), key=_number):
        if _number(line) == len(epochs) + 1:  # past a gap, another host's file is missing
            epochs.append(line)
    return Comparison(None, epochs, sorted(set(file_only), key=_number))


def _check_file(
    file: CheckpointFile, in_db: Sequence[str], keys: Keys
) -> tuple[Verification | None, list[str]]:
    """A problem of one file, or the lines of its tail beyond the database."""
    repeated = [line for line, n in Counter(file.lines).items() if n > 1]
    if repeated:
        return _differs(min(repeated, key=first_named), file.path, "repeated"), []
    db_lines, numbers = set(in_db), {_number(line) for line in in_db}
    newest = max(numbers, default=0)
    tail_from = next(
        (k + 1 for k in range(len(file.lines) - 1, -1, -1) if _number(file.lines[k]) <= newest),
        0,
    )
    outside = {
        k
        for k, line in enumerate(file.lines)
        if line not in db_lines
        and (k >= tail_from or _number(line) in numbers)
        and _signed(line, keys)
    }
    kept = [line for k, line in enumerate(file.lines) if k not in outside]
    # A line that is no epoch names no host ("") and must be in the database as it is.
    hosts = {_published_at(line) for line in file.lines} | ({file.host} - {""})
    expected = [line for line in in_db if _published_at(line) in hosts]
    differing = list(
        ((Counter(kept) - Counter(expected)) + (Counter(expected) - Counter(kept))).elements()
    )
    if differing:
        return _differs(min(differing, key=first_named), file.path, ""), []
    highest = 0
    for k, line in enumerate(file.lines):
        if not _number(line):  # no epoch: check_epochs names it, signatures first
            continue
        if _number(line) <= highest:
            sequence = first_named(line)
            return Verification(
                False,
                0,
                sequence,
                f"checkpoint #{k + 1} (record {sequence}) of the checkpoint file {file.path}"
                " is out of order",
            ), []
        if not (k in outside and k < tail_from):  # a lost line's number is taken again
            highest = _number(line)
    return None, [file.lines[k] for k in sorted(outside) if k >= tail_from]


def signers(lines: Iterable[str]) -> set[str]:
    """The "host:path" of every checkpoint file the epochs `lines` were published to."""
    return {_published_at(line) for line in lines} - {""}


def _differs(line: str, path: Path, why: str) -> Verification:
    sequence = first_named(line)
    because = f": a line is {why}" if why else ""
    return Verification(
        False,
        0,
        sequence,
        f"the checkpoints in the database differ from the checkpoint file {path}"
        f" (first at record {sequence}){because}",
    )


def first_named(line: str) -> int:
    """The lowest record an epoch speaks for: the lowest head it pins or, for a
    truncation, where a chain now starts (the signed sequence if it is no epoch)."""
    try:
        epoch = Epoch.from_json(line)
    except (ValueError, KeyError, TypeError):
        try:
            return Checkpoint.from_json(line).sequence
        except (ValueError, KeyError, TypeError):
            return 0
    named = [s for _, s, _ in (*epoch.heads, *epoch.starts)]
    return min(named, default=epoch.checkpoint.sequence)


def _signed(line: str, keys: Keys) -> bool:
    try:
        checkpoint = Epoch.from_json(line).checkpoint
        signature = bytes.fromhex(checkpoint.signature)
    except (ValueError, KeyError, TypeError):
        return False
    key = keys.versions.get(checkpoint.key_version)
    return key is not None and _crypto.signature_is_valid(
        _crypto.public_key(key), signature, checkpoint.message()
    )


def _published_at(line: str) -> str:
    try:
        return Epoch.from_json(line).published_at
    except (ValueError, KeyError, TypeError):
        return ""


def _number(line: str) -> int:
    try:
        return Epoch.from_json(line).number
    except (ValueError, KeyError, TypeError):
        return 0
