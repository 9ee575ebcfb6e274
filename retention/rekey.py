"""Key rotation: move every subject to the primary keys, while the service runs.

After `tactful keys rotate`, lookups already try every live key version, so the
service keeps answering. `rekey` then moves each subject, in chunks: behavior
first (renamed to the new pseudonym, merged with anything recorded under it
meanwhile), then the vault entry (re-sealed under a fresh data key wrapped by
the primary vault key). A subject is done when its vault entry is current; a
job killed at any point simply picks up where it left off.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from privacy.errors import PrivacyError
from privacy.pseudonym import Pseudonymizer
from privacy.vault import Identity


class RekeyableIdentities(Protocol):
    def outdated(self, *, after: str = "", limit: int = 1000) -> list[str]: ...

    def reveal(self, pseudonym: str) -> Identity | None: ...

    def move(self, old: str, identity: Identity, *, now: datetime) -> None: ...


class RekeyableBehavior(Protocol):
    def rename(self, old: str, new: str) -> None: ...


@dataclass(frozen=True)
class RekeyReport:
    moved: int
    unreadable: Sequence[str]  # entries whose data key no live vault key opens


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
        self, *, now: datetime, progress: Callable[[str], None] = lambda _line: None
    ) -> RekeyReport:
        moved, unreadable, after = 0, [], ""
        while batch := self._identities.outdated(after=after, limit=self._chunk):
            after = batch[-1]
            for old in batch:
                try:
                    identity = self._identities.reveal(old)
                except PrivacyError:  # sealed under a vault key no longer in the keyring
                    identity = None
                if identity is None:
                    unreadable.append(old)
                    continue
                new = self._pseudonymizer.pseudonymize(identity.namespace, identity.identifier)
                if new != old:
                    self._behavior.rename(old, new)
                self._identities.move(
                    old, Identity(new, identity.namespace, identity.identifier), now=now
                )
                moved += 1
            progress(f"moved {moved} subjects to the primary keys so far")
            self._sleep(self._pause)
        progress(f"moved {moved} subjects; {len(unreadable)} could not be read")
        return RekeyReport(moved, tuple(unreadable))
