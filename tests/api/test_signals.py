"""GetSignals over gRPC: windows, latest values, whole refusals, purpose isolation."""

from __future__ import annotations

from datetime import datetime, timedelta

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tactful.v1 import common_pb2
from tests.conftest import T0, Tactful, email, page_view, timestamp, violations

ADA = email("ada@example.com")
AttributeValue = common_pb2.AttributeValue


def event(
    event_type: str, at: datetime = T0, subject: common_pb2.SubjectRef = ADA, **attributes: object
) -> common_pb2.Event:
    values = {name: _value(value) for name, value in attributes.items()}
    return common_pb2.Event(
        subject=subject, type=event_type, occurred_at=timestamp(at), attributes=values
    )


def _value(value: object) -> AttributeValue:
    if isinstance(value, bool):
        return AttributeValue(bool_value=value)
    if isinstance(value, int):
        return AttributeValue(int_value=value)
    if isinstance(value, float):
        return AttributeValue(double_value=value)
    assert isinstance(value, str)
    return AttributeValue(string_value=value)


def failed_login(at: datetime, subject: common_pb2.SubjectRef = ADA) -> common_pb2.Event:
    return event("login_failed", at, subject, reason="bad_password")


def rpc_error(tactful: Tactful, purpose: str, *names: str, principal: str) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        tactful.signals(ADA, purpose, *names, principal=principal)
    return caught.value


def error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "no google.rpc.Status in the trailers"
    found = []
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            found.append(info)
    assert len(found) == 1, f"expected one ErrorInfo, got {found}"
    return found[0]


# -- counts -----------------------------------------------------------------------------


def test_count_window_excludes_its_start_and_includes_the_next_instant(tactful: Tactful) -> None:
    hour = timedelta(hours=1)
    tactful.record(
        "support_triage",
        failed_login(T0 - hour - timedelta(seconds=1)),
        failed_login(T0 - hour),  # exactly at now - window: outside (occurred_at > now - 1h)
        failed_login(T0 - hour + timedelta(microseconds=1)),
        failed_login(T0 - hour + timedelta(seconds=1)),
        failed_login(T0),
    )
    assert tactful.signals(ADA, "support_triage", "failed_logins_1h") == {"failed_logins_1h": 3}
    tactful.clock.advance(timedelta(microseconds=1))
    assert tactful.signals(ADA, "support_triage", "failed_logins_1h") == {"failed_logins_1h": 2}
    tactful.clock.advance(timedelta(seconds=1) - timedelta(microseconds=1))
    assert tactful.signals(ADA, "support_triage", "failed_logins_1h") == {"failed_logins_1h": 1}
    tactful.clock.advance(hour)
    assert tactful.signals(ADA, "support_triage", "failed_logins_1h") == {"failed_logins_1h": 0}


def test_count_with_no_events_is_zero(tactful: Tactful) -> None:
    # "The requested signals that have a value": a count always has one.
    assert tactful.signals(ADA, "support_triage", "failed_logins_1h") == {"failed_logins_1h": 0}


def test_count_is_per_subject_and_per_event_type(tactful: Tactful) -> None:
    tactful.record(
        "support_triage",
        failed_login(T0, email("bea@example.com")),
        page_view(ADA),
        event("error_shown", error_code="E1", path="/login"),
        failed_login(T0 - timedelta(minutes=5)),
    )
    assert tactful.signals(ADA, "support_triage", "failed_logins_1h") == {"failed_logins_1h": 1}


def test_24_hour_window(tactful: Tactful) -> None:
    day = timedelta(hours=24)
    tactful.consent(ADA, "onboarding")
    tactful.record(
        "onboarding",
        page_view(ADA, T0 - day),
        page_view(ADA, T0 - day + timedelta(seconds=1)),
        page_view(ADA, T0),
        principal="web_frontend",
    )
    reply = tactful.signals(ADA, "onboarding", "pages_viewed_24h", principal="web_frontend")
    assert reply == {"pages_viewed_24h": 2}


# -- last values ------------------------------------------------------------------------


