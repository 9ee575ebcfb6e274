"""The journeys a contract declares, each with its playbook loaded, checked and its
release gates passed: what a server serves, or a PlaybookError naming every problem.

    [journeys.checkout_recovery]
    playbook = "playbooks/checkout_recovery.toml"   # relative to the contract's folder

A journey is bound to one purpose (its playbook's), and a purpose to at most one
journey, so a handoff under a purpose knows which journey's steps to show.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from tactful.journeys.errors import PlaybookError
from tactful.journeys.gates import failures
from tactful.journeys.playbook import Playbook
from tactful.journeys.playbook_file import load_playbook
from tactful.privacy.contract import Contract

log = logging.getLogger("tactful.journeys")


def playbook_path(contract: Contract, journey: str) -> Path:
    return Path(contract.path).parent / contract.journeys[journey].playbook


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


class JourneyCatalogue:
    """The contract's journeys as a server serves them, read again when a playbook file
    changes (one `stat` per file per look, as the keyring is), so a promotion or a
    rollback (releases.py) reaches a running server without a restart. A changed file
    that does not check, or whose cases fail, is not served: the last good playbooks
    stay, and `problem` says why until a good file replaces it."""

    def __init__(self, contract: Contract) -> None:
        self._contract = contract
        self._stamps = self._stamp()
        self._playbooks: Mapping[str, Playbook] = load_journeys(contract)
        self.problem: str | None = None

    def playbooks(self) -> Mapping[str, Playbook]:
        stamps = self._stamp()
        if stamps != self._stamps:
            self._stamps = stamps
            try:
                self._playbooks = load_journeys(self._contract)
            except PlaybookError as exc:  # keep serving what passed
                self.problem = str(exc)
                log.error("journeys: a changed playbook is not served: %s", exc)
            else:
                self.problem = None
                log.info("journeys: playbooks reloaded (%s)", _versions(self._playbooks))
        return self._playbooks

    def _stamp(self) -> tuple[tuple[int, int, int], ...]:
        stamps = []
        for journey in sorted(self._contract.journeys):
            try:
                st = playbook_path(self._contract, journey).stat()
            except OSError:
                stamps.append((0, 0, 0))
            else:
                stamps.append((st.st_ino, st.st_size, st.st_mtime_ns))
        return tuple(stamps)


def _versions(playbooks: Mapping[str, Playbook]) -> str:
    return ", ".join(f"{name} v{p.version}" for name, p in sorted(playbooks.items()))
