"""The group committer over a log whose commit is a network round trip: every commit
runs off the event loop, and the elected-signer's epochs are asked for on a timer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from tactful.privacy.access_log import AccessEntry, AccessRecord, seal_record
from tactful.privacy.access_log_writer import GroupCommitter
from tests.storage.contract.test_contract_access_log import T0_US, entry


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


class SlowSigningLog(NetworkedLog):
    """Its sign blocks (the database unreachable, a half-dead socket) until let go."""

    def __init__(self) -> None:
        super().__init__()
        self.signs = 0
        self.let_go = threading.Event()

    def sign_epoch(self, *, now_us: int) -> object:
        self.signs += 1
        self.epoch.set()
        self.let_go.wait(30)
        return None


def test_a_sign_that_blocks_holds_up_no_append_and_ticks_do_not_pile_up() -> None:
    log = SlowSigningLog()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        committer = GroupCommitter(log, lambda: T0_US, timeout_s=1.0)
        try:
            await committer.wait(entry(1))  # arms the epochs' timer
            assert await loop.run_in_executor(None, log.epoch.wait, 10)  # a sign is stuck
            for i in range(2, 22):  # about 100 ms of 1 ms ticks meanwhile
                record = await committer.wait(entry(i))
                assert record.entry == entry(i)
        finally:
            log.let_go.set()
            committer.close()  # on the loop, as the server does: no tick runs meanwhile
        assert log.signs == 1  # the ticks during the stuck sign were skipped, not queued

    asyncio.run(run())
