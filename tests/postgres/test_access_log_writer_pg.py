"""The group committer over a log whose commit is a network round trip: every commit
runs off the event loop, and the elected-signer's epochs are asked for on a timer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from privacy.access_log import AccessEntry, AccessRecord, seal_record
from privacy.access_log_writer import GroupCommitter
from tests.test_access_log_chain import T0_US, entry


class NetworkedLog:
    commits_on_loop = False
    epoch_seconds = 0.001

    def __init__(self) -> None:
        self.threads: list[int] = []
        self.epoch = threading.Event()

    def append(
        self, entries: Sequence[AccessEntry], *, now_us: int, lock_wait_s: float | None = None
    ) -> list[AccessRecord]:
        self.threads.append(threading.get_ident())
        return [seal_record(i + 1, e, "0" * 64) for i, e in enumerate(entries)]

    def checkpoint(self, *, now_us: int) -> object:
        return None

    def sign_epoch(self, *, now_us: int) -> object:
        self.epoch.set()
        return None


def test_a_networked_log_commits_off_the_loop_and_is_asked_for_epochs() -> None:
    log = NetworkedLog()

    async def run() -> None:
        committer = GroupCommitter(log, lambda: T0_US)
        try:
            record = await committer.wait(entry(1))
            assert record.entry == entry(1)
            assert log.threads and threading.get_ident() not in log.threads
            signed = await asyncio.get_running_loop().run_in_executor(None, log.epoch.wait, 10)
            assert signed
        finally:
            committer.close()

    asyncio.run(run())
