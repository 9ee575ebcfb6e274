"""The journeys a contract declares, each with its playbook loaded, checked and its
release gates passed: what a server serves, or a PlaybookError naming every problem.

    [journeys.checkout_recovery]
    playbook = "playbooks/checkout_recovery.toml"   # relative to the contract's folder

A journey is bound to one purpose (its playbook's), and a purpose to at most one
journey, so a handoff under a purpose knows which journey's steps to show. A journey may
also have a staged version (staging.py), checked the same way, that serves a share of
its treatment arm. Where the versions are kept is a ReleaseStore's (release_store.py):
the contract's folder, or the database every server shares.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from tactful.journeys.errors import PlaybookError
from tactful.journeys.gates import failures
from tactful.journeys.playbook import Playbook
from tactful.journeys.release_store import (
    FileReleases,
    Kept,
    ReleaseStore,
    file_stamps,
    playbook_path,
    seed,
)
from tactful.journeys.staging import Staged
from tactful.privacy.contract import Contract

log = logging.getLogger("tactful.journeys")


@dataclass(frozen=True)
class Served:
    """What a server serves: each journey's live playbook, and the staged ones."""

    live: Mapping[str, Playbook]
    staged: Mapping[str, Staged]


def live_kept(contract: Contract, journey: str, store: ReleaseStore | None = None) -> Kept:
    """The journey's live version as kept: the store's, or the contract's file."""
    found = None if store is None else store.live(journey)
    return found if found is not None else seed(contract, journey)


def load_journey(
    contract: Contract, journey: str, *, gates: bool = True, store: ReleaseStore | None = None
) -> Playbook:
    """One journey's live playbook, checked against the contract; with `gates`, its
    cases must pass too."""
    return check_kept(contract, journey, live_kept(contract, journey, store), gates=gates)


def check_kept(contract: Contract, journey: str, kept: Kept, *, gates: bool = True) -> Playbook:
    """A kept version of `journey`, checked as a served one is."""
    playbook = kept.load(contract)
    problems = []
    if playbook.journey != journey:
        problems.append(
            f"journey: {playbook.journey!r}, but the contract names this file for journey "
            f"{journey!r}; make them the same"
        )
    problems.extend(_holdout_problems(contract, journey, playbook))
    if gates:
        problems.extend(failures(playbook, contract))
    if problems:
        raise PlaybookError(kept.source, problems)
    return playbook


def _holdout_problems(contract: Contract, journey: str, playbook: Playbook) -> list[str]:
    """A journey with people held out must say what they get instead."""
    share = contract.journeys[journey].holdout
    if playbook.baseline is not None or (share <= 0 and contract.holdout <= 0):
        return []
    which = (
        f"journeys.{journey}.holdout = {share}"
        if share > 0
        else f"[holdout] share = {contract.holdout}"
    )
    return [
        f"baseline: the contract holds people out of this journey ({which}); declare "
        '`baseline = "ACTION"`, the action they get: what the product did before'
    ]


def load_journeys(contract: Contract, store: ReleaseStore | None = None) -> dict[str, Playbook]:
    """Every journey of the contract, each checked and its cases passed."""
    playbooks = {
        name: load_journey(contract, name, store=store) for name in sorted(contract.journeys)
    }
    bound: dict[str, str] = {}
    for name, playbook in playbooks.items():
        other = bound.setdefault(playbook.purpose, name)
        if other != name:
            raise PlaybookError(
                contract.path,
                [
                    f"journeys.{name}: purpose {playbook.purpose!r} already has journey "
                    f"{other!r}; a purpose has at most one journey"
                ],
            )
    return playbooks


def load_staged(contract: Contract, live: Playbook, store: ReleaseStore) -> Staged | None:
    """The journey's staged version, checked as the live one is (and for its purpose),
    its cases passed; None when nothing is staged."""
    found = store.staging(live.journey)
    if found is None:
        return None
    kept, share = found
    playbook = kept.load(contract)
    problems = []
    if playbook.journey != live.journey:
        problems.append(f"journey: {playbook.journey!r}, staged for {live.journey!r}")
    if playbook.purpose != live.purpose:
        problems.append(f"purpose: {playbook.purpose!r}, but the journey serves {live.purpose!r}")
    problems.extend(_holdout_problems(contract, live.journey, playbook))
    problems.extend(failures(playbook, contract))
    if problems:
        raise PlaybookError(kept.source, problems)
    return Staged(playbook, share)


def load_served(contract: Contract, store: ReleaseStore) -> Served:
    """Every journey's live playbook and staged version, each checked, cases passed."""
    live = load_journeys(contract, store)
    staged = {name: load_staged(contract, playbook, store) for name, playbook in live.items()}
    return Served(live, {name: s for name, s in staged.items() if s is not None})


class JourneyCatalogue:
    """The contract's journeys as a server serves them, read again when a playbook file
    or the store's versions change (one `stat` per file per look, as the keyring is, and
    the store's stamp: a staging pointer's `stat`, or the database's change counter kept
    in memory), so a promotion, a staging or a rollback (releases.py) reaches a running
    server without a restart. A changed version that does not check, or whose cases
    fail, is not served: the last good playbooks (live and staged) stay, and `problem`
    says why (and the log) until a good one replaces it."""

    def __init__(self, contract: Contract, store: ReleaseStore | None = None) -> None:
        self._contract = contract
        self._store: ReleaseStore = FileReleases(contract) if store is None else store
        self._files = {j: str(playbook_path(contract, j)) for j in sorted(contract.journeys)}
        self._stamps, self._journey_stamps = self._stamp(), self._stamp_each()
        self._served = load_served(contract, self._store)
        self.problem: str | None = None

    def playbooks(self) -> Mapping[str, Playbook]:
        """The live playbooks."""
        return self.served().live

    def served(self, journey: str | None = None) -> Served:
        """The live and staged playbooks: the same object until a file changes. With
        `journey` (a decision's), only what that journey's decision reads is looked at,
        its playbook file and its versions: two `stat`s a decision, not two per journey.
        A change to another journey is read (all of them, as ever) when that one is
        asked for, or by a look without a journey."""
        if journey is None or journey not in self._files:
            if self._stamp() != self._stamps:
                self._reload()
        elif self._stamp_of(journey) != self._journey_stamps[journey]:
            self._reload()
        return self._served

    def _reload(self) -> None:
        # Stamped before reading: a change made while reading is read again next time.
        self._stamps, self._journey_stamps = self._stamp(), self._stamp_each()
        try:
            self._served = load_served(self._contract, self._store)
        except PlaybookError as exc:  # keep serving what passed
            self.problem = str(exc)
            log.error("journeys: a changed playbook is not served: %s", exc)
        else:
            self.problem = None
            log.info("journeys: playbooks reloaded (%s)", _versions(self._served))

    def _stamp(self) -> tuple[Hashable, ...]:
        return (self._store.stamp(), file_stamps(tuple(self._files.values())))

    def _stamp_of(self, journey: str) -> tuple[Hashable, ...]:
        return (self._store.stamp(journey), file_stamps((self._files[journey],)))

    def _stamp_each(self) -> dict[str, tuple[Hashable, ...]]:
        return {journey: self._stamp_of(journey) for journey in self._files}


def _versions(served: Served) -> str:
    return ", ".join(
        f"{name} v{p.version}"
        + (
            f" (v{s.playbook.version} staged at {s.share:g})"
            if (s := served.staged.get(name))
            else ""
        )
        for name, p in sorted(served.live.items())
    )
