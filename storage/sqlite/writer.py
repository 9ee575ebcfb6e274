"""SQLite's threading model: one writer thread for every write, in order, and
RecordEvents batches that queue up for it stored together in one transaction.

SQLite has one writer per file; a second thread would only wait for the lock.
The writer is one thread per server process (several processes take turns at
the file's lock); the event loop never runs a write itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime
from functools import partial
from typing import TypeVar

from segments.ingest import EventRecorder, PreparedBatch, RecordResult
from storage.sqlite.behavior import EncodedEvents

T = TypeVar("T")


class Writer:
    """The single writer thread: every write to the stores goes through it, in order."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    async def run(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)


class IngestQueue:
    """RecordEvents batches waiting for the writer thread, stored together.

    While the writer stores one group, the batches that arrive queue up; the next
    group takes them all (up to `max_group`) into one transaction, so one commit
    serves several calls. A failed group fails each of its calls, none stored."""

    def __init__(
        self,
        writer: Writer,
        recorder: EventRecorder[EncodedEvents],
        *,
        max_group: int = 8,
    ) -> None:
        self._writer = writer
        self._recorder = recorder
        self._max_group = max_group
        self._pending: list[
            tuple[PreparedBatch[EncodedEvents], datetime, asyncio.Future[RecordResult]]
        ] = []
        self._draining: asyncio.Task[None] | None = None

    async def store(self, batch: PreparedBatch[EncodedEvents], now: datetime) -> RecordResult:
        future: asyncio.Future[RecordResult] = asyncio.get_running_loop().create_future()
        self._pending.append((batch, now, future))
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                group = self._pending[: self._max_group]
                del self._pending[: self._max_group]
                try:
                    results = await self._writer.run(
                        partial(self._recorder.store_many, [(b, now) for b, now, _ in group])
                    )
                except Exception as exc:
                    for _, _, future in group:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, _, future), result in zip(group, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._draining = None
