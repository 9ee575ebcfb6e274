"""Journeys.NextAction over a real channel, on the example contract's checkout_recovery
playbook: every rung of the ladder, a refusal remembered, the refusals, the access
record of a decision, and the client's next_action."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from tactful.client import InvalidArgument, connect
from tactful.client import Subject as ClientSubject
from tactful.v1 import common_pb2, journeys_pb2, journeys_pb2_grpc, personalization_pb2
from tests.api.test_access_log_service import pseudonym_of, query
from tests.api.test_signals import error_info, event
from tests.conftest import T0, Tactful, bearer, email, page_view, token_for, violations

ADA = email("ada@example.com")
CHECKOUT = "checkout_recovery"
FRONTEND = "web_frontend"
METHOD = "tactful.v1.Journeys/NextAction"


def next_action(
    tactful: Tactful,
    subject: common_pb2.SubjectRef = ADA,
    *,
    journey: str = CHECKOUT,
    principal: str = FRONTEND,
    previous: tuple[str, int] | None = None,
    step: str = "payment",
) -> journeys_pb2.NextActionResponse:
    request = journeys_pb2.NextActionRequest(
        subject=subject, journey=journey, channel="web", step=step
    )
    if previous is not None:
        request.previous.decision_id, request.previous.result = previous
    stub = journeys_pb2_grpc.JourneysStub(tactful.channel)
    reply: journeys_pb2.NextActionResponse = stub.NextAction(
        request, metadata=bearer(principal), timeout=10
    )
    return reply


def refused_with(tactful: Tactful, **kwargs: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        next_action(tactful, **kwargs)  # type: ignore[arg-type]
    return caught.value


def record(
    tactful: Tactful, *events: common_pb2.Event, purpose: str = CHECKOUT, principal: str = FRONTEND
) -> None:
    assert tactful.record(purpose, *events, principal=principal).stored == len(events)


def minutes_ago(n: int) -> datetime:
    return T0 - timedelta(minutes=n)


def failed_payment(minutes: int, code: str = "processing_error") -> common_pb2.Event:
    return event("payment_failed", minutes_ago(minutes), error_code=code)


def checkout(minutes: int, value: float = 42.0) -> common_pb2.Event:
    return event("checkout_started", minutes_ago(minutes), value=value)


def action_and_rung(reply: journeys_pb2.NextActionResponse) -> tuple[str, str]:
    return reply.action.id, reply.rung


def support(tactful: Tactful, *events: common_pb2.Event) -> journeys_pb2.NextActionResponse:
    """The example's support_triage journey, whose purpose releases the intent."""
    record(tactful, *events, purpose="support_triage", principal="support_widget")
    return next_action(tactful, journey="support_triage", principal="support_widget", step="help")


def ticket(minutes: int, category: str) -> common_pb2.Event:
    return event(
        "ticket_created", minutes_ago(minutes), category=category, channel="web", priority="normal"
    )


# -- every rung --------------------------------------------------------------------------


def test_a_first_decline_is_retried_with_no_fallback(tactful: Tactful) -> None:
    record(tactful, checkout(3), failed_payment(2))
    reply = next_action(tactful)
    assert action_and_rung(reply) == ("retry_payment", "none")
    assert (reply.action.kind, reply.action.template) == ("retry", "checkout.retry_payment.v1")
    assert (reply.journey, reply.purpose, reply.playbook_version) == (CHECKOUT, CHECKOUT, 1)
    assert reply.decision_id and "payment" in reply.explanation
    assert "signal:payment_failures_24h" in reply.data_categories


def test_a_suspected_fraud_goes_to_a_person(tactful: Tactful) -> None:
    record(tactful, checkout(3, value=420.0), failed_payment(2, "fraud_suspected"))
    reply = next_action(tactful)
    assert action_and_rung(reply) == ("talk_to_billing", "human")
    assert reply.action.kind == "handoff"
    assert "nothing_eligible" in reply.reasons


def test_three_failures_go_to_a_person(tactful: Tactful) -> None:
    record(tactful, failed_payment(3), failed_payment(2), failed_payment(1))
    assert action_and_rung(next_action(tactful)) == ("talk_to_billing", "human")


def test_a_ticket_that_says_little_asks_with_the_options(tactful: Tactful) -> None:
    reply = support(tactful, ticket(1, "other"))
    assert action_and_rung(reply) == ("what_went_wrong", "clarify")
    assert reply.action.kind == "clarify" and reply.action.parameters
    assert {"low_confidence", "ambiguous"} & set(reply.reasons)
    assert "intent" in reply.data_categories


def test_two_failed_logins_get_the_most_likely_action_least_committal(tactful: Tactful) -> None:
    failed = (event("login_failed", minutes_ago(n), reason="bad_password") for n in (2, 1))
    reply = support(tactful, *failed)
    assert action_and_rung(reply) == ("password_reset", "most_likely")
    assert reply.reasons[0] == "moderate_confidence"
    assert 0.5 <= reply.confidence < 0.8


