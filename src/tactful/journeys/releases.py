"""Versions of a journey's playbook: promote a new one (at once, or staged: serving a
share of the treatment arm first, staging.py), roll back to the one before, and say
which is live. The live version is the file the contract names; every version it
replaced is kept beside it, in `history/JOURNEY/`, named by version and content hash,
so a rollback restores exactly what was served before. A staged version is kept in
`history/JOURNEY/staged/`, its share in `history/JOURNEY/staged.json`; one at a time.

    stage(FILE, share) ─▶ widen(share) … ─▶ complete: live, the old live kept
                      └─▶ rollback: withdrawn, the live one serves everyone

A version is promoted only when it checks against the contract and its cases pass, has
a higher version number than the live one, and is for the same journey and purpose. Files are
replaced whole (written aside, then renamed), so a server reading the folder
(catalogue.JourneyCatalogue) sees the old file or the new one, never half of one.
Recording each promotion and rollback in the access log is the caller's: the command
records first, then changes the file.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from tactful.journeys.catalogue import history_folder, load_journey, playbook_path
from tactful.journeys.errors import PlaybookError
from tactful.journeys.gates import failures
from tactful.journeys.playbook import Playbook
from tactful.journeys.playbook_file import load_playbook
from tactful.journeys.staging import POINTER, pointer_text, read_pointer, share_problems
from tactful.privacy.contract import Contract


@dataclass(frozen=True)
class Version:
    journey: str
    version: int
    content_hash: str  # "sha256:" and the file's hex digest
    owner: str
    changes: str
    path: Path


@dataclass(frozen=True)
class Release:
    """What a promotion or a rollback did: from one version to another."""

    journey: str
    before: Version
    after: Version


@dataclass(frozen=True)
class Staging:
    """A version serving `share` of the journey's treatment arm, the live one the rest."""

    journey: str
    version: Version
    share: float


