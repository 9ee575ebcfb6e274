"""Invariant: consent and suppression are checked inside the transaction that stores.

A batch checks consent (and the suppression tombstones), then writes. A withdrawal or an
erasure with suppression from another connection (another server, the command line)
must land wholly before the check or wholly after the write: never between, where it
would be answered "done" and then be undone by the batch.

The moment between check and write is when the vault remembers the batch's
identities; there the test starts the other writer and gives it every chance to
finish before the batch writes. Afterwards the person must have nothing stored for
the purpose, whichever way the race went.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tactful.privacy.vault import Identity
from tactful.timestamps import to_us
from tests.conftest import T0
from tests.storage.engines import Engine, Stores

ADA = "ada@example.com"
AT_US = to_us(T0 - timedelta(seconds=30))
# How long the batch, between its check and its write, waits for the other writer.
# An engine that lets the other writer through finishes it in milliseconds.
WINDOW_S = 0.5


class WaitsForAnotherWriter:
    """The vault, with another writer started while the batch is between its consent
    check and its write (the vault remembers identities exactly there)."""

    def __init__(self, vault: Any, other_writer: Callable[[], None]) -> None:
        self._vault = vault
        self._other_writer = other_writer
        self.finished_in_between: bool | None = None
        self.thread: threading.Thread | None = None
        self.failure: list[BaseException] = []

    def remember(self, identities: Iterable[Identity], *, now: datetime) -> int:
        done = threading.Event()

        def run() -> None:
            try:
                self._other_writer()
            except BaseException as exc:  # reported by the test, not lost in the thread
                self.failure.append(exc)
            finally:
                done.set()

        self.thread = threading.Thread(target=run)
        self.thread.start()
        self.finished_in_between = done.wait(WINDOW_S)
        return int(self._vault.remember(identities, now=now))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._vault, name)


def race(
    engine: Engine, tmp_path: Path, purpose: str, principal: str, other: Callable[[Stores], None]
) -> tuple[Stores, WaitsForAnotherWriter]:
    settings = engine.settings(tmp_path / "data")
    stores = engine.open(settings)
    stores.set_consent(ADA, "onboarding", True, now=T0)
    elsewhere = engine.open(settings)  # another process's connections
    probe = WaitsForAnotherWriter(stores.domain.vault, lambda: other(elsewhere))
    try:
        result = stores.record(
            principal, purpose, [(ADA, "page_viewed", AT_US, {"path": "/a"})], now=T0, vault=probe
        )
        assert probe.thread is not None, "the batch never reached its write"
        probe.thread.join(timeout=30)
        assert not probe.thread.is_alive()
    finally:
        elsewhere.close()
    assert probe.failure == []
    assert result.stored + result.not_stored == 1
    return stores, probe


def test_a_withdrawal_from_another_connection_never_lands_between_check_and_write(
    engine: Engine, tmp_path: Path
) -> None:
    def withdraw(elsewhere: Stores) -> None:
        elsewhere.set_consent(ADA, "onboarding", False, now=T0)

    stores, probe = race(engine, tmp_path, "onboarding", "web_frontend", withdraw)
    try:
        # Whichever went first, nothing collected under onboarding outlives the withdrawal.
        assert [e for e in stores.stored_events(ADA) if e.purpose == "onboarding"] == []
        assert probe.finished_in_between is False, "the withdrawal interleaved with the batch"
    finally:
        stores.close()


def test_an_erasure_with_suppression_from_another_connection_never_lands_between(
    engine: Engine, tmp_path: Path
) -> None:
    def erase(elsewhere: Stores) -> None:
        elsewhere.erase(ADA, suppress=True, now=T0)

    stores, probe = race(engine, tmp_path, "support_triage", "support_widget", erase)
    try:
        assert stores.stored_events(ADA) == []
        assert probe.finished_in_between is False, "the erasure interleaved with the batch"
        again = stores.record(
            "support_widget", "support_triage", [(ADA, "page_viewed", AT_US, {})], now=T0
        )
        assert (again.stored, again.not_stored) == (0, 1)  # suppressed from now on
    finally:
        stores.close()


def test_an_erasure_racing_a_batch_leaves_no_identity_in_the_vault(
    engine: Engine, tmp_path: Path
) -> None:
    def erase(elsewhere: Stores) -> None:
        elsewhere.erase(ADA, suppress=True, now=T0)

    stores, _ = race(engine, tmp_path, "support_triage", "support_widget", erase)
    try:
        assert stores.stored_events(ADA) == []
        assert stores.identity_of(ADA) is None  # erased means unreadable, vault included
    finally:
        stores.close()
