"""RecordEvents batches that wait for the writer are stored together, one commit for all."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import grpc
import pytest

from tactful.app.settings import EXAMPLE_CONTRACT
from tactful.app.write_threads import IngestQueue, Writer
from tactful.privacy.contract import load_contract
from tactful.privacy.decisions import Actor
from tactful.privacy.errors import StoreBusy
from tactful.privacy.keyring import KeySet
from tactful.privacy.pseudonym import Pseudonymizer
from tactful.privacy.suppression import Tombstones
from tactful.privacy.vault import Identity
from tactful.segments.ingest import EventInput, EventRecorder, PreparedBatch, SubjectInput
from tactful.segments.store import tracked_by
from tactful.storage.sqlite.behavior import SqliteBehaviorStore
from tactful.timestamps import to_us
from tests.conftest import T0, Tactful, email, page_view


class GroupingRecorder:
    """Stands in for EventRecorder.store_many: records the groups, holds the first one
    until told, and fails any group holding a batch named "bad"."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.release_first = threading.Event()

    def store_many(
        self,
        batches: Sequence[tuple[PreparedBatch, datetime]],
        *,
        pending: Sequence[object] = (),
        recorded: Sequence[tuple[str, int]] = (),
    ) -> list[Any]:
        names = [cast(str, batch) for batch, _ in batches]
        self.groups.append(names)
        if len(self.groups) == 1:
            self.release_first.wait(timeout=10)
        if "bad" in names:
            raise RuntimeError("disk full")
        if "deadlock" in names and len(names) > 1:  # as two groups locking shared people
            raise StoreBusy("postgresql: deadlock detected")
        if "busy" in names:
            raise StoreBusy("postgresql: canceling statement due to lock timeout")
        return [f"stored {name}" for name in names]


def run_queue(names: Sequence[str], *, max_group: int = 8) -> tuple[list[object], list[list[str]]]:
    recorder = GroupingRecorder()
    executor = ThreadPoolExecutor(max_workers=1)

    async def main() -> list[object]:
        queue = IngestQueue(Writer(executor), cast(EventRecorder, recorder), max_group=max_group)
        first = asyncio.ensure_future(queue.store(cast(PreparedBatch, names[0]), T0))
        await asyncio.sleep(0.05)  # the writer now holds the first batch
        rest = [
            asyncio.ensure_future(queue.store(cast(PreparedBatch, name), T0)) for name in names[1:]
        ]
        await asyncio.sleep(0.05)
        recorder.release_first.set()
        return list(await asyncio.gather(first, *rest, return_exceptions=True))

    try:
        return asyncio.run(main()), recorder.groups
    finally:
        executor.shutdown()


def test_batches_that_queue_up_are_stored_in_one_group() -> None:
    results, groups = run_queue(["a", "b", "c", "d"])
    assert groups == [["a"], ["b", "c", "d"]]
    assert results == ["stored a", "stored b", "stored c", "stored d"]


def test_a_group_is_at_most_max_group_batches() -> None:
    _, groups = run_queue(["a", "b", "c", "d", "e"], max_group=2)
    assert groups == [["a"], ["b", "c"], ["d", "e"]]


def test_a_failed_group_fails_each_of_its_calls_and_only_those() -> None:
    results, groups = run_queue(["a", "b", "bad", "d", "e"], max_group=3)
    assert groups == [["a"], ["b", "bad", "d"], ["e"]]
    assert results[0] == "stored a" and results[4] == "stored e"
    for failed in results[1:4]:
        assert isinstance(failed, RuntimeError) and str(failed) == "disk full"


def test_a_group_turned_away_as_busy_is_stored_again_batch_by_batch() -> None:
    """A deadlock rolls the whole group back, nothing stored or answered: each batch is
    then stored alone, and only one that fails alone fails its call."""
    results, groups = run_queue(["a", "b", "deadlock", "d", "e"], max_group=3)
    assert groups == [["a"], ["b", "deadlock", "d"], ["b"], ["deadlock"], ["d"], ["e"]]
    assert results == ["stored a", "stored b", "stored deadlock", "stored d", "stored e"]

    results, groups = run_queue(["a", "b", "deadlock", "busy"], max_group=3)
    assert groups == [["a"], ["b", "deadlock", "busy"], ["b"], ["deadlock"], ["busy"]]
    # "busy" had its second try alone: no third.
    assert results[:3] == ["stored a", "stored b", "stored deadlock"]
    assert isinstance(results[3], StoreBusy)


