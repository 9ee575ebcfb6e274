"""Invariant: the journey memory keeps what was offered to whom as the domain's list keeps
it (journeys/memory.py's MemoryJourneyMemory), on every engine; and, as the behaviour
data it is, an export lists it, an erasure removes it, the retention job purges it by
purpose and cut-off, and the rekey's rename moves it to the new pseudonym."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tactful.app import stores as engine_table
from tactful.journeys.memory import JourneyMemory, MemoryJourneyMemory, OfferResult, Remembered
from tactful.lifecycle.retention import RetentionJob
from tactful.privacy.errors import StoreUnavailable
from tactful.timestamps import from_us, to_us
from tests.conftest import T0
from tests.storage.engines import Engine, Stores

ADA, BOB = "ada@example.com", "bob@example.com"
MINUTE_US = 60_000_000
T0_US = to_us(T0)
JOURNEY, PURPOSE = "checkout_recovery", "checkout_recovery"


def offer(
    decision_id: str,
    pseudonym: str,
    minutes: int,
    *,
    journey: str = JOURNEY,
    purpose: str = PURPOSE,
    kind: str = "retry",
    amount: float = 0.0,
) -> Remembered:
    """An offer made `minutes` after T0 (before it, when negative)."""
    return Remembered(
        decision_id, pseudonym, purpose, journey, f"{kind}_action", kind, "none", 3,
        T0_US + minutes * MINUTE_US, amount=amount,
    )  # fmt: skip


@pytest.fixture
def stores(engine: Engine, tmp_path: Path) -> Iterator[Stores]:
    opened = engine.open(engine.settings(tmp_path / "data"))
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def engine_memory(stores: Stores) -> Iterator[engine_table.Memory]:
    memory = engine_table.open_journey_memory(stores.settings)
    try:
        yield memory
    finally:
        memory.close()


# Each behaviour test runs on the engine's memory and on the domain's list.
@pytest.fixture(params=["engine", "list"])
def memory(request: pytest.FixtureRequest, engine_memory: JourneyMemory) -> JourneyMemory:
    return engine_memory if request.param == "engine" else MemoryJourneyMemory()


# -- what the memory keeps ---------------------------------------------------------------


def test_recall_gives_a_persons_offers_on_the_journey_since_a_time_oldest_first(
    memory: JourneyMemory,
) -> None:
    a, a2, b = "ps:ada", "ps:ada-v2", "ps:bob"
    for o in (
        offer("d3", a, 30),
        offer("d1", a, 10),
        offer("d2", a2, 20),  # the same person under another key version
        offer("d0", a, -5),  # before `since`
        offer("d4", b, 15),  # someone else
        offer("d5", a, 25, journey="support_triage"),  # another journey
        offer("d6", a, 26, purpose="analytics"),  # another purpose
    ):
        memory.remember(o)

    found = memory.recall([a, a2], PURPOSE, JOURNEY, T0_US)

    assert [o.decision_id for o in found] == ["d1", "d2", "d3"]
    assert found[0] == offer("d1", a, 10)  # every field as remembered
    assert [o.decision_id for o in memory.recall([a], PURPOSE, JOURNEY, T0_US)] == ["d1", "d3"]
    since = T0_US + 20 * MINUTE_US  # at the time counts
    assert [o.decision_id for o in memory.recall([a, a2], PURPOSE, JOURNEY, since)] == ["d2", "d3"]
    assert memory.recall(["ps:nobody"], PURPOSE, JOURNEY, 0) == []


def test_settle_changes_only_the_offer_made_to_one_of_the_persons_pseudonyms(
    memory: JourneyMemory,
) -> None:
    memory.remember(offer("d1", "ps:ada", 1))
    memory.remember(offer("d2", "ps:bob", 2))

    assert not memory.settle(["ps:bob"], "d1", OfferResult.REFUSED)  # not Bob's decision
    assert not memory.settle(["ps:ada"], "d-unknown", OfferResult.REFUSED)
    assert memory.settle(["ps:other", "ps:ada"], "d1", OfferResult.REFUSED)

    (ada,) = memory.recall(["ps:ada"], PURPOSE, JOURNEY, 0)
    (bob,) = memory.recall(["ps:bob"], PURPOSE, JOURNEY, 0)
    assert ada.result is OfferResult.REFUSED and bob.result is OfferResult.OFFERED
    assert memory.settle(["ps:ada"], "d1", OfferResult.ACCEPTED)  # a later report wins
    assert memory.recall(["ps:ada"], PURPOSE, JOURNEY, 0)[0].result is OfferResult.ACCEPTED


def test_a_decision_id_is_remembered_once(memory: JourneyMemory) -> None:
    memory.remember(offer("d1", "ps:ada", 1))
    with pytest.raises(ValueError, match="already remembered"):
        memory.remember(offer("d1", "ps:bob", 2))  # even for someone else
    assert [o.pseudonym for o in memory.recall(["ps:ada", "ps:bob"], PURPOSE, JOURNEY, 0)] == [
        "ps:ada"
    ]


def test_compensation_spent_sums_the_journeys_compensations_since_a_time_over_everyone(
    memory: JourneyMemory,
) -> None:
    for o in (
        offer("d1", "ps:ada", 10, kind="compensate", amount=5.0),
        offer("d2", "ps:bob", 20, kind="compensate", amount=2.5),
        offer("d3", "ps:ada", -10, kind="compensate", amount=100.0),  # before `since`
        offer("d4", "ps:ada", 30, kind="retry", amount=7.0),  # not a compensation
        offer("d5", "ps:ada", 40, kind="compensate", amount=50.0, journey="account_retention"),
    ):
        memory.remember(o)

    assert memory.compensation_spent(JOURNEY, T0_US) == 7.5
    assert memory.compensation_spent(JOURNEY, T0_US + 20 * MINUTE_US) == 2.5  # at counts
    assert memory.compensation_spent(JOURNEY, T0_US + 21 * MINUTE_US) == 0.0
    assert memory.compensation_spent("onboarding", 0) == 0.0


# The same script on the domain's list and on the engine: every answer equal.
Step = Callable[[JourneyMemory], Any]
SCRIPT: list[Step] = [
    lambda m: m.remember(offer("d1", "ps:ada", 1, kind="compensate", amount=4.0)),
    lambda m: m.remember(offer("d2", "ps:ada", 3, kind="clarify")),
    lambda m: m.remember(offer("d3", "ps:bob", 2, kind="compensate", amount=1.5)),
    lambda m: m.recall(["ps:ada"], PURPOSE, JOURNEY, 0),
    lambda m: m.settle(["ps:ada"], "d2", OfferResult.IGNORED),
    lambda m: m.settle(["ps:ada"], "d3", OfferResult.ACCEPTED),
    lambda m: m.settle(["ps:bob"], "d3", OfferResult.FAILED),
    lambda m: m.remember(offer("d4", "ps:ada", 2, journey="onboarding", purpose="onboarding")),
    lambda m: m.recall(["ps:ada", "ps:bob"], PURPOSE, JOURNEY, T0_US + 2 * MINUTE_US),
    lambda m: m.recall(["ps:ada"], "onboarding", "onboarding", 0),
    lambda m: m.compensation_spent(JOURNEY, 0),
    lambda m: m.compensation_spent(JOURNEY, T0_US + 2 * MINUTE_US),
    lambda m: m.settle(["ps:ada"], "d9", OfferResult.REFUSED),
    lambda m: m.recall(["ps:ada", "ps:bob"], PURPOSE, JOURNEY, 0),
]


def _answers(memory: JourneyMemory) -> list[Any]:
    return [step(memory) for step in SCRIPT]


def test_the_engine_and_the_domains_list_agree_on_the_same_script(
    engine_memory: JourneyMemory,
) -> None:
    expected = _answers(MemoryJourneyMemory())
    assert any(expected) and expected[-1]  # the script does answer something
    assert _answers(engine_memory) == expected


# -- as behaviour data: export, erasure, retention, rekey ---------------------------------


def _remember_for(stores: Stores, memory: JourneyMemory, email: str, *offers: Remembered) -> None:
    """Remember `offers` under the person's current pseudonym (their events make them
    known to the vault, as a decision's would)."""
    at = T0_US - MINUTE_US
    kind = ("page_viewed", at, {"path": "/checkout"})
    assert stores.record("support_widget", "support_triage", [(email, *kind)], now=T0).stored
    pseudonym = stores.pseudonyms(email)[0]
    for o in offers:
        memory.remember(dataclasses.replace(o, pseudonym=pseudonym))