def test_last_value_is_the_latest_by_occurred_at_not_by_arrival(tactful: Tactful) -> None:
    minute = timedelta(minutes=1)
    checkout = "checkout_service"
    tactful.record(
        "checkout_recovery",
        event("cart_updated", T0 - 10 * minute, item_count=2, value=20.0),
        event("cart_updated", T0 - 5 * minute, item_count=3, value=30.0),
        event("payment_failed", T0 - 4 * minute, error_code="insufficient_funds"),
        principal=checkout,
    )
    tactful.record(
        "checkout_recovery",
        # Arrives last, happened first: not the latest.
        event("cart_updated", T0 - 20 * minute, item_count=5, value=50.0),
        event("payment_failed", T0 - 30 * minute, error_code="expired_card"),
        # The latest cart_updated has no item_count: the latest value is still 3.
        event("cart_updated", T0 - 1 * minute, value=31.0),
        principal=checkout,
    )
    got = tactful.signals(
        ADA, "checkout_recovery", "cart_item_count", "last_payment_error", principal=checkout
    )
    assert got == {"cart_item_count": 3, "last_payment_error": "insufficient_funds"}
    assert type(got["cart_item_count"]) is int


def test_last_value_tie_goes_to_the_later_arrival(tactful: Tactful) -> None:
    checkout = "checkout_service"
    tactful.record(
        "checkout_recovery", event("payment_failed", error_code="first"), principal=checkout
    )
    tactful.record(
        "checkout_recovery", event("payment_failed", error_code="second"), principal=checkout
    )
    got = tactful.signals(ADA, "checkout_recovery", "last_payment_error", principal=checkout)
    assert got == {"last_payment_error": "second"}


def test_last_value_under_a_consent_purpose(tactful: Tactful) -> None:
    tactful.consent(ADA, "multilingual_support")
    tactful.record(
        "multilingual_support",
        event("locale_set", T0 - timedelta(days=3), locale="fr-CA", language="fr"),
        event("locale_set", T0 - timedelta(days=1), locale="de-CH", language="de"),
        event("locale_set", T0 - timedelta(days=2), locale="it-IT", language="it"),
        principal="web_frontend",
    )
    got = tactful.signals(ADA, "multilingual_support", "preferred_locale", "preferred_language")
    assert got == {"preferred_locale": "de-CH", "preferred_language": "de"}


def test_signal_with_no_data_is_absent(tactful: Tactful) -> None:
    checkout = "checkout_service"
    tactful.record("checkout_recovery", event("cart_updated", item_count=1), principal=checkout)
    got = tactful.signals(
        ADA,
        "checkout_recovery",
        "cart_item_count",
        "last_payment_error",
        "payment_failures_24h",
        principal=checkout,
    )
    assert got == {"cart_item_count": 1, "payment_failures_24h": 0}
    stranger = email("nobody@example.com")
    assert tactful.signals(stranger, "support_triage", "last_error_code") == {}


def test_a_non_finite_float_elsewhere_in_the_event_does_not_break_reads(tactful: Tactful) -> None:
    """cart_item_count reads cart_updated rows; one with value=NaN must not turn the read
    into INTERNAL. Either the NaN is refused at ingest or it is stored readably."""
    checkout = "checkout_service"
    earlier = event("cart_updated", T0 - timedelta(minutes=1), item_count=2)
    tactful.record("checkout_recovery", earlier, principal=checkout)
    expected = 7
    try:
        tactful.record(
            "checkout_recovery",
            event("cart_updated", T0, item_count=7, value=float("nan")),
            principal=checkout,
        )
    except grpc.RpcError as error:
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        expected = 2
    got = tactful.signals(ADA, "checkout_recovery", "cart_item_count", principal=checkout)
    assert got == {"cart_item_count": expected}


# -- refusals ---------------------------------------------------------------------------


def test_signals_the_purpose_does_not_release_refuse_the_whole_request(tactful: Tactful) -> None:
    tactful.record("support_triage", failed_login(T0))
    error = rpc_error(
        tactful,
        "support_triage",
        "pages_viewed_24h",
        "failed_logins_1h",
        "cart_item_count",
        principal="support_widget",
    )
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    message = error.details() or ""
    assert "cart_item_count" in message and "pages_viewed_24h" in message
    assert "failed_logins_1h" not in message
    info = error_info(error)
    assert info.reason == "ITEMS_NOT_RELEASED"
    assert info.domain == "tactful"
    assert info.metadata["refused"] == "cart_item_count,pages_viewed_24h"
    assert info.metadata["outcome"] == "items_not_released"
    # Nothing was released, and the allowed signal still answers on its own.
    assert tactful.signals(ADA, "support_triage", "failed_logins_1h") == {"failed_logins_1h": 1}


