"""Writing the access records owed (privacy/pending_records.py), on every server.

Every call that writes keeps its record with its data, in the store it writes:
RecordEvents, SetConsent and EraseSubject in the behavior store, GetSegmentSizes in
the budget ledger. Once the record is durable the copy is dropped: by the next
RecordEvents group once a few hundred have queued (behavior store), or the next
round below (what is left, and the others' copies). What is
left belongs to a call whose record was never written: the server crashed, or the
access log or its database failed, between the data's commit and the record's.
Once at start and every `every_s` after, a server, in each such store:

1. deletes the pending records of calls recorded since the last write (the queue
   was idle, so no group took them; the ledger's always wait for this);
2. claims the pending records older than `grace_s` (ten record timeouts: an append
   of theirs is no longer under way), for `grace_s`, so that another server on the
   same database skips them;
3. asks the access log, by request id, method, principal and time, which of those
   calls have a record after all, and writes one for each of the others (its
   reason says it was recovered), through the same group commit as every call;
4. deletes the claimed pending records.

A crash between 3 and 4 leaves them pending: the next recovery finds their records
and only deletes them. So each call gets one record, unless another server's
append of it stalls longer than `grace_s` and then commits (two records then, the
later one saying it was recovered): never none.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial
from typing import Protocol

from tactful.api.edge import AccessLogSink, Scheduler
from tactful.privacy.access_log import AccessQuery, AccessRecord
from tactful.privacy.pending_records import PendingRecord, PendingRecordStore, recovered, unrecorded
from tactful.timestamps import duration_us

log = logging.getLogger("tactful.server")
CLAIM_LIMIT = 500  # pending records per round; the next round takes the rest


class RecordedCopies(Protocol):
    """What deletes a store's pending records once their calls are recorded."""

    async def drop_recorded(self) -> None: ...

    def drop_recorded_now(self) -> None: ...


class CopiesToDrop:
    """The pending records of a store that no frequent write of its own deletes (as the
    RecordEvents groups do the behavior store's): those whose calls are recorded wait
    here for the next recovery round, which deletes them in one transaction."""

    def __init__(self, store: PendingRecordStore, writes: Scheduler) -> None:
        self._store = store
        self._writes = writes
        self._keys: list[tuple[str, int]] = []

    def recorded(self, record: PendingRecord) -> None:
        """`record` is durable in the access log: its pending copy may go."""
        self._keys.append(record.key)

    async def drop_recorded(self) -> None:
        keys, self._keys = self._keys, []
        if keys:
            try:
                await self._writes(partial(self._store.drop_pending_records, keys))
            except Exception:
                self._keys[:0] = keys  # the next round tries again
                raise

    def drop_recorded_now(self) -> None:
        keys, self._keys = self._keys, []
        if keys:
            self._store.drop_pending_records(keys)


class RecordRecovery:
    def __init__(
        self,
        stores: Sequence[tuple[PendingRecordStore, RecordedCopies]],
        access_log: AccessLogSink,
        query: Callable[[AccessQuery], list[AccessRecord]],
        *,
        writes: Scheduler,
        reads: Scheduler,
        clock_us: Callable[[], int],
        grace_s: float,
    ) -> None:
        self._stores = stores
        self._log = access_log
        self._query = query
        self._writes = writes
        self._reads = reads
        self._clock_us = clock_us
        self.grace_s = grace_s
        self.every_s = grace_s / 2
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Recover now, then every `every_s`, until `close`."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                while await self.recover() == CLAIM_LIMIT:
                    pass
            except Exception as exc:  # the log or a store is failing: the next round
                log.warning("recovering the access records owed failed (%s); will retry", exc)
            await asyncio.sleep(self.every_s)

    async def recover(self) -> int:
        """One round in each store; the most pending records it claimed in one of them
        (recorded or found recorded). A store that fails does not hold up the others:
        its error is raised once they are done."""
        claimed, failure = 0, None
        for store, copies in self._stores:
            try:
                claimed = max(claimed, await self._recover(store, copies))
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
        return claimed

    async def _recover(self, store: PendingRecordStore, copies: RecordedCopies) -> int:
        await copies.drop_recorded()
        now_us = self._clock_us()
        grace_us = duration_us(timedelta(seconds=self.grace_s))
        claimed: list[PendingRecord] = await self._writes(
            partial(
                store.claim_pending_records,
                written_before_us=now_us - grace_us,
                now_us=now_us,
                lease_us=grace_us,
                limit=CLAIM_LIMIT,
            )
        )
        if not claimed:
            return 0
        missing: list[PendingRecord] = await self._reads(partial(unrecorded, claimed, self._query))
        if missing:
            await asyncio.gather(
                *(self._log.wait(recovered(p, now_us=self._clock_us())) for p in missing)
            )
            log.warning(
                "wrote %d access records owed to calls whose data was stored but whose"
                " record was not (a crash or a failing access log)",
                len(missing),
            )
        await self._writes(partial(store.drop_pending_records, [p.key for p in claimed]))
        return len(claimed)

    def close(self) -> None:
        """Stop, and delete the pending records of the calls recorded since the last
        write (once nothing else writes)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        for _, copies in self._stores:
            try:
                copies.drop_recorded_now()
            except Exception as exc:  # left for the next recovery, which finds them recorded
                log.warning("the pending copies of recorded calls were not deleted (%s)", exc)
