"""Invariant: the journey outcomes are kept and merged per decision as the domain's list
keeps them (journeys/outcome_list.py's MemoryJourneyOutcomes), on every engine; and,
as the behaviour data they are, an export lists them, an erasure removes them, the
retention job purges them by purpose and cut-off, and the rekey's rename moves them to
the new pseudonym."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tactful.app import stores as engine_table
from tactful.journeys.memory import JourneyMemory, MemoryJourneyMemory, Remembered
from tactful.journeys.outcome_list import MemoryJourneyOutcomes
from tactful.journeys.outcomes import (
    AgentVerdict,
    OutcomeReport,
    OutcomeStore,
    RecordedOutcome,
    ScoredDecision,
)
from tactful.lifecycle.retention import RetentionJob
from tactful.privacy.errors import StoreUnavailable
from tactful.timestamps import from_us, to_us
from tests.conftest import T0
from tests.storage.engines import Engine, Stores

ADA, BOB = "ada@example.com", "bob@example.com"
MINUTE_US = 60_000_000
T0_US = to_us(T0)
JOURNEY = PURPOSE = "checkout_recovery"


def decision(
    decision_id: str,
    pseudonym: str,
    minutes: int,
    *,
    journey: str = JOURNEY,
    arm: str = "treatment",
) -> Remembered:
    purpose = PURPOSE if journey == JOURNEY else journey
    return Remembered(
        decision_id, pseudonym, purpose, journey, "retry_payment", "retry", "self_serve", 3,
        T0_US + minutes * MINUTE_US, arm=arm,
    )  # fmt: skip


def outcome(
    decision_id: str, pseudonym: str, minutes: int, *, journey: str = JOURNEY, **report: Any
) -> RecordedOutcome:
    purpose = PURPOSE if journey == JOURNEY else journey
    return RecordedOutcome(
        decision_id, pseudonym, purpose, journey, T0_US + minutes * MINUTE_US,
        OutcomeReport(**report),
    )  # fmt: skip


@pytest.fixture
def stores(engine: Engine, tmp_path: Path) -> Iterator[Stores]:
    opened = engine.open(engine.settings(tmp_path / "data"))
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def engine_pair(stores: Stores) -> tuple[JourneyMemory, OutcomeStore]:
    return stores.domain.journey_memory, stores.domain.journey_outcomes


# Each behaviour test runs on the engine's stores and on the domain's lists.
@pytest.fixture(params=["engine", "list"])
def pair(
    request: pytest.FixtureRequest, engine_pair: tuple[JourneyMemory, OutcomeStore]
) -> tuple[JourneyMemory, OutcomeStore]:
    if request.param == "engine":
        return engine_pair
    memory = MemoryJourneyMemory()
    return memory, MemoryJourneyOutcomes(memory)


# -- what `scored` reads -------------------------------------------------------------------


def test_scored_gives_every_decision_in_the_window_with_its_outcomes_merged(
    pair: tuple[JourneyMemory, OutcomeStore],
) -> None:
    memory, outcomes = pair
    for d in (
        decision("d1", "ps:ada", 10),
        decision("d2", "ps:bob", 20, arm="holdout"),
        decision("d3", "ps:ada", 30),  # no outcome reported: still scored
        decision("d0", "ps:ada", -5),  # before the window
        decision("d9", "ps:ada", 60),  # at its end: not in it
        decision("d5", "ps:ada", 25, journey="onboarding"),  # another journey
    ):
        memory.remember(d)
    for o in (
        outcome("d1", "ps:ada", 11, resolved=False, effort=6),
        outcome("d1", "ps:ada", 40, resolved=True, agent_verdict=AgentVerdict.CHANGED),
        outcome("d1", "ps:ada", 41, handle_time_s=90.5),  # a later report keeps the rest
        outcome("d2", "ps:bob", 21, contained=True, recovered_amount=12.5),
        outcome("d0", "ps:ada", 1, resolved=True),
        outcome("d5", "ps:ada", 26, journey="onboarding", converted=True),
    ):
        outcomes.record(o)

    scored = outcomes.scored(JOURNEY, T0_US, T0_US + 60 * MINUTE_US)

    assert scored == [
        ScoredDecision(
            "ps:ada", 3, "treatment", "retry_payment", "self_serve", T0_US + 10 * MINUTE_US,
            OutcomeReport(resolved=True, effort=6, handle_time_s=90.5,
                          agent_verdict=AgentVerdict.CHANGED),
        ),
        ScoredDecision(
            "ps:bob", 3, "holdout", "retry_payment", "self_serve", T0_US + 20 * MINUTE_US,
            OutcomeReport(contained=True, recovered_amount=12.5),
        ),
        ScoredDecision(
            "ps:ada", 3, "treatment", "retry_payment", "self_serve", T0_US + 30 * MINUTE_US,
            OutcomeReport(),
        ),
    ]  # fmt: skip
    assert isinstance(scored[0].report.agent_verdict, AgentVerdict)
    assert outcomes.scored("support_triage", 0, 2**62) == []
    assert len(outcomes.scored(JOURNEY, 0, 2**62)) == 5


def test_find_gives_a_decision_only_to_one_of_its_persons_pseudonyms(
    pair: tuple[JourneyMemory, OutcomeStore],
) -> None:
    memory, _ = pair
    memory.remember(decision("d1", "ps:ada", 1))
    assert memory.find(["ps:other", "ps:ada"], "d1") == decision("d1", "ps:ada", 1)
    assert memory.find(["ps:bob"], "d1") is None  # another person's decision
    assert memory.find(["ps:ada"], "d-unknown") is None


def test_every_report_field_survives_the_store(
    engine_pair: tuple[JourneyMemory, OutcomeStore], stores: Stores
) -> None:
    memory, outcomes = engine_pair
    _, pseudonym = _known(stores, memory, ADA, decision("d1", "", 1))
    full = OutcomeReport(True, False, True, False, True, False, True, 3.25, 7, 12.5, 0.0,
                         AgentVerdict.REJECTED)  # fmt: skip
    outcomes.record(dataclasses.replace(outcome("d1", pseudonym, 2), report=full))

    scored = outcomes.scored(JOURNEY, 0, 2**62)[0].report
    (kept,) = stores.domain.subject_data.journey_outcomes_of([pseudonym])
    assert scored == full
    assert kept == dataclasses.replace(outcome("d1", pseudonym, 2), report=full)
    for read in (scored, kept.report):  # equal is not enough: 1 == True
        assert [type(v) for v in dataclasses.astuple(read)] == [
            type(v) for v in dataclasses.astuple(full)
        ]


# -- as behaviour data: export, erasure, retention, rekey ---------------------------------


def _known(
    stores: Stores, memory: JourneyMemory, email: str, *decisions: Remembered
) -> tuple[str, str]:
    """Remember `decisions` under the person's current pseudonym (their events make them
    known to the vault, as a decision's would)."""
    kind = ("page_viewed", T0_US - MINUTE_US, {"path": "/checkout"})
    assert stores.record("support_widget", "support_triage", [(email, *kind)], now=T0).stored
    pseudonym = stores.pseudonyms(email)[0]
    for d in decisions:
        memory.remember(dataclasses.replace(d, pseudonym=pseudonym))
    return email, pseudonym


