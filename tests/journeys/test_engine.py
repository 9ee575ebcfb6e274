"""The journey engine as a use case, over a replayed journey and a memory in a list:
who may ask, what is read, what is remembered, what the access record says."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tactful.journeys.catalogue import load_journeys
from tactful.journeys.engine import JourneyEngine
from tactful.journeys.memory import MemoryJourneyMemory, OfferResult
from tactful.journeys.next_action import Ask, Previous
from tactful.journeys.playbook import Rung
from tactful.privacy.contract import Contract, load_contract
from tactful.privacy.decisions import Action, Actor, decide
from tactful.privacy.errors import ConsentRequired, InvalidRequest, PurposeNotClaimable
from tactful.segments.ingest import SubjectInput
from tactful.segments.reader import Reader
from tactful.segments.replay import ReplayedBehavior
from tactful.segments.store import JourneyEvent
from tactful.timestamps import to_us

CONTRACT = Path(__file__).parents[2] / "examples" / "contract.toml"
NOW = datetime(2026, 5, 6, 12, 0, tzinfo=UTC)
CONTRACT_VALUE = load_contract(CONTRACT)
FRONTEND = Actor("web_frontend", frozenset({"frontend"}), frozenset({"checkout_recovery"}))
PERSON = SubjectInput("email", "ada@example.com")


@dataclass
class Pseudonyms:
    def resolve(self, namespace: str, identifier: str) -> tuple[str, ...]:
        return (f"hmac-sha256:v1:{namespace}:{len(identifier)}",)


@dataclass
class Consent:
    granted: bool = True

    def is_granted(self, pseudonyms: object, purpose: str) -> bool:
        return self.granted


@dataclass
class Handoffs:
    """The releaser's handoff, as far as the engine cares: its access decision."""

    def handoff(self, actor: Actor, subject: SubjectInput, purpose: str, *, now: datetime) -> Any:
        return SimpleNamespace(decision=decide(CONTRACT_VALUE, actor, Action.READ_HANDOFF, purpose))


@dataclass
class Remembering:
    """As the server runs the engine: decide, then remember."""

    engine: JourneyEngine

    def next_action(self, *args: Any, **kwargs: Any) -> Any:
        decided = self.engine.next_action(*args, **kwargs)
        self.engine.remember(decided)
        return decided

    def handoff(self, *args: Any, **kwargs: Any) -> Any:
        return self.engine.handoff(*args, **kwargs)


@dataclass
class World:
    contract: Contract
    events: list[JourneyEvent] = field(default_factory=list)
    memory: MemoryJourneyMemory = field(default_factory=MemoryJourneyMemory)
    consent: Consent = field(default_factory=Consent)
    ids: int = 0

    def engine(self) -> Remembering:
        return Remembering(self.bare())

    def bare(self) -> JourneyEngine:
        def new_id() -> str:
            self.ids += 1
            return f"dec_{self.ids}"

        reader = Reader(self.contract, ReplayedBehavior(self.events))
        return JourneyEngine(
            self.contract,
            load_journeys(self.contract),
            Pseudonyms(),  # type: ignore[arg-type]
            self.consent,  # type: ignore[arg-type]
            reader,
            self.memory,
            Handoffs(),
            new_id=new_id,
        )

    def happened(self, type_: str, minutes_ago: int, **attributes: object) -> None:
        at = to_us(NOW - timedelta(minutes=minutes_ago))
        self.events.append(JourneyEvent(type_, at, attributes))  # type: ignore[arg-type]


@pytest.fixture
def world() -> World:
    return World(load_contract(CONTRACT))


def failed_payment(world: World, code: str = "processing_error") -> None:
    world.happened("checkout_started", 5, value=42.0)
    world.happened("payment_failed", 4, error_code=code)


def test_a_decision_is_remembered_and_its_access_record_names_categories_not_values(
    world: World,
) -> None:
    failed_payment(world)
    answer = world.engine().next_action(
        FRONTEND, PERSON, Ask("checkout_recovery", "web", "payment"), now=NOW
    )
    assert (answer.decision.action, answer.decision.rung) == ("retry_payment", Rung.NONE)
    assert answer.decision_id == "dec_1"
    assert answer.access.requested[0] == "journey:checkout_recovery"
    assert "signal:payment_failures_24h" in answer.access.requested
    assert answer.access.released == ("decision:dec_1", "action:retry_payment", "rung:none")
    assert "retry_payment on rung none (confident)" in answer.access.reason
    record = " ".join((*answer.access.requested, *answer.access.released, answer.access.reason))
    assert "processing_error" not in record and "42" not in record
    [kept] = world.memory.offers
    assert (kept.decision_id, kept.action, kept.result) == ("dec_1", "retry_payment", "offered")
    assert kept.pseudonym == answer.subject


def test_the_explanation_names_categories_and_the_purpose_never_values(world: World) -> None:
    failed_payment(world)
    answer = world.engine().next_action(
        FRONTEND, PERSON, Ask("checkout_recovery", step="payment"), now=NOW
    )
    text = answer.explanation
    assert "failed payment attempts in the last 24 hours" in text
    assert "checkout recovery" in text and "during payment" in text
    assert "processing_error" not in text and "{" not in text