@pytest.mark.parametrize("name", ["pages_viewed_24h", "cart_item_count", "preferred_locale"])
def test_a_purpose_that_releases_no_signals_refuses_every_name(tactful: Tactful, name: str) -> None:
    error = rpc_error(tactful, "account_retention", name, principal="web_frontend")
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    assert error_info(error).metadata["refused"] == name


def test_undeclared_signal_name_is_invalid_argument(tactful: Tactful) -> None:
    error = rpc_error(
        tactful,
        "support_triage",
        "failed_logins_1h",
        "shoe_size",
        "cart_item_count",
        "",
        principal="support_widget",
    )
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    found = violations(error)
    assert set(found) == {"names[1]", "names[3]"}
    assert "shoe_size" in found["names[1]"]


def test_no_names_is_invalid_argument(tactful: Tactful) -> None:
    error = rpc_error(tactful, "support_triage", principal="support_widget")
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert list(violations(error)) == ["names"]


@pytest.mark.parametrize(
    ("purpose", "names"),
    [
        ("multilingual_support", ("preferred_locale",)),
        ("onboarding", ("pages_viewed_24h", "signup_plan")),
    ],
)
def test_consent_purpose_without_a_grant_is_failed_precondition(
    tactful: Tactful, purpose: str, names: tuple[str, ...]
) -> None:
    error = rpc_error(tactful, purpose, *names, principal="web_frontend")
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(error).reason == "CONSENT_REQUIRED"


def test_withdrawn_consent_refuses_the_next_read(tactful: Tactful) -> None:
    tactful.consent(ADA, "multilingual_support")
    tactful.record("multilingual_support", event("locale_set", locale="pt-BR"))
    assert tactful.signals(ADA, "multilingual_support", "preferred_locale") == {
        "preferred_locale": "pt-BR"
    }
    tactful.consent(ADA, "multilingual_support", granted=False)
    error = rpc_error(tactful, "multilingual_support", "preferred_locale", principal="web_frontend")
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION


def test_a_principal_not_allowed_the_purpose_is_permission_denied(tactful: Tactful) -> None:
    error = rpc_error(tactful, "checkout_recovery", "cart_item_count", principal="support_widget")
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    assert error_info(error).reason == "PURPOSE_NOT_CLAIMABLE"


# -- purpose isolation ------------------------------------------------------------------


def test_signals_see_only_events_collected_under_their_own_purpose(tactful: Tactful) -> None:
    tactful.consent(ADA, "onboarding")
    tactful.record("support_triage", page_view(ADA), page_view(ADA), failed_login(T0))
    onboarding = tactful.signals(ADA, "onboarding", "pages_viewed_24h", principal="web_frontend")
    assert onboarding == {"pages_viewed_24h": 0}
    tactful.record("onboarding", page_view(ADA), principal="web_frontend")
    onboarding = tactful.signals(ADA, "onboarding", "pages_viewed_24h", principal="web_frontend")
    assert onboarding == {"pages_viewed_24h": 1}

    # The same signal released by two purposes counts each purpose's events only.
    agent = "agent_console"
    assert tactful.signals(ADA, "agent_assist", "failed_logins_1h", principal=agent) == {
        "failed_logins_1h": 0
    }
    tactful.record("agent_assist", failed_login(T0), failed_login(T0), principal=agent)
    assert tactful.signals(ADA, "agent_assist", "failed_logins_1h", principal=agent) == {
        "failed_logins_1h": 2
    }
    assert tactful.signals(ADA, "support_triage", "failed_logins_1h") == {"failed_logins_1h": 1}


def test_last_values_see_only_their_own_purpose(tactful: Tactful) -> None:
    tactful.record(
        "agent_assist", event("payment_failed", error_code="agent_side"), principal="agent_console"
    )
    got = tactful.signals(
        ADA, "checkout_recovery", "last_payment_error", principal="checkout_service"
    )
    assert got == {}