def content_hash(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def live(contract: Contract, journey: str) -> Version:
    return _version(load_journey(contract, journey, gates=False), playbook_path(contract, journey))


def staged(contract: Contract, journey: str) -> Staging | None:
    """The staged version and its share; None when nothing is staged."""
    pointer = read_pointer(history_folder(contract, journey))
    if pointer is None:
        return None
    path, share = pointer
    return Staging(journey, _version(load_playbook(path, contract), path), share)


def history(contract: Contract, journey: str) -> list[Version]:
    """The versions the live one replaced, newest first."""
    found = []
    for path in sorted(history_folder(contract, journey).glob("v*.toml")):
        playbook = load_playbook(path, contract)
        found.append(_version(playbook, path))
    return sorted(found, key=lambda v: v.version, reverse=True)


def check_candidate(contract: Contract, journey: str, candidate: Path) -> Playbook:
    """The candidate, if it may be promoted; PlaybookError naming every reason if not."""
    playbook = load_playbook(candidate, contract)
    problems = failures(playbook, contract)
    current = live(contract, journey)
    if playbook.journey != journey:
        problems.append(f"journey: {playbook.journey!r}, not {journey!r}")
    purpose = load_journey(contract, journey, gates=False).purpose
    if playbook.purpose != purpose:
        problems.append(
            f"purpose: {playbook.purpose!r}, but the journey serves {purpose!r}; a new "
            "version keeps its purpose (what it may read, who may ask, what was consented to)"
        )
    if playbook.version <= current.version:
        problems.append(
            f"version: {playbook.version}, but version {current.version} is live; "
            "a promotion raises the version"
        )
    if problems:
        raise PlaybookError(str(candidate), problems)
    return playbook


def promote(contract: Contract, journey: str, candidate: Path) -> Release:
    """Make `candidate` the live version, keeping the live one in the history."""
    refuse_while_staged(contract, journey, "promote another version")
    check_candidate(contract, journey, candidate)
    before = _keep(contract, journey)
    _replace(playbook_path(contract, journey), candidate.read_bytes())
    return Release(journey, before, live(contract, journey))


def stage(contract: Contract, journey: str, candidate: Path, share: float) -> Staging:
    """Serve `candidate` to `share` of the journey's treatment arm, the live version to
    the rest: checked as a promotion is; one staged version at a time."""
    refuse_while_staged(contract, journey, "stage another version")
    problems = share_problems(share)
    if problems:
        raise PlaybookError(str(candidate), problems)
    playbook = check_candidate(contract, journey, candidate)
    content = candidate.read_bytes()
    folder = history_folder(contract, journey) / "staged"
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(content).hexdigest()
    kept = folder / f"v{playbook.version}-{digest[:12]}.toml"
    if not kept.exists():  # named by its content: never changed once written
        _replace(kept, content)
    _replace(history_folder(contract, journey) / POINTER, pointer_text(kept, share))
    return _staged(contract, journey)


def widen(contract: Contract, journey: str, share: float) -> tuple[Staging, Staging]:
    """Serve the staged version to `share` of the treatment arm instead: everyone it
    served stays on it when the share grows. The staging before and after."""
    before = _staged(contract, journey)
    problems = share_problems(share)
    if problems:
        raise PlaybookError(str(before.version.path), problems)
    _replace(history_folder(contract, journey) / POINTER, pointer_text(before.version.path, share))
    return before, _staged(contract, journey)


def complete(contract: Contract, journey: str) -> Release:
    """Make the staged version live (checked again, against today's contract and live
    version), keeping the live one in the history."""
    current = _staged(contract, journey)
    check_candidate(contract, journey, current.version.path)
    before = _keep(contract, journey)
    # Live first, then the pointer: a server between the two serves the new version
    # to everyone either way.
    _replace(playbook_path(contract, journey), current.version.path.read_bytes())
    (history_folder(contract, journey) / POINTER).unlink()
    return Release(journey, before, live(contract, journey))


def rollback(contract: Contract, journey: str) -> Release:
    """With a version staged, withdraw it: the live one serves everyone again (the
    staged file stays in `staged/`; a staging that does not read is withdrawn too).
    Otherwise make the newest version below the live one live again (its cases must
    still pass against today's contract); the live one stays in the history."""
    pointer = history_folder(contract, journey) / POINTER
    if pointer.exists():
        try:
            found = staged(contract, journey)
        except PlaybookError:  # a staging that does not read is withdrawn all the same
            found = None
        pointer.unlink()
        current = live(contract, journey)
        return Release(journey, current if found is None else found.version, current)
    current = live(contract, journey)
    older = [v for v in history(contract, journey) if v.version < current.version]
    if not older:
        raise PlaybookError(
            str(playbook_path(contract, journey)),
            [f"no version before {current.version} to roll back to"],
        )
    target = older[0]
    problems = failures(load_playbook(target.path, contract), contract)
    if problems:
        raise PlaybookError(str(target.path), problems)
    before = _keep(contract, journey)
    _replace(playbook_path(contract, journey), target.path.read_bytes())
    return Release(journey, before, live(contract, journey))


def _staged(contract: Contract, journey: str) -> Staging:
    found = staged(contract, journey)
    if found is None:
        raise PlaybookError(
            str(history_folder(contract, journey) / POINTER),
            [f"no version of {journey} is staged; stage one with a file and a share"],
        )
    return found


def refuse_while_staged(contract: Contract, journey: str, what: str) -> None:
    """PlaybookError when a version of `journey` is staged: one at a time."""
    found = staged(contract, journey)
    if found is not None:
        raise PlaybookError(
            str(found.version.path),
            [
                f"version {found.version.version} is staged at share {found.share:g}: "
                f"widen it, complete it or roll it back before you {what}"
            ],
        )


def _keep(contract: Contract, journey: str) -> Version:
    """The live version, copied into the history (once)."""
    current = live(contract, journey)
    folder = history_folder(contract, journey)
    folder.mkdir(parents=True, exist_ok=True)
    kept = folder / f"v{current.version}-{current.content_hash[7:19]}.toml"
    if not kept.exists():
        _replace(kept, current.path.read_bytes())
    return current


def _replace(path: Path, content: bytes) -> None:
    aside = path.with_name(f".{path.name}.new")
    aside.write_bytes(content)
    os.replace(aside, path)


def _version(playbook: Playbook, path: Path) -> Version:
    return Version(
        playbook.journey,
        playbook.version,
        content_hash(path),
        playbook.owner,
        playbook.changes,
        path,
    )
