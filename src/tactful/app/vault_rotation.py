"""The vault key epoch, wired: `tactful keys rotate-vault`, and `tactful serve`'s
schedule that runs the same rotation every `[vault] epoch` hours.

The schedule counts from when the current vault key version was made (the
keyring says), not from the server's start, so restarts never postpone a
rotation: a server that starts after its epoch ended rotates at once. Several
servers on one PostgreSQL vault may all have the schedule on: one rotates, the
others find the rotation taken (an advisory lock). Sharing the keyring file, they
write under the new key at once; each with a copy of its own, a host whose copy
lacks the new key refuses new people (the vault's database records the epochs)
and its own rotations, until the current keyring is installed there.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from tactful.app import receipts, stores
from tactful.app.settings import Settings
from tactful.lifecycle.errors import LifecycleError
from tactful.lifecycle.progress import NO_PROGRESS, Progress
from tactful.lifecycle.vault_epoch import (
    EpochReport,
    KeyringEpochs,
    RotationRunning,
    VaultEpochRotation,
    describe,
    next_rotation,
)
from tactful.privacy.errors import PrivacyError
from tactful.privacy.keyring import KeyringWatcher
from tactful.privacy.vault import IdentityVault

log = logging.getLogger("tactful.server")

_LOOK_AGAIN_S = 60.0  # another process may rotate meanwhile: read the keyring this often
_RETRY_S = 300.0  # after a rotation that failed (a database unreachable, …)


def rotate_vault(
    settings: Settings,
    vault: IdentityVault,
    *,
    now: datetime,
    progress: Progress = NO_PROGRESS,
    between_chunks: Callable[[float], None] = time.sleep,
) -> EpochReport:
    """One rotation of the vault key over `vault` (opened with the keyring's live
    keys), each change recorded in the data folder's access log as `keys.<action>`."""

    def record(action: str, reason: dict[str, object]) -> None:
        reason = {"keyring": str(settings.keyring_path), **reason}
        receipts.record_in(
            settings,
            "keys",
            action,
            role="admin",
            now=datetime.now(UTC),
            reason=json.dumps(reason, sort_keys=True),
        )

    rotation = VaultEpochRotation(
        KeyringEpochs(settings.keyring_path), vault, record, sleep=between_chunks
    )
    return rotation.run(now=now, progress=progress)


class _Stopped(Exception):
    """The server stops: a rotation under way ends between two chunks (the next one,
    at the next start, completes it)."""


class VaultEpochSchedule:
    """A thread that rotates the vault key whenever its epoch ends, until closed."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._epoch = timedelta(hours=settings.vault_epoch_hours)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tactful-vault-epoch", daemon=True)

    def start(self) -> None:
        if self._epoch:
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        not_before = 0.0  # time.monotonic(): no rotation before (after a failure, …)
        while not self._stop.is_set():
            try:
                due_in = self._wait_s()
                if due_in <= 0 and time.monotonic() >= not_before:
                    if not self._rotate():  # a key it could not destroy: not again at once
                        not_before = time.monotonic() + self._epoch.total_seconds()
                    continue
            except RotationRunning:
                due_in = _LOOK_AGAIN_S
            except _Stopped:
                return
            except (PrivacyError, LifecycleError, receipts.NotRecorded, OSError) as exc:
                log.warning("vault key rotation failed, retrying in %d s: %s", _RETRY_S, exc)
                not_before, due_in = time.monotonic() + _RETRY_S, _RETRY_S
            held_off = not_before - time.monotonic()
            self._stop.wait(min(max(due_in, held_off, 1.0), _LOOK_AGAIN_S))

    def _between_chunks(self, pause_s: float) -> None:
        if self._stop.wait(pause_s):
            raise _Stopped

    def _wait_s(self) -> float:
        now = datetime.now(UTC)
        due = next_rotation(self._settings.keyring_path, self._epoch, now=now)
        return (due - now).total_seconds()

    def _rotate(self) -> bool:
        """One rotation; whether it destroyed every older vault key."""
        keyring = KeyringWatcher(self._settings.keyring_path)
        vault = stores.open_vault(self._settings, keyring.keys("vault"), keyring.keys("pseudonym"))
        try:
            report = rotate_vault(
                self._settings, vault, now=datetime.now(UTC), between_chunks=self._between_chunks
            )
        finally:
            vault.close()
        complete = not (report.kept or report.lost)
        log.log(
            logging.INFO if complete else logging.WARNING, "vault key epoch: %s", describe(report)
        )
        return complete