def test_an_export_lists_the_subjects_journey_memory_and_nobody_elses(
    stores: Stores, engine_memory: JourneyMemory
) -> None:
    _remember_for(
        stores, engine_memory, ADA,
        offer("d-ada-2", "", 20, kind="compensate", amount=5.0),
        offer("d-ada-1", "", 10, journey="onboarding", purpose="onboarding"),
    )  # fmt: skip
    _remember_for(stores, engine_memory, BOB, offer("d-bob", "", 15))
    ada = stores.pseudonyms(ADA)
    assert engine_memory.settle(ada, "d-ada-2", OfferResult.ACCEPTED)

    listed = stores.export(ADA, now=T0)["journey_memory"]

    assert listed == [
        {
            "decision_id": "d-ada-1",
            "journey": "onboarding",
            "purpose": "onboarding",
            "action": "retry_action",
            "kind": "retry",
            "rung": "none",
            "playbook_version": 3,
            "offered_at": from_us(T0_US + 10 * MINUTE_US).isoformat(),
            "result": "offered",
            "amount": 0.0,
        },
        {
            "decision_id": "d-ada-2",
            "journey": JOURNEY,
            "purpose": PURPOSE,
            "action": "compensate_action",
            "kind": "compensate",
            "rung": "none",
            "playbook_version": 3,
            "offered_at": from_us(T0_US + 20 * MINUTE_US).isoformat(),
            "result": "accepted",
            "amount": 5.0,
        },
    ]
    assert [r["decision_id"] for r in stores.export(BOB, now=T0)["journey_memory"]] == ["d-bob"]


