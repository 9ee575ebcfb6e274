"""Versions of a journey's playbook: promote a new one (at once, or staged: serving a
share of the treatment arm first, staging.py), roll back to the one before, and say
which is live. Every version the live one replaced is kept, named by version and
content hash, so a rollback restores exactly what was served before. One version is
staged at a time:

    stage(FILE, share) ─▶ widen(share) … ─▶ complete: live, the old live kept
                      └─▶ rollback: withdrawn, the live one serves everyone

A version is promoted or staged only when it checks against the contract and its
cases pass, has a higher version number than the live one, and is for the same
journey and purpose. Where the versions are kept is a ReleaseStore's
(release_store.py; by default the contract's folder, where the live version is the
file the contract names); each change is whole, so a server (catalogue.JourneyCatalogue)
sees the state before it or after it, never half of one. Recording each change in the
access log is the caller's: the command records first, then changes the versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tactful.journeys.catalogue import check_kept, live_kept
from tactful.journeys.errors import PlaybookError
from tactful.journeys.gates import failures
from tactful.journeys.playbook import Playbook
from tactful.journeys.release_store import FileReleases, Kept, ReleaseStore
from tactful.journeys.staging import share_problems
from tactful.privacy.contract import Contract


@dataclass(frozen=True)
class Version:
    journey: str
    version: int
    content_hash: str  # "sha256:" and the file's hex digest
    owner: str
    changes: str
    kept: Kept  # its content, and where it is kept


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


def live(contract: Contract, journey: str, store: ReleaseStore | None = None) -> Version:
    kept = live_kept(contract, journey, store)
    return _version(check_kept(contract, journey, kept, gates=False), kept)


def staged(contract: Contract, journey: str, store: ReleaseStore | None = None) -> Staging | None:
    """The staged version and its share; None when nothing is staged."""
    found = _store(contract, store).staging(journey)
    if found is None:
        return None
    kept, share = found
    return Staging(journey, _version(kept.load(contract), kept), share)


def history(contract: Contract, journey: str, store: ReleaseStore | None = None) -> list[Version]:
    """The versions the live one replaced, newest first."""
    kept = _store(contract, store).replaced(journey)
    found = [_version(k.load(contract), k) for k in kept]
    return sorted(found, key=lambda v: v.version, reverse=True)


def check_candidate(
    contract: Contract, journey: str, candidate: Path, store: ReleaseStore | None = None
) -> Playbook:
    """The candidate file, if it may be promoted; PlaybookError naming every reason if not."""
    try:
        content = candidate.read_bytes()
    except OSError as exc:
        raise PlaybookError(str(candidate), [f"cannot read: {exc.strerror}"]) from None
    return _check(contract, journey, Kept(content, str(candidate)), store)


def _check(contract: Contract, journey: str, kept: Kept, store: ReleaseStore | None) -> Playbook:
    playbook = kept.load(contract)
    problems = failures(playbook, contract)
    current = live(contract, journey, store)
    if playbook.journey != journey:
        problems.append(f"journey: {playbook.journey!r}, not {journey!r}")
    purpose = check_kept(contract, journey, current.kept, gates=False).purpose
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
    else:
        # A number names one content for good: decisions and the scorecard count by it,
        # so a version rolled back from is not reused for something else.
        used = {v.version: v for v in history(contract, journey, store)}.get(playbook.version)
        if used is not None and used.content_hash != kept.content_hash:
            problems.append(
                f"version: {playbook.version} was served before with other content "
                f"({used.content_hash[:19]}); give this one a new number"
            )
    if problems:
        raise PlaybookError(kept.source, problems)
    return playbook


def promote(
    contract: Contract, journey: str, candidate: Path, store: ReleaseStore | None = None
) -> Release:
    """Make `candidate` the live version, keeping the live one in the history."""
    refuse_while_staged(contract, journey, "promote another version", store)
    playbook = check_candidate(contract, journey, candidate, store)
    return _make_live(contract, journey, candidate.read_bytes(), playbook.version, store)


def stage(
    contract: Contract,
    journey: str,
    candidate: Path,
    share: float,
    store: ReleaseStore | None = None,
) -> Staging:
    """Serve `candidate` to `share` of the journey's treatment arm, the live version to
    the rest: checked as a promotion is; one staged version at a time."""
    refuse_while_staged(contract, journey, "stage another version", store)
    problems = share_problems(share)
    if problems:
        raise PlaybookError(str(candidate), problems)
    playbook = check_candidate(contract, journey, candidate, store)
    _store(contract, store).stage(journey, candidate.read_bytes(), playbook.version, share)
    return _staged(contract, journey, store)


def widen(
    contract: Contract, journey: str, share: float, store: ReleaseStore | None = None
) -> tuple[Staging, Staging]:
    """Serve the staged version to `share` of the treatment arm instead: everyone it
    served stays on it when the share grows. The staging before and after."""
    before = _staged(contract, journey, store)
    problems = share_problems(share)
    if problems:
        raise PlaybookError(before.version.kept.source, problems)
    version = before.version
    _store(contract, store).stage(journey, version.kept.content, version.version, share)
    return before, _staged(contract, journey, store)


def check_staged(contract: Contract, journey: str, store: ReleaseStore | None = None) -> Staging:
    """The staged version, if it may be made live (checked again, against today's
    contract and live version); PlaybookError if not."""
    current = _staged(contract, journey, store)
    _check(contract, journey, current.version.kept, store)
    return current


def complete(contract: Contract, journey: str, store: ReleaseStore | None = None) -> Release:
    """Make the staged version live, keeping the live one in the history."""
    current = check_staged(contract, journey, store)
    version = current.version
    return _make_live(contract, journey, version.kept.content, version.version, store)


def rollback(contract: Contract, journey: str, store: ReleaseStore | None = None) -> Release:
    """With a version staged, withdraw it: the live one serves everyone again (a
    staging that does not read is withdrawn too). Otherwise make the newest version
    below the live one live again (its cases must still pass against today's
    contract); the live one stays in the history."""
    kept = _store(contract, store)
    try:
        withdrawn = staged(contract, journey, kept)
        unreadable = False
    except PlaybookError:
        withdrawn, unreadable = None, True
    if withdrawn is not None or unreadable:
        kept.withdraw(journey)
        current = live(contract, journey, kept)
        return Release(journey, current if withdrawn is None else withdrawn.version, current)
    current = live(contract, journey, kept)
    older = [v for v in history(contract, journey, kept) if v.version < current.version]
    if not older:
        raise PlaybookError(current.kept.source, [
            f"no version before {current.version} to roll back to"
        ])  # fmt: skip
    target = older[0]
    problems = failures(target.kept.load(contract), contract)
    if problems:
        raise PlaybookError(target.kept.source, problems)
    return _make_live(contract, journey, target.kept.content, target.version, kept)


def refuse_while_staged(
    contract: Contract, journey: str, what: str, store: ReleaseStore | None = None
) -> None:
    """PlaybookError when a version of `journey` is staged: one at a time."""
    found = staged(contract, journey, store)
    if found is not None:
        raise PlaybookError(
            found.version.kept.source,
            [
                f"version {found.version.version} is staged at share {found.share:g}: "
                f"widen it, complete it or roll it back before you {what}"
            ],
        )


def _make_live(
    contract: Contract, journey: str, content: bytes, version: int, store: ReleaseStore | None
) -> Release:
    before = live(contract, journey, store)
    _store(contract, store).make_live(
        journey, content, version, replacing=before.kept, replacing_version=before.version
    )
    return Release(journey, before, live(contract, journey, store))


def _staged(contract: Contract, journey: str, store: ReleaseStore | None) -> Staging:
    found = staged(contract, journey, store)
    if found is None:
        raise PlaybookError(
            journey, [f"no version of {journey} is staged; stage one with a file and a share"]
        )
    return found


def _store(contract: Contract, store: ReleaseStore | None) -> ReleaseStore:
    return FileReleases(contract) if store is None else store


def _version(playbook: Playbook, kept: Kept) -> Version:
    return Version(
        playbook.journey,
        playbook.version,
        kept.content_hash,
        playbook.owner,
        playbook.changes,
        kept,
    )
