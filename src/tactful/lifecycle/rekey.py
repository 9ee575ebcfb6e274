"""Key rotation and new normalization rules: move every subject, while the service runs.

After `tactful keys rotate`, lookups already try every live key version, so the
service keeps answering. `rekey` then moves each subject, in chunks: behavior
first (renamed to the new pseudonym, merged with anything recorded under it
meanwhile), then the vault entry (re-sealed under a fresh data key wrapped by
the primary vault key). A subject is done when its vault entry is current; a
job killed at any point simply picks up where it left off.

The same mover brings identifiers written under older normalization rules up
to date (`tactful.lifecycle.renormalize`): the subject's new pseudonym is that of its
stored identifier normalized again, and two entries that are now one
identifier (NFC and NFD `josé@`) are merged like a subject recorded under the
new key meanwhile. `normalization_only` moves just those (at start-up, before
the server answers: see api/server.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tactful.lifecycle.progress import NO_PROGRESS, Progress
from tactful.lifecycle.renormalize import may_hold_two_spellings, renormalize
from tactful.privacy.errors import PrivacyError
from tactful.privacy.pseudonym import Pseudonymizer
from tactful.privacy.vault import Identity


class RekeyableIdentities(Protocol):
    def outdated(
        self, *, after: str = "", limit: int = 1000, normalization_only: bool = False
    ) -> list[str]: ...

    def reveal(self, pseudonym: str) -> Identity | None: ...

    def move(self, old: str, identity: Identity, *, now: datetime) -> bool: ...


class RekeyableBehavior(Protocol):
    def rename(self, old: str, new: str) -> None: ...


@dataclass(frozen=True)
class RekeyReport:
    moved: int  # entries now current, renamed or only re-sealed
    unreadable: Sequence[str]  # entries whose data key no live vault key opens
    renamed: int = 0  # of them, under a new pseudonym
    joined: int = 0  # of them, merged with an entry already under that pseudonym
    # Entries of older rules that may hold two spellings that are two people now
    # (straße@ and strasse@): they stay together under the stored spelling.
    inseparable: Sequence[str] = ()
    # Entries whose identifier today's rules refuse (a character they do not allow):
    # kept under their stored form; no request can name them any more.
    refused: Sequence[str] = ()


class Rekeyer:
    def __init__(
        self,
        pseudonymizer: Pseudonymizer,
        identities: RekeyableIdentities,
        behavior: RekeyableBehavior,
        *,
        chunk: int = 1000,
        pause_s: float = 0.02,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._pseudonymizer = pseudonymizer
        self._identities = identities
        self._behavior = behavior
        self._chunk = chunk
        self._pause = pause_s
        self._sleep = sleep

    def run(
        self,
        *,
        now: datetime,
        progress: Progress = NO_PROGRESS,
        normalization_only: bool = False,
    ) -> RekeyReport:
        moved, renamed, joined, after = 0, 0, 0, ""
        progress.begin("moving subjects to the primary keys", self._outdated(normalization_only))
        unreadable: list[str] = []
        inseparable: list[str] = []
        refused: list[str] = []
        while batch := self._identities.outdated(
            after=after, limit=self._chunk, normalization_only=normalization_only
        ):
            after = batch[-1]
            for old in batch:
                try:
                    identity = self._identities.reveal(old)
                except PrivacyError:  # sealed under a vault key no longer in the keyring
                    identity = None
                if identity is None:
                    unreadable.append(old)
                    continue
                target = renormalize(identity)
                if target.refused:
                    refused.append(old)
                elif may_hold_two_spellings(identity):
                    inseparable.append(old)
                new = self._pseudonymizer.pseudonymize(identity.namespace, target.identifier)
                if new != old:
                    self._behavior.rename(old, new)
                    renamed += 1
                current = Identity(new, identity.namespace, target.identifier)
                joined += int(self._identities.move(old, current, now=now))
                moved += 1
            progress.advance(len(batch))
            self._sleep(self._pause)
        progress.end(f"moved {moved} subjects; {len(unreadable)} could not be read")
        return RekeyReport(
            moved, tuple(unreadable), renamed, joined, tuple(inseparable), tuple(refused)
        )

    def _outdated(self, normalization_only: bool) -> int:
        """How many entries are to move: the total the progress is counted against."""
        count, after = 0, ""
        while page := self._identities.outdated(
            after=after, limit=10_000, normalization_only=normalization_only
        ):
            count += len(page)
            after = page[-1]
        return count


def describe_renormalization(report: RekeyReport) -> str:
    """One line for the operator, in counts (never an identifier)."""
    parts = [
        f"{report.moved} subjects brought to the current normalization"
        f" ({report.renamed} under a new pseudonym, {report.joined} joined with another"
        " spelling of the same identifier)"
    ]
    if report.inseparable:
        parts.append(
            f"{len(report.inseparable)} may hold two spellings the old case folding merged"
            " (ß/ss, ς/σ) and stay together"
        )
    if report.refused:
        parts.append(
            f"{len(report.refused)} hold a character the current rules refuse: no request"
            " can name them, and each may hold two people the old rules merged"
        )
    if report.unreadable:
        parts.append(f"{len(report.unreadable)} could not be read")
    return (
        "identifiers: "
        + "; ".join(parts)
        + " (docs/guide/keys.md: 'Upgrading to PRECIS identifiers')"
    )