def test_an_erasure_removes_the_subjects_journey_memory_and_counts_it(
    stores: Stores, engine_memory: JourneyMemory
) -> None:
    _remember_for(stores, engine_memory, ADA, offer("d1", "", 1), offer("d2", "", 2))
    _remember_for(stores, engine_memory, BOB, offer("d3", "", 3))
    ada, bob = stores.pseudonyms(ADA), stores.pseudonyms(BOB)

    erasure = stores.domain.subjects.erase(
        stores.actor("privacy_ops"), "email", ADA, suppress=False, now=T0
    )

    assert erasure.deleted["behavior.journey_memory"] == 2
    assert engine_memory.recall(ada, PURPOSE, JOURNEY, 0) == []
    assert stores.domain.subject_data.journey_memory_of(ada) == []
    assert [o.decision_id for o in engine_memory.recall(bob, PURPOSE, JOURNEY, 0)] == ["d3"]
    assert not engine_memory.settle(ada, "d1", OfferResult.REFUSED)


def test_retention_purges_the_journey_memory_by_purpose_and_cut_off(
    stores: Stores, engine_memory: JourneyMemory
) -> None:
    """checkout_recovery keeps 72 hours, onboarding 24 (the example contract)."""
    hour = 60
    _remember_for(
        stores, engine_memory, ADA,
        offer("old-checkout-1", "", -80 * hour),
        offer("old-checkout-2", "", -73 * hour),
        offer("kept-checkout", "", -72 * hour),  # at the cut-off: not yet
        offer("old-onboarding", "", -25 * hour, journey="onboarding", purpose="onboarding"),
        offer("kept-onboarding", "", -23 * hour, journey="onboarding", purpose="onboarding"),
    )  # fmt: skip
    d = stores.domain
    job = RetentionJob(d.contract, d.subject_data, d.vault, timedelta(days=400), chunk=1, pause_s=0)
    assert job.remaining(now=T0)["checkout_recovery"] == 2
    dry = job.run(now=T0, dry_run=True)
    assert dry.journey_memory["checkout_recovery"] == 2

    receipt = job.run(now=T0)

    assert receipt.journey_memory["checkout_recovery"] == 2  # in chunks of one
    assert receipt.journey_memory["onboarding"] == 1
    deleted: Any = receipt.as_dict()["deleted"]
    named = deleted["behavior.journey_memory"]
    assert named["checkout_recovery"] == 2 and named["onboarding"] == 1
    left = [o.decision_id for o in d.subject_data.journey_memory_of(stores.pseudonyms(ADA))]
    assert left == ["kept-checkout", "kept-onboarding"]
    assert "checkout_recovery" not in job.remaining(now=T0)
    assert job.run(now=T0).journey_memory["checkout_recovery"] == 0