def test_never_twice_after_a_refusal(world: World) -> None:
    failed_payment(world)
    engine = world.engine()
    first = engine.next_action(FRONTEND, PERSON, Ask("checkout_recovery"), now=NOW)
    assert first.decision.action == "retry_payment"
    later = NOW + timedelta(hours=1)  # past the cooldown, inside the frequency cap
    refused = Previous(first.decision_id, OfferResult.REFUSED)
    second = engine.next_action(
        FRONTEND, PERSON, Ask("checkout_recovery", previous=refused), now=later
    )
    assert second.decision.action != "retry_payment"
    assert "refused_before" in second.decision.reasons
    assert world.memory.offers[0].result is OfferResult.REFUSED


def test_the_cooldown_holds_an_action_back_between_calls(world: World) -> None:
    failed_payment(world)
    engine = world.engine()
    engine.next_action(FRONTEND, PERSON, Ask("checkout_recovery"), now=NOW)
    again = engine.next_action(
        FRONTEND, PERSON, Ask("checkout_recovery"), now=NOW + timedelta(minutes=5)
    )
    assert again.decision.action != "retry_payment"
    assert "cooldown" in again.decision.reasons


def test_an_unknown_previous_decision_is_refused_and_nothing_is_remembered(world: World) -> None:
    failed_payment(world)
    with pytest.raises(InvalidRequest) as caught:
        world.engine().next_action(
            FRONTEND,
            PERSON,
            Ask("checkout_recovery", previous=Previous("dec_x", OfferResult.ACCEPTED)),
            now=NOW,
        )
    assert caught.value.violations[0].field == "previous.decision_id"
    assert world.memory.offers == []


def test_an_unknown_journey_names_the_declared_ones(world: World) -> None:
    with pytest.raises(InvalidRequest) as caught:
        world.engine().next_action(FRONTEND, PERSON, Ask("checkout"), now=NOW)
    [violation] = caught.value.violations
    assert violation.field == "journey" and "checkout_recovery" in violation.description


def test_a_principal_that_may_not_claim_the_purpose_is_refused_before_any_read(
    world: World,
) -> None:
    stranger = Actor("web_frontend", frozenset({"frontend"}), frozenset({"onboarding"}))
    with pytest.raises(PurposeNotClaimable):
        world.engine().next_action(stranger, PERSON, Ask("checkout_recovery"), now=NOW)
    assert world.memory.offers == []


def test_a_purpose_that_needs_consent_refuses_without_it(world: World, tmp_path: Path) -> None:
    text = CONTRACT.read_text().replace(
        'legal_basis = "contract"\ncollects = ["cart_updated"',
        'legal_basis = "consent"\ncollects = ["cart_updated"',
    )
    assert text != CONTRACT.read_text()
    (tmp_path / "contract.toml").write_text(text)
    (tmp_path / "playbooks").symlink_to(CONTRACT.resolve().parent / "playbooks")
    world = World(load_contract(tmp_path / "contract.toml"), consent=Consent(granted=False))
    with pytest.raises(ConsentRequired):
        world.engine().next_action(FRONTEND, PERSON, Ask("checkout_recovery"), now=NOW)


def test_the_handoff_shows_the_steps_attempted_and_a_recommendation_remembering_nothing(
    world: World,
) -> None:
    failed_payment(world)
    engine = world.engine()
    first = engine.next_action(FRONTEND, PERSON, Ask("checkout_recovery"), now=NOW)
    engine.next_action(
        FRONTEND,
        PERSON,
        Ask("checkout_recovery", previous=Previous(first.decision_id, OfferResult.FAILED)),
        now=NOW + timedelta(minutes=20),
    )
    parts = engine.handoff(FRONTEND, PERSON, "checkout_recovery", now=NOW)
    assert parts.attempts is not None
    assert [(a.action, a.result) for a in parts.attempts][0] == ("retry_payment", "failed")
    assert parts.recommended is not None and parts.recommended.decision_id == ""
    assert len(world.memory.offers) == 2  # the recommendation is not an offer


def test_a_purpose_without_a_journey_withholds_the_journey_parts(world: World) -> None:
    parts = world.engine().handoff(FRONTEND, PERSON, "analytics", now=NOW)
    assert parts.attempts is None and parts.recommended is None


def test_deciding_remembers_nothing_until_remember(world: World) -> None:
    failed_payment(world)
    engine = world.bare()
    first = engine.next_action(FRONTEND, PERSON, Ask("checkout_recovery"), now=NOW)
    assert world.memory.offers == []
    engine.remember(first)
    refused = Previous(first.decision_id, OfferResult.REFUSED)
    later = NOW + timedelta(hours=1)
    second = engine.next_action(
        FRONTEND, PERSON, Ask("checkout_recovery", previous=refused), now=later
    )
    # The refusal counts for this very decision, before it is written.
    assert "refused_before" in second.decision.reasons
    assert world.memory.offers[0].result is OfferResult.OFFERED
    engine.remember(second)
    assert [o.result for o in world.memory.offers] == [OfferResult.REFUSED, OfferResult.OFFERED]