def test_a_batch_turned_away_as_busy_alone_is_tried_once_more_then_fails_its_call() -> None:
    results, groups = run_queue(["a", "busy", "c"], max_group=1)
    assert groups == [["a"], ["busy"], ["busy"], ["c"]]
    assert results[0] == "stored a" and results[2] == "stored c"
    assert isinstance(results[1], StoreBusy)


def test_recorded_copies_are_dropped_by_a_group_once_enough_have_queued() -> None:
    dropped: list[list[tuple[str, int]]] = []

    class Recorder:
        def store_many(
            self,
            batches: Sequence[tuple[PreparedBatch, datetime]],
            *,
            pending: Sequence[object] = (),
            recorded: Sequence[tuple[str, int]] = (),
        ) -> list[Any]:
            dropped.append(list(recorded))
            return [None for _ in batches]

    record = cast(Any, type("Record", (), {}))

    async def main() -> None:
        with ThreadPoolExecutor(max_workers=1) as executor:
            queue = IngestQueue(Writer(executor), cast(EventRecorder, Recorder()), drop_at=3)
            for n in range(5):
                copy = record()
                copy.key = (f"call-{n}", n)
                await queue.store(cast(PreparedBatch, f"b{n}"), T0)
                queue.recorded(copy)
            await queue.drop_recorded()  # what the recovery's round does with the rest

    asyncio.run(main())
    # Groups 1-3 drop nothing (fewer than 3 queued), group 4 the first three, group 5
    # nothing; the round the last two.
    assert dropped == [
        [],
        [],
        [],
        [("call-0", 0), ("call-1", 1), ("call-2", 2)],
        [],
        [("call-3", 3), ("call-4", 4)],
    ]


def test_store_many_stores_all_batches_or_none(tmp_path: Path) -> None:
    """The real recorder: when the second batch of a group fails, the first is not kept."""
    contract = load_contract(EXAMPLE_CONTRACT)
    store = SqliteBehaviorStore(tmp_path / "behavior.db", tracked_by(contract))

    class FailingOnSecond:
        calls = 0

        def remember(self, identities: Iterable[Identity], *, now: datetime) -> int:
            self.calls += 1
            if self.calls == 2:
                raise OSError("vault disk full")
            return 0

    keys = KeySet("pseudonym", 1, {1: bytes(range(32))})
    tombstones = Tombstones(KeySet("suppression", 1, {1: bytes(range(1, 33))}))
    recorder = EventRecorder(contract, Pseudonymizer(keys), FailingOnSecond(), store, tombstones)  # type: ignore[arg-type]
    widget = Actor("support_widget", frozenset({"frontend"}), frozenset({"support_triage"}))
    at = to_us(T0)

    def batch(who: str) -> PreparedBatch:
        event = EventInput(SubjectInput("email", who), "page_viewed", at, {})
        return recorder.prepare(widget, "support_triage", [event], now=T0)

    with pytest.raises(OSError):
        recorder.store_many([(batch("ada@example.com"), T0), (batch("bob@example.com"), T0)])
    with sqlite3.connect(tmp_path / "behavior.db") as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 0
    result = recorder.store_many([(batch("ada@example.com"), T0)])[0]
    assert result.stored == 1
    store.close()


def test_concurrent_batches_over_grpc_store_exactly_the_consenting_subjects(
    tactful: Tactful,
) -> None:
    """Sixteen RecordEvents at once (grouped on the writer): each answer counts its own
    batch, and only the people who consented have anything stored or counted."""
    consenting = [email(f"yes{i}@example.com") for i in range(8)]
    refusing = [email(f"no{i}@example.com") for i in range(8)]
    for person in consenting:
        tactful.consent(person, "onboarding")

    def send(n: int) -> tuple[int, int]:
        people = consenting[: n % 8 + 1] + refusing[: n % 3]
        events = [page_view(p, T0 - timedelta(minutes=m)) for p in people for m in (1, 2)]
        reply = tactful.record("onboarding", *events, principal="web_frontend")
        return reply.stored, reply.not_stored

    with ThreadPoolExecutor(max_workers=16) as pool:
        replies = list(pool.map(send, range(16)))
    assert replies == [(2 * (n % 8 + 1), 2 * (n % 3)) for n in range(16)]
    for i, person in enumerate(consenting):
        sent = 2 * sum(1 for n in range(16) if n % 8 + 1 > i)
        assert tactful.signals(
            person, "onboarding", "pages_viewed_24h", principal="web_frontend"
        ) == {"pages_viewed_24h": sent}
    with pytest.raises(grpc.RpcError) as refused:  # no consent: nothing is answered
        tactful.segments(refusing[0], "onboarding", "web_frontend")
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    with sqlite3.connect(tactful.settings.data_dir / "behavior.db") as conn:
        stored = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    assert stored == sum(s for s, _ in replies)
