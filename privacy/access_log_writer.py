"""Group commit: records of concurrent RPCs are committed together by one thread.

Callers submit an entry and wait on a future; the thread takes everything that
is waiting, writes it in one durable transaction, and answers every future at
once. While idle it signs a checkpoint every `idle_checkpoint_s` seconds if
records were written since the last one.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Protocol

from privacy.access_log import AccessEntry, AccessLogUnavailable, AccessRecord

_STOP = object()


class AccessLogWriter(Protocol):
    def append(self, entries: Sequence[AccessEntry], *, now_us: int) -> list[AccessRecord]: ...

    def checkpoint(self, *, now_us: int) -> object: ...


class GroupCommitter:
    def __init__(
        self,
        log: AccessLogWriter,
        clock_us: Callable[[], int],
        *,
        max_batch: int = 1024,
        idle_checkpoint_s: float = 60.0,
    ) -> None:
        self._log = log
        self._clock_us = clock_us
        self._max_batch = max_batch
        self._idle = idle_checkpoint_s
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="tactful-access-log", daemon=True)
        self._thread.start()

    def submit(self, entry: AccessEntry) -> Future[AccessRecord]:
        future: Future[AccessRecord] = Future()
        self._queue.put((entry, future))
        return future

    def close(self) -> None:
        """Write what is waiting, sign a last checkpoint, stop the thread."""
        self._queue.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self._idle)
            except queue.Empty:
                self._checkpoint()
                continue
            batch, stop = [], first is _STOP
            if not stop:
                batch.append(first)
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            if batch:
                self._commit(batch)  # type: ignore[arg-type]
            if stop:
                self._checkpoint()
                return

    def _commit(self, batch: list[tuple[AccessEntry, Future[AccessRecord]]]) -> None:
        try:
            records = self._log.append([entry for entry, _ in batch], now_us=self._clock_us())
        except AccessLogUnavailable as exc:
            for _, future in batch:
                future.set_exception(exc)
            return
        except Exception as exc:  # never leave a caller waiting forever
            failure = AccessLogUnavailable(f"access log write failed: {exc}")
            for _, future in batch:
                future.set_exception(failure)
            return
        for (_, future), record in zip(batch, records, strict=True):
            future.set_result(record)

    def _checkpoint(self) -> None:
        # If signing fails, the next write fails closed and says so.
        with contextlib.suppress(AccessLogUnavailable):
            self._log.checkpoint(now_us=self._clock_us())