def test_an_export_lists_the_subjects_outcomes_and_nobody_elses(
    stores: Stores, engine_pair: tuple[JourneyMemory, OutcomeStore]
) -> None:
    memory, outcomes = engine_pair
    _, ada = _known(stores, memory, ADA, decision("d-ada", "", 1))
    _, bob = _known(stores, memory, BOB, decision("d-bob", "", 2))
    outcomes.record(outcome("d-ada", ada, 5, resolved=True, effort=2))
    outcomes.record(outcome("d-ada", ada, 3, agent_verdict=AgentVerdict.USED))
    outcomes.record(outcome("d-bob", bob, 4, abandoned=True))

    listed = stores.export(ADA, now=T0)["journey_outcomes"]

    assert listed == [
        {
            "decision_id": "d-ada",
            "journey": JOURNEY,
            "purpose": PURPOSE,
            "recorded_at": from_us(T0_US + 3 * MINUTE_US).isoformat(),
            "agent_verdict": "used",
        },
        {
            "decision_id": "d-ada",
            "journey": JOURNEY,
            "purpose": PURPOSE,
            "recorded_at": from_us(T0_US + 5 * MINUTE_US).isoformat(),
            "resolved": True,
            "effort": 2,
        },
    ]
    assert [o["abandoned"] for o in stores.export(BOB, now=T0)["journey_outcomes"]] == [True]


