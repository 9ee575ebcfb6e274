"""NextAction's request and answer, and the handoff's journey parts, converted between
protobuf and the engine's values (hand-built values; the service itself is tested
over a channel in test_journeys.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tactful.api.convert import (
    OFFER_RESULTS,
    handoff_to_proto,
    journey_decision_to_proto,
    next_action_from_proto,
)
from tactful.journeys.decide import Decision, Reason
from tactful.journeys.memory import OfferResult
from tactful.journeys.next_action import Ask, Attempt, JourneyDecision, JourneyHandoff, Previous
from tactful.journeys.playbook import ActionKind, Rung
from tactful.privacy.decisions import Decision as AccessDecision
from tactful.privacy.decisions import Verdict
from tactful.privacy.errors import InvalidRequest
from tactful.segments.ingest import SubjectInput
from tactful.segments.intent import Inference, Intent
from tactful.segments.journey import Handoff
from tactful.v1 import common_pb2, journeys_pb2

AT = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
ACCESS = AccessDecision(Verdict.ALLOWED, "ok", "frontend", ("checkout_recovery",), ("x",))
CLARIFY = Decision(
    action="retry_or_change",
    kind=ActionKind.CLARIFY,
    template="checkout.retry_or_change.v1",
    rung=Rung.CLARIFY,
    confidence=0.42,
    runner_up="researching",
    reasons=(Reason.LOW_CONFIDENCE, Reason.COOLDOWN),
    categories=frozenset({"signal:payment_failures_24h", "intent"}),
    playbook_version=3,
    parameters=("purchasing", "researching"),
)
DECIDED = JourneyDecision(
    access=ACCESS,
    subject="hmac-sha256:k1:abc",
    decision_id="d-1",
    journey="checkout_recovery",
    purpose="checkout_recovery",
    decision=CLARIFY,
    explanation="We asked because we were not sure.",
)


def request(**fields: object) -> journeys_pb2.NextActionRequest:
    return journeys_pb2.NextActionRequest(
        subject=common_pb2.SubjectRef(namespace="email", id="ada@example.com"),
        journey="checkout_recovery",
        **fields,  # type: ignore[arg-type]
    )


def test_a_question_with_its_previous_decision() -> None:
    previous = journeys_pb2.PreviousDecision(
        decision_id="d-0", result=journeys_pb2.OFFER_RESULT_REFUSED
    )
    subject, ask = next_action_from_proto(request(channel="web", step="payment", previous=previous))
    assert subject == SubjectInput("email", "ada@example.com")
    assert ask == Ask("checkout_recovery", "web", "payment", Previous("d-0", OfferResult.REFUSED))


def test_a_question_without_a_previous_decision() -> None:
    assert next_action_from_proto(request())[1] == Ask("checkout_recovery")


@pytest.mark.parametrize(
    "result", [journeys_pb2.OFFER_RESULT_UNSPECIFIED, journeys_pb2.OFFER_RESULT_OFFERED, 99]
)
def test_a_previous_decision_must_say_what_became_of_it(result: int) -> None:
    previous = journeys_pb2.PreviousDecision(decision_id="d-0", result=result)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest) as refused:
        next_action_from_proto(request(previous=previous))
    assert [v.field for v in refused.value.violations] == ["previous.result"]


def test_every_result_a_frontend_reports_arrives_as_itself() -> None:
    for result, wire in OFFER_RESULTS.items():
        if result is OfferResult.OFFERED:
            continue
        previous = journeys_pb2.PreviousDecision(decision_id="d", result=wire)
        ask = next_action_from_proto(request(previous=previous))[1]
        assert ask.previous == Previous("d", result)
    assert set(OFFER_RESULTS) == set(OfferResult)


def test_a_decision_as_the_frontend_gets_it() -> None:
    reply = journey_decision_to_proto(DECIDED)
    assert (reply.decision_id, reply.journey, reply.purpose) == (
        "d-1",
        "checkout_recovery",
        "checkout_recovery",
    )
    action = reply.action
    assert (action.id, action.kind, action.template, list(action.parameters)) == (
        "retry_or_change",
        "clarify",
        "checkout.retry_or_change.v1",
        ["purchasing", "researching"],
    )
    assert (reply.rung, reply.confidence, reply.runner_up) == ("clarify", 0.42, "researching")
    assert list(reply.reasons) == ["low_confidence", "cooldown"]
    assert reply.playbook_version == 3
    assert reply.explanation == "We asked because we were not sure."
    assert list(reply.data_categories) == ["intent", "signal:payment_failures_24h"]


def test_a_decision_that_offers_nothing_has_an_empty_action() -> None:
    nothing = Decision(None, None, None, Rung.NONE, 0.9, None, (), frozenset(), 1)
    reply = journey_decision_to_proto(JourneyDecision(ACCESS, "p", "d-2", "j", "p", nothing, ""))
    assert (reply.action.id, reply.action.kind, reply.action.template) == ("", "", "")
    assert (reply.rung, reply.runner_up) == ("none", "")


def test_the_handoff_carries_the_attempts_and_the_recommendation() -> None:
    handoff = Handoff(ACCESS, "p", intent=Inference(Intent.PURCHASING, 0.7))
    attempt = Attempt("d-0", "checkout_recovery", "retry_payment", "retry", "none", AT,
                      OfferResult.FAILED)  # fmt: skip
    reply = handoff_to_proto(JourneyHandoff(handoff, (attempt,), DECIDED))
    assert (reply.intent, reply.intent_confidence) == ("purchasing", 0.7)
    [sent] = reply.attempts
    assert (sent.decision_id, sent.journey, sent.action, sent.kind, sent.rung) == (
        "d-0",
        "checkout_recovery",
        "retry_payment",
        "retry",
        "none",
    )
    assert sent.offered_at.ToDatetime(tzinfo=UTC) == AT
    assert sent.result == journeys_pb2.OFFER_RESULT_FAILED
    recommended = reply.recommended
    assert (recommended.decision_id, recommended.action.id, recommended.rung) == (
        "d-1",
        "retry_or_change",
        "clarify",
    )
    assert list(recommended.action.parameters) == ["purchasing", "researching"]
    assert list(recommended.reasons) == ["low_confidence", "cooldown"]
    assert recommended.explanation == "We asked because we were not sure."


def test_a_purpose_without_a_journey_leaves_the_journey_parts_empty() -> None:
    reply = handoff_to_proto(JourneyHandoff(Handoff(ACCESS, "p")))
    assert list(reply.attempts) == []
    assert not reply.HasField("recommended")
    assert (reply.runner_up_intent, reply.runner_up_confidence) == ("", 0.0)
