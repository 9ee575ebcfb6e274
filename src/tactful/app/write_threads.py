"""How a server process runs its writes: on writer threads, never on the event loop,
and RecordEvents batches that queue up stored together in one transaction.

How many writer threads is each engine's business (its WRITE_THREADS): SQLite has
one writer per file, so a second thread would only wait for the lock; PostgreSQL
takes writes on many connections at once, and while one thread waits for its
commit to be flushed another can send the next group.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime
from functools import partial
from typing import Generic, TypeVar

from tactful.privacy.errors import StoreBusy
from tactful.privacy.pending_records import PendingRecord
from tactful.segments.ingest import EventRecorder, PreparedBatch, RecordResult

T = TypeVar("T")
Batch = TypeVar("Batch")


class Writer:
    """The writer threads (an executor): every write to the stores goes through them."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    async def run(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)


class IngestQueue(Generic[Batch]):
    """RecordEvents batches waiting for a writer thread, stored together.

    While the writers store their groups, the batches that arrive queue up; the next
    group takes them all (up to `max_group`) into one transaction, so one commit
    serves several calls. At most `parallel` groups are stored at once (the writer
    threads). A failed group fails each of its calls, none stored; except a group the
    store turned away as busy (PostgreSQL's deadlock or serialization failure,
    SQLite's lock): its transaction rolled back whole, nothing was stored or
    answered, so each of its batches is tried once more alone, in a transaction of
    its own, and only one that fails again fails its call. Groups written at once on
    PostgreSQL's writer threads can lock shared people in opposite orders (each batch
    sorts its own people, not a group's; the victim may be a group of one).

    Each batch may bring the access record its call gets (a PendingRecord), kept in
    the group's transaction; once that record is durable, `recorded` queues its key.
    Once `drop_at` keys have queued, the next group deletes them; the recovery's
    round (`drop_recorded`, every few seconds) deletes the rest. Not a delete in
    every group: on SQLite each statement on the writer thread also waits for the
    GIL, and a delete per group of small batches cost more than the batches' own
    inserts (bench/ingest.py --batch 10)."""

    def __init__(
        self,
        writer: Writer,
        recorder: EventRecorder[Batch],
        *,
        max_group: int = 8,
        parallel: int = 1,
        drop_at: int = 256,
    ) -> None:
        self._writer = writer
        self._recorder = recorder
        self._max_group = max_group
        self._parallel = parallel
        self._drop_at = drop_at
        self._pending: list[
            tuple[
                PreparedBatch[Batch],
                datetime,
                PendingRecord | None,
                asyncio.Future[RecordResult],
            ]
        ] = []
        self._recorded: list[tuple[str, int]] = []
        self._draining: set[asyncio.Task[None]] = set()

    async def store(
        self, batch: PreparedBatch[Batch], now: datetime, record: PendingRecord | None = None
    ) -> RecordResult:
        future: asyncio.Future[RecordResult] = asyncio.get_running_loop().create_future()
        self._pending.append((batch, now, record, future))
        if len(self._draining) < self._parallel:
            self._draining.add(asyncio.create_task(self._drain()))
        return await future

    def recorded(self, record: PendingRecord) -> None:
        """`record` is durable in the access log: its pending copy may go."""
        self._recorded.append(record.key)

    async def drop_recorded(self) -> None:
        """Delete the pending copies of the records made durable since the last group,
        in a transaction of their own (the queue was idle)."""
        recorded, self._recorded = self._recorded, []
        if recorded:
            try:
                await self._writer.run(partial(self._recorder.store_many, [], recorded=recorded))
            except Exception:
                self._recorded[:0] = recorded  # the next group tries again
                raise

    def drop_recorded_now(self) -> None:
        """As `drop_recorded`, on this thread, once nothing else writes (at shutdown)."""
        recorded, self._recorded = self._recorded, []
        if recorded:
            self._recorder.store_many([], recorded=recorded)

    async def _store_alone(
        self,
        item: tuple[
            PreparedBatch[Batch], datetime, PendingRecord | None, asyncio.Future[RecordResult]
        ],
    ) -> None:
        batch, now, record, future = item
        try:
            (result,) = await self._writer.run(
                partial(self._recorder.store_many, [(batch, now)], pending=[record])
            )
        except Exception as exc:
            _fail([future], exc)
            return
        if not future.done():
            future.set_result(result)

    async def _drain(self) -> None:
        try:
            while self._pending:
                group = self._pending[: self._max_group]
                del self._pending[: self._max_group]
                recorded: list[tuple[str, int]] = []
                if len(self._recorded) >= self._drop_at:
                    recorded, self._recorded = self._recorded, []
                try:
                    results = await self._writer.run(
                        partial(
                            self._recorder.store_many,
                            [(b, now) for b, now, _, _ in group],
                            pending=[r for _, _, r, _ in group],
                            recorded=recorded,
                        )
                    )
                except Exception as exc:
                    self._recorded[:0] = recorded
                    if isinstance(exc, StoreBusy):
                        for item in group:
                            await self._store_alone(item)
                    else:
                        _fail([future for *_, future in group], exc)
                    continue
                for (_, _, _, future), result in zip(group, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:  # in the task's last step: a batch queued after it starts a new one
            task = asyncio.current_task()
            assert task is not None
            self._draining.discard(task)


def _fail(futures: list[asyncio.Future[RecordResult]], exc: BaseException) -> None:
    """Fail each of the calls still waiting on `futures` with `exc`."""
    for future in futures:
        if not future.done():
            future.set_exception(exc)
