"""The journeys a contract declares, each with its playbook loaded, checked and its
release gates passed: what a server serves, or a PlaybookError naming every problem.

    [journeys.checkout_recovery]
    playbook = "playbooks/checkout_recovery.toml"   # relative to the contract's folder

A journey is bound to one purpose (its playbook's), and a purpose to at most one
journey, so a handoff under a purpose knows which journey's steps to show. A journey may
also have a staged version (staging.py), checked the same way, that serves a share of
its treatment arm.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tactful.journeys.errors import PlaybookError
from tactful.journeys.gates import failures
from tactful.journeys.playbook import Playbook
from tactful.journeys.playbook_file import load_playbook
from tactful.journeys.staging import POINTER, Staged, read_pointer
from tactful.privacy.contract import Contract

log = logging.getLogger("tactful.journeys")


def playbook_path(contract: Contract, journey: str) -> Path:
    return Path(contract.path).parent / contract.journeys[journey].playbook


def history_folder(contract: Contract, journey: str) -> Path:
    """Where the versions a journey's live one replaced are kept, and its staging."""
    return playbook_path(contract, journey).parent / "history" / journey


@dataclass(frozen=True)
class Served:
    """What a server serves: each journey's live playbook, and the staged ones."""

    live: Mapping[str, Playbook]
    staged: Mapping[str, Staged]


def load_journey(contract: Contract, journey: str, *, gates: bool = True) -> Playbook:
    """One journey's playbook, checked against the contract; with `gates`, its cases
    must pass too."""
    path = playbook_path(contract, journey)
    playbook = load_playbook(path, contract)
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
        raise PlaybookError(str(path), problems)
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


def load_journeys(contract: Contract) -> dict[str, Playbook]:
    """Every journey of the contract, each checked and its cases passed."""
    playbooks = {name: load_journey(contract, name) for name in sorted(contract.journeys)}
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


def load_staged(contract: Contract, live: Playbook) -> Staged | None:
    """The journey's staged version, checked as the live one is (and for its purpose),
    its cases passed; None when nothing is staged."""
    pointer = read_pointer(history_folder(contract, live.journey))
    if pointer is None:
        return None
    path, share = pointer
    playbook = load_playbook(path, contract)
    problems = []
    if playbook.journey != live.journey:
        problems.append(f"journey: {playbook.journey!r}, staged for {live.journey!r}")
    if playbook.purpose != live.purpose:
        problems.append(f"purpose: {playbook.purpose!r}, but the journey serves {live.purpose!r}")
    problems.extend(_holdout_problems(contract, live.journey, playbook))
    problems.extend(failures(playbook, contract))
    if problems:
        raise PlaybookError(str(path), problems)
    return Staged(playbook, share)


def load_served(contract: Contract) -> Served:
    """Every journey's live playbook and staged version, each checked, cases passed."""
    live = load_journeys(contract)
    staged = {name: load_staged(contract, playbook) for name, playbook in live.items()}
    return Served(live, {name: s for name, s in staged.items() if s is not None})


class JourneyCatalogue:
    """The contract's journeys as a server serves them, read again when a playbook file
    or a staging pointer changes (one `stat` per file per look, as the keyring is), so
    a promotion, a staging or a rollback (releases.py) reaches a running server without
    a restart. A changed file that does not check, or whose cases fail, is not served:
    the last good playbooks (live and staged) stay, and `problem` says why until a good
    file replaces it."""

    def __init__(self, contract: Contract) -> None:
        self._contract = contract
        self._stamps = self._stamp()
        self._served = load_served(contract)
        self.problem: str | None = None

    def playbooks(self) -> Mapping[str, Playbook]:
        """The live playbooks."""
        return self.served().live

    def served(self) -> Served:
        """The live and staged playbooks: the same object until a file changes."""
        stamps = self._stamp()
        if stamps != self._stamps:
            self._stamps = stamps
            try:
                self._served = load_served(self._contract)
            except PlaybookError as exc:  # keep serving what passed
                self.problem = str(exc)
                log.error("journeys: a changed playbook is not served: %s", exc)
            else:
                self.problem = None
                log.info("journeys: playbooks reloaded (%s)", _versions(self._served))
        return self._served

    def _stamp(self) -> tuple[tuple[int, int, int], ...]:
        stamps = []
        for journey in sorted(self._contract.journeys):
            for path in (
                playbook_path(self._contract, journey),
                history_folder(self._contract, journey) / POINTER,
            ):
                try:
                    st = path.stat()
                except OSError:
                    stamps.append((0, 0, 0))
                else:
                    stamps.append((st.st_ino, st.st_size, st.st_mtime_ns))
        return tuple(stamps)


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
