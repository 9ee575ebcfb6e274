"""Versions of a journey's playbook: promote a new one, roll back to the one before,
and say which is live. The live version is the file the contract names; every version
it replaced is kept beside it, in `history/JOURNEY/`, named by version and content
hash, so a rollback restores exactly what was served before.

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

from tactful.journeys.catalogue import load_journey, playbook_path
from tactful.journeys.errors import PlaybookError
from tactful.journeys.gates import failures
from tactful.journeys.playbook import Playbook
from tactful.journeys.playbook_file import load_playbook
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


def content_hash(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def history_folder(contract: Contract, journey: str) -> Path:
    return playbook_path(contract, journey).parent / "history" / journey


def live(contract: Contract, journey: str) -> Version:
    return _version(load_journey(contract, journey, gates=False), playbook_path(contract, journey))


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
    check_candidate(contract, journey, candidate)
    before = _keep(contract, journey)
    _replace(playbook_path(contract, journey), candidate.read_bytes())
    return Release(journey, before, live(contract, journey))


def rollback(contract: Contract, journey: str) -> Release:
    """Make the newest version below the live one live again (its cases must still
    pass against today's contract); the live one stays in the history."""
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