def test_a_how_to_question_gets_its_article_with_no_fallback(tactful: Tactful) -> None:
    reply = support(
        tactful, page_view(ADA, minutes_ago(2), "/docs/integrations"), ticket(1, "how_to")
    )
    assert action_and_rung(reply) == ("kb_article", "none")
    assert reply.confidence >= 0.8


def test_locked_out_after_three_tries_goes_to_a_person(tactful: Tactful) -> None:
    reply = support(
        tactful,
        *(event("login_failed", minutes_ago(n), reason="bad_password") for n in (3, 2)),
        event("login_failed", minutes_ago(1), reason="locked"),
    )
    assert action_and_rung(reply) == ("agent_with_context", "human")
    assert "frustrated" in reply.reasons and "frustration" in reply.data_categories


# -- memory: never twice after a refusal --------------------------------------------------


def refused_then_later(tactful: Tactful, result: int) -> journeys_pb2.NextActionResponse:
    """A first decline, the retry offered, `result` reported past the retry's cooldown."""
    record(tactful, checkout(3), failed_payment(2))
    first = next_action(tactful)
    assert action_and_rung(first) == ("retry_payment", "none")
    tactful.clock.advance(timedelta(minutes=11))  # past the retry's 10-minute cooldown
    return next_action(tactful, previous=(first.decision_id, result))


def test_a_refused_action_is_never_offered_again(tactful: Tactful) -> None:
    after = refused_then_later(tactful, journeys_pb2.OFFER_RESULT_REFUSED)
    assert action_and_rung(after) == ("talk_to_billing", "human")
    assert "refused_before" in after.reasons
    tactful.clock.advance(timedelta(hours=3))
    record(tactful, failed_payment(-179))  # another decline, after the refusal
    assert next_action(tactful).action.id != "retry_payment"


def test_an_ignored_action_may_be_offered_again(tactful: Tactful) -> None:
    after = refused_then_later(tactful, journeys_pb2.OFFER_RESULT_IGNORED)
    assert action_and_rung(after) == ("retry_payment", "none")
    assert "refused_before" not in after.reasons


# -- refusals ------------------------------------------------------------------------------


def test_an_unknown_journey_is_invalid_naming_the_field(tactful: Tactful) -> None:
    error = refused_with(tactful, journey="no_such_journey")
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "journey" in violations(error)


def test_an_unknown_decision_is_invalid_naming_the_field(tactful: Tactful) -> None:
    record(tactful, checkout(3), failed_payment(2))
    error = refused_with(tactful, previous=("dec_not_made", journeys_pb2.OFFER_RESULT_REFUSED))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "previous.decision_id" in violations(error)


def test_another_persons_decision_cannot_be_settled(tactful: Tactful) -> None:
    record(tactful, checkout(3), failed_payment(2))
    hers = next_action(tactful)
    bob = email("bob@example.org")
    error = refused_with(
        tactful, subject=bob, previous=(hers.decision_id, journeys_pb2.OFFER_RESULT_REFUSED)
    )
    assert "previous.decision_id" in violations(error)


def test_a_previous_decision_without_its_result_is_invalid(tactful: Tactful) -> None:
    error = refused_with(tactful, previous=("dec_x", journeys_pb2.OFFER_RESULT_UNSPECIFIED))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "previous.result" in violations(error)


@pytest.mark.parametrize(
    ("principal", "verdict"),
    [("support_widget", "PURPOSE_NOT_CLAIMABLE"), ("analyst", "ROLE_NOT_ALLOWED")],
)
def test_a_caller_that_may_not_claim_the_purpose_is_denied(
    tactful: Tactful, principal: str, verdict: str
) -> None:
    error = refused_with(tactful, principal=principal)
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    assert error_info(error).reason == verdict
    (logged,) = query(tactful, method=METHOD)
    assert (logged.decision, logged.status) == ("denied", "PERMISSION_DENIED")
    assert list(logged.requested) == ["journey:checkout_recovery"]
    assert list(logged.released) == []
    assert logged.purpose == "checkout_recovery"  # the journey's, though refused before it


def test_a_journey_whose_purpose_needs_consent_waits_for_it(tactful: Tactful) -> None:
    browsing = [page_view(ADA, minutes_ago(2), "/features"),
                page_view(ADA, minutes_ago(1), "/docs/getting-started")]  # fmt: skip
    ask = {"journey": "onboarding", "step": "pricing"}
    error = refused_with(tactful, **ask)
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(error).reason == "CONSENT_REQUIRED"
    tactful.consent(ADA, "onboarding")
    record(tactful, *browsing, purpose="onboarding")
    assert action_and_rung(next_action(tactful, **ask)) == ("choose_plan", "none")  # type: ignore[arg-type]