def test_an_erasure_removes_the_subjects_outcomes_and_counts_them(
    stores: Stores, engine_pair: tuple[JourneyMemory, OutcomeStore]
) -> None:
    memory, outcomes = engine_pair
    _, ada = _known(stores, memory, ADA, decision("d1", "", 1))
    _, bob = _known(stores, memory, BOB, decision("d2", "", 2))
    outcomes.record(outcome("d1", ada, 2, resolved=True))
    outcomes.record(outcome("d1", ada, 3, effort=4))
    outcomes.record(outcome("d2", bob, 3, resolved=False))

    erasure = stores.domain.subjects.erase(
        stores.actor("privacy_ops"), "email", ADA, suppress=False, now=T0
    )

    assert erasure.deleted["behavior.journey_outcomes"] == 2
    assert stores.domain.subject_data.journey_outcomes_of([ada]) == []
    assert [s.pseudonym for s in outcomes.scored(JOURNEY, 0, 2**62)] == [bob]
    assert len(stores.domain.subject_data.journey_outcomes_of([bob])) == 1


def test_retention_purges_the_outcomes_by_purpose_and_cut_off(
    stores: Stores, engine_pair: tuple[JourneyMemory, OutcomeStore]
) -> None:
    """checkout_recovery keeps 72 hours, onboarding 24 (the example contract)."""
    memory, outcomes = engine_pair
    hour = 60
    _, ada = _known(stores, memory, ADA, decision("d1", "", 0))
    for o in (
        outcome("d1", ada, -80 * hour, resolved=True),
        outcome("d1", ada, -73 * hour, resolved=True),
        outcome("d1", ada, -72 * hour, resolved=True),  # at the cut-off: not yet
        outcome("d1", ada, -25 * hour, journey="onboarding", converted=True),
        outcome("d1", ada, -23 * hour, journey="onboarding", converted=True),
    ):
        outcomes.record(o)
    d = stores.domain
    job = RetentionJob(d.contract, d.subject_data, d.vault, timedelta(days=400), chunk=1, pause_s=0)
    assert job.remaining(now=T0)["checkout_recovery"] == 2
    assert job.run(now=T0, dry_run=True).journey_outcomes["checkout_recovery"] == 2

    receipt = job.run(now=T0)

    assert receipt.journey_outcomes == {
        **{p: 0 for p in d.contract.purposes},
        "checkout_recovery": 2,  # in chunks of one
        "onboarding": 1,
    }
    deleted: Any = receipt.as_dict()["deleted"]
    assert deleted["behavior.journey_outcomes"]["checkout_recovery"] == 2
    left = d.subject_data.journey_outcomes_of([ada])
    assert [(o.purpose, o.recorded_at_us) for o in left] == [
        (PURPOSE, T0_US - 72 * hour * MINUTE_US),
        ("onboarding", T0_US - 23 * hour * MINUTE_US),
    ]
    assert "checkout_recovery" not in job.remaining(now=T0)


def test_a_rename_moves_the_outcomes_to_the_new_pseudonym(
    stores: Stores, engine_pair: tuple[JourneyMemory, OutcomeStore]
) -> None:
    memory, outcomes = engine_pair
    _, old = _known(stores, memory, ADA, decision("d1", "", 1))
    outcomes.record(outcome("d1", old, 2, resolved=True))
    outcomes.record(outcome("d9", "ps:only-outcome", 2, resolved=True))
    data = stores.domain.subject_data
    # The rekey retires a key version only once no row of any table is left under it.
    assert data.count_with_prefix("ps:only-outcome") == 1
    new = "renamed:" + old

    data.rename(old, new)

    assert data.count_with_prefix(old) == 0
    assert [o.pseudonym for o in data.journey_outcomes_of([new])] == [new]
    assert data.journey_outcomes_of([old]) == []


def test_outcomes_that_cannot_be_read_raise_the_stores_error(stores: Stores) -> None:
    outcomes = engine_table.open_journey_outcomes(stores.settings)
    outcomes.close()  # as a database gone away
    with pytest.raises(StoreUnavailable):
        outcomes.scored(JOURNEY, 0, 1)
