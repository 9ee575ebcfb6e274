"""The vault key epoch: erasure that holds in WAL files, free pages and backups.

Deleting a vault entry does not remove its bytes from every disk: PostgreSQL keeps
them in page free space and in the WAL, any engine in its backups. What makes those
copies useless is destroying the key that wraps the erased data key. So the vault
key has epochs (its versions in the keyring); a rotation

1. adds a new vault key version, the primary, and records it in the vault's
   database (its fingerprint): every host writes under it from then on, and a
   host whose keyring copy lacks it refuses to write new people;
2. re-wraps every live data key under it, in chunks (only the 32-byte data key is
   sealed again: the sealed identifier stays as it is);
3. retires the older versions in the database, which waits for writes in progress
   and refuses every later write under them, then re-wraps what those writes
   sealed, and destroys in the keyring each version that no longer seals any data
   key, recording each in the access log: from then on nothing sealed under it
   opens, anywhere.

The keyring file is never left with a data key whose wrapping key is gone: the new
key is written first, a version is destroyed only once the database refuses writes
under it and nothing is sealed under it.
A rotation killed at any point is completed by the next one, which adds another
version and re-wraps (again) whatever is not under it. One process at a time
rotates (`IdentityVault.exclusive`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from tactful.lifecycle.errors import LifecycleError
from tactful.lifecycle.progress import NO_PROGRESS, Progress
from tactful.privacy.keyring import load_keyring, oldest_created_at, retire_version, rotate_keyring
from tactful.privacy.vault import RewrapBatch, VaultKeyEpoch, key_fingerprint

_PASSES = 3  # data keys written under the old primary while a pass ran: at most this often


class RotationRunning(LifecycleError):
    """Another process is rotating the vault key of these stores now."""


class KeyringBehind(LifecycleError):
    """The vault's database knows a vault key version newer than this keyring's newest
    (or another key under one of its numbers): another host rotated with a keyring of
    its own. Rotating here would destroy keys that host still writes under, and reuse
    version numbers."""


class EpochVault(Protocol):
    def rewrap(self, *, after: str = "", limit: int = 1000) -> RewrapBatch: ...

    def sealed_versions(self) -> dict[int, int]: ...

    def exclusive(self) -> AbstractContextManager[bool]: ...

    def epochs(self) -> list[VaultKeyEpoch]: ...

    def register_epoch(
        self, version: int, fingerprint: str, *, now: datetime
    ) -> VaultKeyEpoch: ...  # fmt: skip

    def retire_epoch(self, version: int, fingerprint: str, *, now: datetime) -> None: ...


class EpochKeys(Protocol):
    """The vault key's versions in the keyring file."""

    def begin_epoch(self, *, now: datetime) -> int:
        """Add a version and make it primary; returns it."""
        ...

    def versions(self) -> tuple[int, ...]:
        """The live versions, primary first."""
        ...

    def retire(self, version: int) -> None: ...

    def fingerprint(self, version: int) -> str:
        """What the vault's database records of the version (never the key)."""
        ...


