"""GetHandoffContext and the journey signals over gRPC: intent, frustration, recent
steps and error codes, each released only where the purpose allows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import grpc
import pytest

from tactful.app.settings import EXAMPLE_CONTRACT
from tactful.v1 import common_pb2, personalization_pb2
from tests.api.test_access_log_service import query
from tests.api.test_signals import event
from tests.conftest import T0, Tactful, bearer, email, page_view, without_journeys, write_contract

ADA = email("ada@example.com")
AGENT, PURPOSE = "agent_console", "agent_assist"
HANDOFF_METHOD = "tactful.v1.Personalization/GetHandoffContext"
EVERY_SIGNAL = ["intent", "frustration", "recent_steps", "last_error_codes"]


def handoff(
    tactful: Tactful, subject: common_pb2.SubjectRef = ADA
) -> personalization_pb2.GetHandoffContextResponse:
    request = personalization_pb2.GetHandoffContextRequest(subject=subject, purpose=PURPOSE)
    reply: personalization_pb2.GetHandoffContextResponse = (
        tactful.personalization.GetHandoffContext(request, metadata=bearer(AGENT), timeout=10)
    )
    return reply


def record(tactful: Tactful, *events: common_pb2.Event) -> None:
    reply = tactful.record(PURPOSE, *events, principal=AGENT)
    assert reply.stored == len(events)


def minutes_ago(n: int) -> datetime:
    return T0 - timedelta(minutes=n)


def test_a_failed_checkout_hands_over_everything_the_agent_needs(tactful: Tactful) -> None:
    record(
        tactful,
        page_view(ADA, minutes_ago(9), "/pricing"),
        page_view(ADA, minutes_ago(8), "/checkout/payment"),
        event("checkout_started", minutes_ago(7), value=49.0),
        event("payment_failed", minutes_ago(6), error_code="card_declined"),
        event("error_shown", minutes_ago(5), error_code="E_PAY", path="/checkout"),
    )
    reply = handoff(tactful)
    assert (reply.intent, reply.frustration) == ("purchasing", "mild")
    assert 0.5 <= reply.intent_confidence <= 1.0
    assert reply.next_action == "offer_checkout_help"
    assert [(s.type, s.occurred_at.ToDatetime(tzinfo=T0.tzinfo)) for s in reply.recent_steps] == [
        ("error_shown", minutes_ago(5)),
        ("payment_failed", minutes_ago(6)),
        ("checkout_started", minutes_ago(7)),
        ("page_viewed", minutes_ago(8)),
        ("page_viewed", minutes_ago(9)),
    ]
    assert list(reply.last_error_codes) == ["E_PAY", "card_declined"]
    assert list(reply.withheld) == []


@pytest.mark.parametrize(
    ("paths", "intent", "action"),
    [
        (["/account/cancel", "/cancel/confirm"], "canceling", "offer_retention_options"),
        (["/compare/plans", "/vs/other"], "comparing", "share_comparison"),
        (["/docs/api", "/guides/setup"], "researching", "share_documentation"),
        (["/billing/renew"], "renewing", "confirm_renewal"),
        (["/", "/account"], "unknown", "ask_clarifying_question"),
        (["/pricing", "/help", "/cart"], "unknown", "ask_clarifying_question"),
    ],
)
def test_clear_journeys_have_their_intent_and_an_unclear_one_asks_first(
    tactful: Tactful, paths: list[str], intent: str, action: str
) -> None:
    record(tactful, *(page_view(ADA, minutes_ago(i + 1), p) for i, p in enumerate(paths)))
    reply = handoff(tactful)
    assert (reply.intent, reply.next_action, reply.frustration) == (intent, action, "none")


def test_only_events_inside_the_intent_window_count(tactful: Tactful) -> None:
    record(tactful, page_view(ADA, T0 - timedelta(hours=2), "/account/cancel"))  # window start
    assert handoff(tactful).intent == "unknown"
    record(tactful, page_view(ADA, T0 - timedelta(hours=2) + timedelta(seconds=1), "/docs"))
    assert handoff(tactful).intent == "researching"


def failed_login(at: datetime) -> common_pb2.Event:
    return event("login_failed", at, reason="bad_password")


def test_frustration_rises_with_failures_inside_the_window_only(tactful: Tactful) -> None:
    start = T0 - timedelta(hours=2)  # the frustration window: "2h", start excluded
    record(tactful, failed_login(start - timedelta(minutes=5)), failed_login(start))
    assert handoff(tactful).frustration == "none"
    record(tactful, failed_login(start + timedelta(seconds=1)))
    assert handoff(tactful).frustration == "mild"
    record(tactful, failed_login(minutes_ago(1)))
    assert handoff(tactful).frustration == "mild"  # two inside
    record(tactful, failed_login(T0))
    reply = handoff(tactful)
    assert (reply.frustration, reply.next_action) == ("high", "hand_to_senior_agent")
    assert tactful.signals(ADA, PURPOSE, "frustration", principal=AGENT) == {"frustration": "high"}


def test_two_payment_failures_or_an_abandoned_form(tactful: Tactful) -> None:
    record(tactful, event("form_abandoned", minutes_ago(3), form="address"))
    assert handoff(tactful).frustration == "mild"
    record(
        tactful,
        event("payment_failed", minutes_ago(2), error_code="card_declined"),
        event("payment_failed", minutes_ago(1), error_code="card_declined"),
    )
    reply = handoff(tactful)
    assert reply.frustration == "high"
    assert list(reply.last_error_codes) == ["card_declined"]


def test_nothing_recorded_means_an_unknown_intent_and_no_steps(tactful: Tactful) -> None:
    reply = handoff(tactful, email("nobody@example.com"))
    assert (reply.intent, reply.intent_confidence, reply.frustration) == ("unknown", 0.0, "none")
    assert reply.next_action == "ask_clarifying_question"
    assert list(reply.recent_steps) == [] and list(reply.withheld) == []


def contract_releasing(tmp_path: Path, signals: list[str]) -> Path:
    """The example contract with agent_assist releasing `signals` of the journey ones."""
    text = EXAMPLE_CONTRACT.read_text(encoding="utf-8")
    old = '    "intent", "frustration", "recent_steps", "last_error_codes",\n'
    assert old in text
    edited = text.replace(old, "".join(f'"{s}",' for s in signals) + "\n")
    return write_contract(tmp_path / "contract.toml", without_journeys(edited))


@pytest.mark.parametrize(
    ("released", "withheld"),
    [
        (["intent", "frustration"], ["recent_steps", "last_error_codes"]),
        (["intent", "recent_steps"], ["last_error_codes", "frustration", "next_action"]),
        ([], ["intent", "recent_steps", "last_error_codes", "frustration", "next_action"]),
    ],
)
def test_parts_the_purpose_does_not_release_are_withheld_and_logged_as_such(
    start_tactful: Callable[..., Tactful],
    tmp_path: Path,
    released: list[str],
    withheld: list[str],
) -> None:
    tactful = start_tactful(contract=contract_releasing(tmp_path, released))
    record(
        tactful,
        page_view(ADA, minutes_ago(2), "/account/cancel"),
        event("error_shown", minutes_ago(1), error_code="E_CANCEL", path="/cancel"),
    )
    reply = handoff(tactful)

    assert list(reply.withheld) == withheld
    assert bool(reply.intent) == ("intent" in released)
    assert bool(reply.frustration) == ("frustration" in released)
    assert bool(reply.next_action) == ("next_action" not in withheld)
    assert bool(reply.recent_steps) == ("recent_steps" in released)
    assert not reply.last_error_codes
    (logged,) = query(tactful, method=HANDOFF_METHOD)
    assert list(logged.requested) == sorted(EVERY_SIGNAL)
    assert list(logged.released) == sorted(released)
    assert b"E_CANCEL" not in str(query(tactful)).encode()


def test_get_signals_releases_intent_where_allowed_and_refuses_it_elsewhere(
    tactful: Tactful,
) -> None:
    tactful.record(
        "support_triage",
        event("error_shown", minutes_ago(2), error_code="E500", path="/dashboard"),
        page_view(ADA, minutes_ago(1), "/status"),
    )
    assert tactful.signals(ADA, "support_triage", "intent", "frustration") == {
        "intent": "reporting_issue",
        "frustration": "none",
    }
    with pytest.raises(grpc.RpcError) as steps:
        tactful.signals(ADA, "support_triage", "recent_steps")
    assert steps.value.code() is grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as elsewhere:
        tactful.signals(ADA, "checkout_recovery", "intent", principal="web_frontend")
    assert elsewhere.value.code() is grpc.StatusCode.PERMISSION_DENIED


def test_only_an_agent_may_ask_for_a_handoff(tactful: Tactful) -> None:
    request = personalization_pb2.GetHandoffContextRequest(subject=ADA, purpose="support_triage")
    with pytest.raises(grpc.RpcError) as caught:
        tactful.personalization.GetHandoffContext(
            request, metadata=bearer("support_widget"), timeout=10
        )
    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
