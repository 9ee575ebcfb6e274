"""RecordOutcome as a use case, over the memory and outcomes in lists: who may record,
which decision, which outcomes the contract declares, what the access record says."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tactful.journeys.catalogue import load_journeys
from tactful.journeys.memory import MemoryJourneyMemory, Remembered
from tactful.journeys.outcome_list import MemoryJourneyOutcomes
from tactful.journeys.outcome_recorder import OutcomeRecorder
from tactful.journeys.outcomes import AgentVerdict, OutcomeReport
from tactful.privacy.contract import load_contract
from tactful.privacy.decisions import Actor
from tactful.privacy.errors import (
    ConsentRequired,
    InvalidRequest,
    PurposeNotClaimable,
    RoleNotAllowed,
)
from tactful.segments.ingest import SubjectInput
from tactful.timestamps import to_us

CONTRACT = load_contract(Path(__file__).parents[2] / "examples" / "contract.toml")
NOW = datetime(2026, 5, 6, 12, 0, tzinfo=UTC)
FRONTEND = Actor("web_frontend", frozenset({"frontend"}), frozenset({"checkout_recovery"}))
ANALYST = Actor("analyst", frozenset({"analyst"}), frozenset({"checkout_recovery"}))
ADA, BOB = SubjectInput("email", "ada@example.com"), SubjectInput("email", "bob@example.org")


def pseudonym(subject: SubjectInput) -> str:
    return f"ps:{subject.identifier}"


@dataclass
class Pseudonyms:
    def resolve(self, namespace: str, identifier: str) -> tuple[str, ...]:
        return (f"ps:{identifier}",)


@dataclass
class Consent:
    granted: bool = True

    def is_granted(self, pseudonyms: object, purpose: str) -> bool:
        return self.granted


@dataclass
class World:
    memory: MemoryJourneyMemory = field(default_factory=MemoryJourneyMemory)
    consent: Consent = field(default_factory=Consent)

    def __post_init__(self) -> None:
        self.outcomes = MemoryJourneyOutcomes(self.memory)
        self.recorder = OutcomeRecorder(
            CONTRACT,
            load_journeys(CONTRACT),
            Pseudonyms(),  # type: ignore[arg-type]
            self.consent,  # type: ignore[arg-type]
            self.memory,
            self.outcomes,
        )

    def decided(self, decision_id: str, subject: SubjectInput, journey: str) -> None:
        self.memory.remember(
            Remembered(decision_id, pseudonym(subject), journey, journey, "retry_payment",
                       "retry", "none", 1, to_us(NOW) - 60_000_000)
        )  # fmt: skip


@pytest.fixture
def world() -> World:
    made = World()
    made.decided("dec_1", ADA, "checkout_recovery")
    return made


def violations(error: pytest.ExceptionInfo[InvalidRequest]) -> list[str]:
    return [v.field for v in error.value.violations]


def test_an_outcome_is_kept_under_the_decisions_person_and_purpose_and_its_record_has_no_values(
    world: World,
) -> None:
    report = OutcomeReport(converted=True, recovered_amount=42.5, effort=2)

    answer = world.recorder.record(FRONTEND, ADA, "dec_1", None, report, now=NOW)

    [kept] = world.outcomes.outcomes
    assert (kept.decision_id, kept.pseudonym, kept.purpose, kept.journey) == (
        "dec_1", "ps:ada@example.com", "checkout_recovery", "checkout_recovery",
    )  # fmt: skip
    assert kept.recorded_at_us == to_us(NOW) and kept.report == report
    assert answer.access.requested == (
        "journey:checkout_recovery", "outcome:converted", "outcome:effort",
        "outcome:recovered_amount",
    )  # fmt: skip
    assert answer.access.released == ("decision:dec_1",)
    record = " ".join((*answer.access.requested, *answer.access.released, answer.access.reason))
    assert "42" not in record and "True" not in record
    assert world.outcomes.scored("checkout_recovery", 0, 2**62)[0].report == report


def test_the_journey_may_be_named_and_must_then_be_the_decisions(world: World) -> None:
    report = OutcomeReport(abandoned=True)
    world.recorder.record(FRONTEND, ADA, "dec_1", "checkout_recovery", report, now=NOW)
    world.decided("dec_2", ADA, "onboarding")
    with pytest.raises(InvalidRequest) as error:  # named: checked before the lookup
        world.recorder.record(FRONTEND, ADA, "dec_2", "checkout_recovery", report, now=NOW)
    assert violations(error) == ["decision_id"]
    with pytest.raises(InvalidRequest) as error:
        world.recorder.record(FRONTEND, ADA, "dec_1", "no_such_journey", report, now=NOW)
    assert violations(error) == ["journey"]


def test_an_unknown_decision_and_another_persons_get_the_same_refusal(world: World) -> None:
    report = OutcomeReport(converted=True)
    answers = []
    for subject, decision_id in ((ADA, "dec_unknown"), (BOB, "dec_1"), (ADA, "")):
        with pytest.raises(InvalidRequest) as error:
            world.recorder.record(FRONTEND, subject, decision_id, None, report, now=NOW)
        answers.append((violations(error), str(error.value).replace(decision_id, "ID")))
    assert answers[0] == answers[1]
    assert answers[2][0] == ["decision_id"]
    assert world.outcomes.outcomes == []


@pytest.mark.parametrize(
    ("report", "fields"),
    [
        (OutcomeReport(resolved=True), ["report.resolved"]),  # not declared for checkout
        (OutcomeReport(handle_time_s=3.0, agent_verdict=AgentVerdict.USED),
         ["report.handle_time_s", "report.agent_verdict"]),
        (OutcomeReport(effort=8), ["report.effort"]),
        (OutcomeReport(effort=0), ["report.effort"]),
        (OutcomeReport(recovered_amount=-1.0), ["report.recovered_amount"]),
        (OutcomeReport(recovered_amount=float("nan")), ["report.recovered_amount"]),
        (OutcomeReport(recovered_amount=float("inf")), ["report.recovered_amount"]),
        (OutcomeReport(time_to_resolution_s=-0.5), ["report.time_to_resolution_s"]),
        (OutcomeReport(), ["report"]),
    ],
)  # fmt: skip
def test_undeclared_outcomes_bad_ranges_and_empty_reports_are_refused_by_field(
    world: World, report: OutcomeReport, fields: list[str]
) -> None:
    with pytest.raises(InvalidRequest) as error:
        world.recorder.record(FRONTEND, ADA, "dec_1", None, report, now=NOW)
    assert violations(error) == fields
    assert world.outcomes.outcomes == []


def test_the_effort_scale_ends_are_kept(world: World) -> None:
    for effort in (1, 7):
        world.recorder.record(FRONTEND, ADA, "dec_1", None, OutcomeReport(effort=effort), now=NOW)
    assert [o.report.effort for o in world.outcomes.outcomes] == [1, 7]


def test_who_may_not_record_is_refused_before_anything_is_looked_up(world: World) -> None:
    report = OutcomeReport(converted=True)
    with pytest.raises(RoleNotAllowed):  # even for a decision that does not exist
        world.recorder.record(ANALYST, ADA, "dec_unknown", None, report, now=NOW)
    onboarding = Actor("web_frontend", frozenset({"frontend"}), frozenset({"onboarding"}))
    with pytest.raises(PurposeNotClaimable):
        world.recorder.record(onboarding, ADA, "dec_1", None, report, now=NOW)
    with pytest.raises(PurposeNotClaimable):  # the named journey's purpose, before lookup
        world.recorder.record(onboarding, ADA, "dec_unknown", "checkout_recovery", report,
                              now=NOW)  # fmt: skip
    assert world.outcomes.outcomes == []


def test_no_outcome_is_kept_for_a_consent_purpose_the_person_withdrew(world: World) -> None:
    world.decided("dec_2", ADA, "onboarding")  # onboarding needs consent (the example)
    world.consent.granted = False
    frontend = Actor("web_frontend", frozenset({"frontend"}), frozenset({"onboarding"}))
    with pytest.raises(ConsentRequired):
        world.recorder.record(frontend, ADA, "dec_2", None, OutcomeReport(converted=True),
                              now=NOW)  # fmt: skip
    assert world.outcomes.outcomes == []
