"""Group commit on the event loop: at most one durable commit per window.

When the log is idle a record is committed at once. Under load, records that
arrive within `window_s` of the last commit wait for the next one and are
written together in one transaction: one fsync for many calls. The commit runs
on the loop itself (it blocks the loop for one fsync) because handing each
record to a writer thread costs more, in GIL hand-offs, than the fsync does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Protocol

from privacy.access_log import AccessEntry, AccessLogUnavailable, AccessRecord


class AccessLogWriter(Protocol):
    def append(self, entries: Sequence[AccessEntry], *, now_us: int) -> list[AccessRecord]: ...

    def checkpoint(self, *, now_us: int) -> object: ...


class LoopCommitter:
    def __init__(
        self,
        log: AccessLogWriter,
        clock_us: Callable[[], int],
        *,
        window_s: float = 0.005,
        idle_checkpoint_s: float = 60.0,
    ) -> None:
        self._log = log
        self._clock_us = clock_us
        self._window = window_s
        self._idle = idle_checkpoint_s
        self._pending: list[tuple[AccessEntry, asyncio.Future[AccessRecord]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._last_commit = float("-inf")

    def submit(self, entry: AccessEntry) -> asyncio.Future[AccessRecord]:
        """Queue `entry`; the future completes once it is durable, or fails with
        AccessLogUnavailable."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[AccessRecord] = loop.create_future()
        if not self._pending:
            delay = self._last_commit + self._window - loop.time()
            if delay > 0:
                loop.call_later(delay, self._flush)
            else:
                loop.call_soon(self._flush)
        self._pending.append((entry, future))
        return future

    def _flush(self) -> None:
        self._last_commit = asyncio.get_running_loop().time()
        batch, self._pending = self._pending, []
        try:
            records = self._log.append([entry for entry, _ in batch], now_us=self._clock_us())
        except Exception as exc:  # never leave a caller waiting
            failure = (
                exc
                if isinstance(exc, AccessLogUnavailable)
                else AccessLogUnavailable(f"access log write failed: {exc}")
            )
            for _, future in batch:
                if not future.done():
                    future.set_exception(failure)
            return
        for (_, future), record in zip(batch, records, strict=True):
            if not future.done():
                future.set_result(record)
        self._arm_idle_checkpoint()

    def _arm_idle_checkpoint(self) -> None:
        """Sign a checkpoint once the log has been quiet for `idle_checkpoint_s`."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(self._idle, self._checkpoint)

    def _checkpoint(self) -> None:
        self._timer = None
        # If signing fails, the next write fails closed and says so.
        with contextlib.suppress(AccessLogUnavailable):
            self._log.checkpoint(now_us=self._clock_us())

    def close(self) -> None:
        """Write what is waiting and sign a last checkpoint."""
        if self._timer is not None:
            self._timer.cancel()
        if self._pending:
            self._flush()
        self._checkpoint()