class KeyringEpochs:
    """`EpochKeys` over a keyring file (each change written atomically)."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def begin_epoch(self, *, now: datetime) -> int:
        return rotate_keyring(self._path, ["vault"], now=now)["vault"]

    def versions(self) -> tuple[int, ...]:
        return load_keyring(self._path).vault.live_versions()

    def retire(self, version: int) -> None:
        retire_version(self._path, "vault", version)

    def fingerprint(self, version: int) -> str:
        return key_fingerprint(load_keyring(self._path).vault.key(version))


# What the job records in the access log, right after each change: an action
# ("rotate-vault", "retire") and its reason.
Record = Callable[[str, dict[str, object]], None]


@dataclass(frozen=True)
class EpochReport:
    primary: int  # the vault key version that wraps every data key now
    rewrapped: int
    retired: tuple[int, ...]  # versions destroyed by this run
    # Older versions still in the keyring because they seal data keys that do not open
    # (a damaged row): what they wrap stays recoverable until those rows are gone.
    kept: tuple[int, ...] = ()
    unreadable: tuple[str, ...] = ()  # pseudonyms whose data key no live version opens
    # Data keys under a version this run destroyed: none, since the database refuses
    # writes under a version before the keyring loses it. Counted so that a breach of
    # that rule cannot go unnoticed.
    lost: int = 0


class VaultEpochRotation:
    def __init__(
        self,
        keys: EpochKeys,
        vault: EpochVault,
        record: Record,
        *,
        chunk: int = 1000,
        pause_s: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._keys = keys
        self._vault = vault
        self._record = record
        self._chunk = chunk
        self._pause = pause_s
        self._sleep = sleep

    def run(self, *, now: datetime, progress: Progress = NO_PROGRESS) -> EpochReport:
        """One rotation; RotationRunning if another process is rotating."""
        with self._vault.exclusive() as held:
            if not held:
                raise RotationRunning("another process is rotating the vault key now")
            self._check_keyring_is_current()
            primary = self._keys.begin_epoch(now=now)
            self._register(primary, now=now)
            self._record("rotate-vault", {"use": "vault", "primary": primary})
            rewrapped, unreadable = self._rewrap_all(primary, progress)
            old = [v for v in self._keys.versions() if v != primary]
            for version in old:  # from here on, no host writes under them
                self._vault.retire_epoch(version, self._keys.fingerprint(version), now=now)
            late, unreadable = self._rewrap_all(primary, progress, unreadable)
            retired, kept = self._retire_old(old)
            stored = self._vault.sealed_versions()
            lost = sum(stored.get(v, 0) for v in retired)
        return EpochReport(primary, rewrapped + late, retired, kept, unreadable, lost)

    def _check_keyring_is_current(self) -> None:
        newest = max(self._keys.versions())
        known = {e.version: e for e in self._vault.epochs()}
        ahead = sorted({*known, *self._vault.sealed_versions()} - set(range(newest + 1)))
        install = (
            "another host rotated the vault key with its own keyring; install that keyring here"
        )
        if ahead:
            raise KeyringBehind(
                f"the vault knows vault key v{ahead[-1]}, which this keyring does not hold"
                f" (its newest is v{newest}): {install}"
            )
        for version in self._keys.versions():
            recorded = known.get(version)
            if recorded and recorded.fingerprint not in (None, self._keys.fingerprint(version)):
                raise KeyringBehind(
                    f"this keyring's vault key v{version} is not the vault's v{version}: {install}"
                )

    def _register(self, primary: int, *, now: datetime) -> None:
        fingerprint = self._keys.fingerprint(primary)
        recorded = self._vault.register_epoch(primary, fingerprint, now=now)
        if recorded.fingerprint != fingerprint:  # another host's key under this number
            raise KeyringBehind(
                f"the vault knows another key as v{primary}, the version this rotation"
                " just added: another host rotated with its own keyring; install that"
                f" keyring here (this one's v{primary} seals nothing yet)"
            )

    def _rewrap_all(
        self, primary: int, progress: Progress, unreadable_before: tuple[str, ...] = ()
    ) -> tuple[int, tuple[str, ...]]:
        rewrapped, unreadable = 0, set(unreadable_before)
        for _ in range(_PASSES):
            outside = sum(n for v, n in self._vault.sealed_versions().items() if v != primary)
            if outside <= len(unreadable):
                break
            progress.begin(f"re-wrapping data keys under vault key v{primary}", outside)
            after = ""
            while (batch := self._vault.rewrap(after=after, limit=self._chunk)).looked_at:
                after = batch.last
                rewrapped += batch.rewrapped
                unreadable.update(batch.unreadable)
                progress.advance(batch.looked_at)
                self._sleep(self._pause)
            progress.end(f"re-wrapped {rewrapped} data keys; {len(unreadable)} do not open")
        return rewrapped, tuple(sorted(unreadable))

    def _retire_old(self, old: list[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        retired, kept = [], []
        for version in old:
            if self._vault.sealed_versions().get(version, 0):
                kept.append(version)
                continue
            self._keys.retire(version)
            self._record("retire", {"use": "vault", "version": version, "by": "rotate-vault"})
            retired.append(version)
        return tuple(retired), tuple(kept)


def next_rotation(keyring: Path, epoch: timedelta, *, now: datetime) -> datetime:
    """When the oldest vault key still in the keyring must be destroyed: its creation
    plus `epoch` (now, if the keyring does not say when it was made). Normally that
    is the primary; after a rotation cut short, the older key it left, so the next
    start completes it at once."""
    began = oldest_created_at(keyring, "vault")
    return now if began is None else began + epoch


def describe(report: EpochReport) -> str:
    """One line for the operator, in counts (never an identifier)."""
    retired = ", ".join(f"v{v}" for v in report.retired) or "none"
    line = (
        f"vault key v{report.primary} wraps every data key ({report.rewrapped} re-wrapped);"
        f" destroyed: {retired}"
    )
    if report.kept:
        kept = ", ".join(f"v{v}" for v in report.kept)
        line += (
            f"; kept {kept}: {len(report.unreadable)} data keys under it do not open"
            " (damaged rows), so what it wraps stays recoverable"
        )
    if report.lost:
        line += (
            f"; {report.lost} data keys were written under a destroyed version meanwhile"
            " and are lost"
        )
    return line
