"""Invariant: the scorecard's exact, noise-free sums over a fixed data set are the same
on every engine and on the domain's lists, and are the ones pinned in
data/scorecard_sums.json (written from the first scorecard, which read every decision
into Python; any faster read must give the same numbers).

The data set has what bounding and merging must get right: people with several
decisions (the latest counts, ties on the time broken by the decision id), decisions
with several outcomes (per field the latest value reported), values on a rounding
half and beyond the caps, decisions outside the window, on another journey, in a
version or arm that is not a cell, and on an action the playbook no longer has."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from bench.simulate import UnlimitedLedger
from tactful.journeys.catalogue import load_journeys
from tactful.journeys.memory import JourneyMemory, MemoryJourneyMemory, Remembered
from tactful.journeys.outcome_list import MemoryJourneyOutcomes
from tactful.journeys.outcomes import AgentVerdict, OutcomeReport, OutcomeStore, RecordedOutcome
from tactful.journeys.scorecard import Scorecards
from tactful.privacy.decisions import Actor
from tests.conftest import T0
from tests.storage.engines import Engine, Stores

PINNED = Path(__file__).parent / "data" / "scorecard_sums.json"
ANALYST = Actor("analyst", frozenset({"analyst"}), frozenset())
SINCE_US, UNTIL_US = 1_000, 900_000
HALVES = (0.5, 1.5, 2.5, 3.5, 999.5, 1_000.5, 3_599.5, 14_399.5, 0.49999999999999994)


def _report(pick: random.Random) -> OutcomeReport:
    def flag() -> bool | None:
        return pick.choice([None, True, False])

    def amount(cap: int) -> float | None:
        return pick.choice([None, 0.0, pick.uniform(0, 2 * cap), pick.choice(HALVES), float(cap)])

    return OutcomeReport(
        flag(), flag(), flag(), flag(), flag(), flag(), flag(), amount(1_000),
        pick.choice([None, 1, 4, 7]), amount(14_400), amount(3_600),
        pick.choice([None, *AgentVerdict]),
    )  # fmt: skip


def fill(memory: JourneyMemory, outcomes: OutcomeStore, journey: str, actions: list[str]) -> None:
    pick = random.Random(f"scorecard-sums-{journey}")
    arms = ["treatment"] * 4 + ["journey_holdout", "global_holdout", "holdout"]
    rungs = ["none", "none", "clarify", "most_likely", "human"]
    for n in range(240):
        person = f"ps:{journey}:{pick.randrange(70)}"
        at = pick.choice(
            [500, 2_000, 2_000, *(pick.randrange(SINCE_US, UNTIL_US) for _ in range(4))]
        )
        at = pick.choice([at, UNTIL_US]) if n % 17 == 0 else at
        on = journey if n % 23 else "onboarding" if journey != "onboarding" else "support_triage"
        decision_id = f"d-{journey}-{pick.randrange(10**6):06d}-{n}"
        memory.remember(
            Remembered(
                decision_id, person, on, on, pick.choice([*actions, "retired_action"]), "kind",
                pick.choice(rungs), pick.choice([1, 1, 1, 2]), at, arm=pick.choice(arms),
            )
        )  # fmt: skip
        for k in range(pick.choice([0, 1, 1, 2, 3])):
            recorded = at + pick.choice([5, 5, 9]) + k % 2
            outcomes.record(RecordedOutcome(decision_id, person, on, on, recorded, _report(pick)))


def sums(stores_contract: object, outcomes: object, journey: str) -> list[list[int]]:
    """Every vector of exact sums the scorecard hands to the noise, in its order."""
    handed: list[list[int]] = []

    def noise(counts: Sequence[int], scale: float) -> list[int]:
        handed.append(list(counts))
        return list(counts)

    playbooks = load_journeys(stores_contract)  # type: ignore[arg-type]
    cards = Scorecards(
        stores_contract,  # type: ignore[arg-type]
        lambda: playbooks,
        outcomes,  # type: ignore[arg-type]
        UnlimitedLedger(),  # type: ignore[arg-type]
        budget=100.0,
        noise=noise,
    )
    cards.release(ANALYST, journey, SINCE_US, UNTIL_US, 1.0, now=T0)
    return handed


@pytest.fixture
def stores(engine: Engine, tmp_path: Path) -> Iterator[Stores]:
    opened = engine.open(engine.settings(tmp_path / "data"))
    try:
        yield opened
    finally:
        opened.close()


@pytest.mark.parametrize("where", ["engine", "list"])
def test_the_scorecards_exact_sums_are_the_pinned_ones(stores: Stores, where: str) -> None:
    contract = stores.domain.contract
    memory: JourneyMemory
    outcomes: OutcomeStore
    if where == "engine":
        memory, outcomes = stores.domain.journey_memory, stores.domain.journey_outcomes
    else:
        memory = MemoryJourneyMemory()
        outcomes = MemoryJourneyOutcomes(memory)
    playbooks = load_journeys(contract)
    for journey in sorted(playbooks):
        fill(memory, outcomes, journey, sorted(playbooks[journey].actions))

    found = {journey: sums(contract, outcomes, journey) for journey in sorted(playbooks)}

    assert found == json.loads(PINNED.read_text())


def test_a_window_without_decisions_sums_to_zero(stores: Stores) -> None:
    contract = stores.domain.contract
    memory, outcomes = stores.domain.journey_memory, stores.domain.journey_outcomes
    fill(memory, outcomes, "checkout_recovery", ["retry_payment"])  # and some on onboarding

    found = sums(contract, outcomes, "support_triage")

    assert found and all(not any(vector) for vector in found)