def test_a_rename_moves_the_journey_memory_to_the_new_pseudonym(
    stores: Stores, engine_memory: JourneyMemory
) -> None:
    _remember_for(stores, engine_memory, ADA, offer("d1", "", 1), offer("d2", "", 2))
    _remember_for(stores, engine_memory, BOB, offer("d3", "", 3))
    engine_memory.remember(offer("d9", "ps:only-remembered", 9))
    data = stores.domain.subject_data
    (old,) = stores.pseudonyms(ADA)
    new = "renamed:" + old
    # The rekey retires a key version only once no row of any table is left under it.
    assert data.count_with_prefix("ps:only-remembered") == 1

    data.rename(old, new)

    assert data.count_with_prefix(old) == 0

    assert [o.decision_id for o in engine_memory.recall([new], PURPOSE, JOURNEY, 0)] == [
        "d1",
        "d2",
    ]
    assert engine_memory.recall([old], PURPOSE, JOURNEY, 0) == []
    assert engine_memory.settle([new], "d1", OfferResult.REFUSED)
    assert len(engine_memory.recall(stores.pseudonyms(BOB), PURPOSE, JOURNEY, 0)) == 1


# -- serving -------------------------------------------------------------------------------


def test_many_threads_remember_and_recall_at_once_while_events_are_recorded(
    stores: Stores, engine_memory: JourneyMemory
) -> None:
    """As the server calls it: from several threads at once, beside the behavior store's
    writer (a batch of events recorded meanwhile)."""
    threads, each = 4, 40

    def work(n: int) -> int:
        mine = f"ps:thread-{n}"
        for i in range(each):
            engine_memory.remember(offer(f"d{n}-{i}", mine, i, kind="compensate", amount=1.0))
            assert len(engine_memory.recall([mine], PURPOSE, JOURNEY, 0)) == i + 1
            engine_memory.settle([mine], f"d{n}-{i}", OfferResult.ACCEPTED)
        return n

    with ThreadPoolExecutor(threads + 1) as pool:
        done = [pool.submit(work, n) for n in range(threads)]
        batch = [
            (f"p{i}@example.com", "page_viewed", T0_US - i, {"path": "/x"}) for i in range(200)
        ]
        recorded = pool.submit(stores.record, "support_widget", "support_triage", batch, now=T0)
        assert sorted(f.result(timeout=120) for f in done) == list(range(threads))
        assert recorded.result(timeout=120).stored == 200
    assert engine_memory.compensation_spent(JOURNEY, 0) == threads * each
    accepted = engine_memory.recall([f"ps:thread-{n}" for n in range(threads)], PURPOSE, JOURNEY, 0)
    assert {o.result for o in accepted} == {OfferResult.ACCEPTED}


def test_a_memory_that_cannot_be_read_raises_the_stores_error(stores: Stores) -> None:
    memory = engine_table.open_journey_memory(stores.settings)
    memory.close()  # as a database gone away
    with pytest.raises(StoreUnavailable):
        memory.recall(["ps:ada"], PURPOSE, JOURNEY, 0)