# -- the access record -----------------------------------------------------------------


def test_a_decision_is_recorded_with_its_reasons_and_categories_never_values(
    tactful: Tactful,
) -> None:
    after = refused_then_later(tactful, journeys_pb2.OFFER_RESULT_REFUSED)
    first, second = query(tactful, method=METHOD)
    for logged in (first, second):
        assert (logged.method, logged.purpose, logged.decision) == (METHOD, CHECKOUT, "allowed")
        assert list(logged.subjects) == [pseudonym_of(tactful, ADA)]
        assert logged.requested[0] == "journey:checkout_recovery"
        assert "signal:payment_failures_24h" in logged.requested
    assert list(second.released) == [
        f"decision:{after.decision_id}",
        "action:talk_to_billing",
        "rung:human",
    ]
    assert "nothing_eligible" in second.reason and "refused_before" in second.reason
    everything = str(query(tactful))
    for value in ("processing_error", "42.0", "ada@example.com", "Ada"):
        assert value not in everything


# -- the handoff -----------------------------------------------------------------------


def test_the_handoff_carries_what_was_tried_and_what_the_engine_recommends(
    tactful: Tactful,
) -> None:
    agent = "agent_console"
    declined = event("payment_failed", minutes_ago(2), error_code="card_declined")
    record(tactful, checkout(3), declined, purpose="agent_assist", principal=agent)
    ask = {"journey": "agent_assist", "principal": agent, "step": "chat"}
    tried = next_action(tactful, **ask)  # type: ignore[arg-type]
    assert action_and_rung(tried) == ("fix_payment", "none")
    tactful.clock.advance(timedelta(minutes=1))
    failed = (tried.decision_id, journeys_pb2.OFFER_RESULT_FAILED)
    again = next_action(tactful, previous=failed, **ask)  # type: ignore[arg-type]
    assert action_and_rung(again) == ("fix_payment", "none")  # twice a day at most

    request = personalization_pb2.GetHandoffContextRequest(subject=ADA, purpose="agent_assist")
    reply = tactful.personalization.GetHandoffContext(request, metadata=bearer(agent), timeout=10)
    assert [(a.decision_id, a.journey, a.action, a.kind, a.rung, a.result)
            for a in reply.attempts] == [
        (tried.decision_id, "agent_assist", "fix_payment", "guide", "none",
         journeys_pb2.OFFER_RESULT_FAILED),
        (again.decision_id, "agent_assist", "fix_payment", "guide", "none",
         journeys_pb2.OFFER_RESULT_OFFERED),
    ]  # fmt: skip
    assert [a.offered_at.ToDatetime(tzinfo=UTC) for a in reply.attempts] == [
        T0,
        T0 + timedelta(minutes=1),
    ]
    recommended = reply.recommended  # the fix was offered twice today: a specialist
    assert (recommended.action.id, recommended.action.kind, recommended.rung) == (
        "escalate_to_specialist",
        "handoff",
        "human",
    )
    assert "capped" in recommended.reasons and recommended.explanation
    assert reply.intent == "purchasing" and reply.runner_up_intent
    assert 0 < reply.runner_up_confidence < reply.intent_confidence


# -- the client --------------------------------------------------------------------------


def test_the_client_asks_and_reports_a_refusal(tactful: Tactful) -> None:
    record(tactful, checkout(3), failed_payment(2))
    ada = ClientSubject("email", "ada@example.com")
    with connect(tactful.target, token_for(FRONTEND), plaintext=True) as client:
        first = client.next_action(ada, CHECKOUT, step="payment", channel="web")
        tactful.clock.advance(timedelta(minutes=11))
        after = client.next_action(ada, CHECKOUT, previous=(first.decision_id, "refused"))
        with pytest.raises(InvalidArgument) as unknown:
            client.next_action(ada, "no_such_journey")
    assert (first.action, first.kind, first.rung) == ("retry_payment", "retry", "none")
    assert (first.template, first.playbook_version) == ("checkout.retry_payment.v1", 1)
    assert first.confidence == 1.0 and first.explanation and first.request_id
    assert (after.action, after.rung) == ("talk_to_billing", "human")
    assert "refused_before" in after.reasons
    assert [v.field for v in unknown.value.field_violations] == ["journey"]


# -- a store that cannot be read ---------------------------------------------------------


def test_a_memory_that_cannot_be_read_answers_unavailable_never_a_guess(tactful: Tactful) -> None:
    record(tactful, checkout(3), failed_payment(2))
    with sqlite3.connect(tactful.settings.data_dir / "behavior.db") as behavior:
        behavior.execute("ALTER TABLE journey_memory RENAME TO journey_memory_gone")
    error = refused_with(tactful)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "retry_payment" not in (error.details() or "")
    [row] = query(tactful, method=METHOD)
    assert (row.status, row.released) == ("UNAVAILABLE", [])
