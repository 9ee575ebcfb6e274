"""Group commit: at most one durable commit per window, never waiting on the loop.

When the log is idle a record is committed at once. Under load, records that
arrive while a commit runs, or within `window_s` of the last one, wait for the
next commit and are written together in one transaction: one fsync for many
calls.

A commit first runs on the event loop without waiting for the write lock: handing
every batch to a thread costs more, in GIL hand-offs, than the fsync does (server
CPU per GetSegments went from about 450 to 800 µs). If another process holds the
lock (a retention job, an erasure from the command line), the batch goes to a
thread of its own that waits for the lock, and the loop keeps answering health
checks and every call that needs no record yet. A caller waits for its record at
most `timeout_s`, then fails UNAVAILABLE.

A log whose commit is a network round trip (PostgreSQL: `commits_on_loop` False)
always commits on the thread, so the loop never waits on the network; a log with
`epoch_seconds` (PostgreSQL) is asked every that many seconds to `sign_epoch`, on a
thread of its own, so that a slow sign (the database unreachable) holds up no
append; a tick that finds the last sign still running is skipped, never queued.
Only the elected server signs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Protocol

from tactful.privacy.access_log import (
    AccessEntry,
    AccessLogBusy,
    AccessLogUnavailable,
    AccessRecord,
)

log = logging.getLogger("tactful.access_log")


class AccessLogWriter(Protocol):
    def append(
        self, entries: Sequence[AccessEntry], *, now_us: int, lock_wait_s: float | None = None
    ) -> list[AccessRecord]: ...

    def checkpoint(self, *, now_us: int) -> object: ...


class GroupCommitter:
    def __init__(
        self,
        log: AccessLogWriter,
        clock_us: Callable[[], int],
        *,
        window_s: float = 0.005,
        idle_checkpoint_s: float = 60.0,
        timeout_s: float = 2.0,
        on_commit: Callable[[int, float], None] | None = None,
    ) -> None:
        """`on_commit(records, seconds)` is told of every durable commit (for metrics)."""
        self._log = log
        self._on_commit = on_commit
        self._clock_us = clock_us
        self._window = window_s
        self._idle = idle_checkpoint_s
        self.timeout_s = timeout_s
        self._pending: list[tuple[AccessEntry, asyncio.Future[AccessRecord]]] = []
        self._committing: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last_commit = float("-inf")
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tactful-access-log")
        self._on_loop: bool = getattr(log, "commits_on_loop", True)
        self._epoch_s: float = getattr(log, "epoch_seconds", 0.0) or 0.0
        self._epochs: asyncio.TimerHandle | None = None
        self._signer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tactful-epochs")
        self._signing: Future[None] | None = None

    def submit(self, entry: AccessEntry) -> asyncio.Future[AccessRecord]:
        """Queue `entry`; the future completes once it is durable, or fails with
        AccessLogUnavailable."""
        future: asyncio.Future[AccessRecord] = asyncio.get_running_loop().create_future()
        self._pending.append((entry, future))
        if self._epoch_s and self._epochs is None:
            self._arm_epoch()
        if self._committing is None:
            self._committing = asyncio.create_task(self._commit_while_pending())
        return future

    async def wait(self, entry: AccessEntry) -> AccessRecord:
        """`submit` and wait at most `timeout_s` for the record to be durable."""
        future = self.submit(entry)
        expiry = asyncio.get_running_loop().call_later(self.timeout_s, self._expire, future)
        try:
            return await future
        finally:
            expiry.cancel()

    def _expire(self, future: asyncio.Future[AccessRecord]) -> None:
        # The record may still be written; the caller is told it was not, and releases
        # nothing (the log may say more than was released, never less).
        if not future.done():
            future.set_exception(
                AccessLogUnavailable(f"the access log did not commit within {self.timeout_s:g} s")
            )

    async def _commit_while_pending(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                delay = self._last_commit + self._window - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                batch, self._pending = self._pending, []
                self._last_commit = loop.time()
                entries = [e for e, _ in batch]
                started = loop.time()
                try:
                    try:
                        if not self._on_loop:
                            raise AccessLogBusy("commits off the loop")
                        records = self._log.append(entries, now_us=self._clock_us(), lock_wait_s=0)
                    except AccessLogBusy:  # wait for the lock off the loop
                        records = await loop.run_in_executor(
                            self._thread,
                            partial(self._log.append, entries, now_us=self._clock_us()),
                        )
                except Exception as exc:  # never leave a caller waiting
                    _fail(batch, exc)
                else:
                    _succeed(batch, records)
                    self._tell(len(records), loop.time() - started)
        finally:
            self._committing = None
        self._arm_idle_checkpoint()

    def _tell(self, records: int, seconds: float) -> None:
        if self._on_commit is not None:
            try:
                self._on_commit(records, seconds)
            except Exception:  # the records are durable; their callers must hear so
                log.exception("the access log's commit observer failed")

    def _arm_idle_checkpoint(self) -> None:
        """Sign a checkpoint once the log has been quiet for `idle_checkpoint_s`."""
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(
            self._idle, lambda: loop.run_in_executor(self._thread, self._checkpoint)
        )

    def _arm_epoch(self) -> None:
        loop = asyncio.get_running_loop()

        def tick() -> None:
            if self._signing is None or self._signing.done():
                self._signing = self._signer.submit(self._sign_epoch)
            self._epochs = loop.call_later(self._epoch_s, tick)

        self._epochs = loop.call_later(self._epoch_s, tick)

    def _sign_epoch(self) -> None:
        try:
            self._log.sign_epoch(now_us=self._clock_us())  # type: ignore[attr-defined]
        except Exception:  # the next tick tries again; a write fails closed by itself
            log.exception("signing an access-log epoch failed")

    def _checkpoint(self) -> None:
        # If signing fails, the next write fails closed and says so.
        try:
            self._log.checkpoint(now_us=self._clock_us())
        except AccessLogUnavailable:
            pass
        except Exception:
            log.exception("signing an access-log checkpoint failed")

    def close(self) -> None:
        """Finish the commit under way, write what is waiting, close the chain (a log of
        many chains: PostgreSQL) and sign a last checkpoint, which pins the closing
        record."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._epochs is not None:
            self._epochs.cancel()
            self._epochs = None
        self._signer.shutdown(wait=True)
        self._thread.shutdown(wait=True)
        if self._committing is not None:
            self._committing.cancel()
            self._committing = None
        batch = [(e, f) for e, f in self._pending if not f.done()]
        self._pending = []
        if batch:
            try:
                records = self._log.append([e for e, _ in batch], now_us=self._clock_us())
            except Exception as exc:
                _fail(batch, exc)
            else:
                _succeed(batch, records)
        close_chain = getattr(self._log, "close_chain", None)
        if close_chain is not None:
            try:
                close_chain(now_us=self._clock_us())
            except Exception:  # the signer closes it once its lease runs out
                log.exception("closing the access log's chain failed")
        self._checkpoint()


def _succeed(
    batch: Sequence[tuple[AccessEntry, asyncio.Future[AccessRecord]]], records: list[AccessRecord]
) -> None:
    for (_, future), record in zip(batch, records, strict=True):
        if not future.done():
            future.set_result(record)


def _fail(
    batch: Sequence[tuple[AccessEntry, asyncio.Future[AccessRecord]]], exc: Exception
) -> None:
    failure = (
        exc
        if isinstance(exc, AccessLogUnavailable)
        else AccessLogUnavailable(f"access log write failed: {exc}")
    )
    if not isinstance(exc, AccessLogUnavailable):
        log.error("access log write failed: %s", exc)
    for _, future in batch:
        if not future.done():
            future.set_exception(failure)
