"""Ingest enforcement over gRPC: event types per purpose, typed attributes, undeclared ones.

Every case goes through a real channel; "nothing stored" is checked in the databases.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta

import grpc
import pytest
from grpc_status import rpc_status

from tactful.v1 import common_pb2
from tests.conftest import T0, Tactful, email, page_view, timestamp, violations

ADA = email("ada@example.com")
AttributeValue = common_pb2.AttributeValue


def refused(
    tactful: Tactful, purpose: str, *events: common_pb2.Event, principal: str
) -> dict[str, str]:
    """The field violations of a batch that must be refused with INVALID_ARGUMENT."""
    with pytest.raises(grpc.RpcError) as caught:
        tactful.record(purpose, *events, principal=principal)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    return violations(caught.value)


def stored_rows(tactful: Tactful) -> tuple[int, int]:
    data = tactful.settings.data_dir
    with (
        sqlite3.connect(data / "behavior.db") as behavior,
        sqlite3.connect(data / "vault.db") as vault,
    ):
        events = behavior.execute("SELECT count(*) FROM events").fetchone()[0]
        identities = vault.execute("SELECT count(*) FROM identities").fetchone()[0]
    return events, identities


def stored_attributes(tactful: Tactful) -> list[dict[str, object] | None]:
    with sqlite3.connect(tactful.settings.data_dir / "behavior.db") as behavior:
        rows = behavior.execute("SELECT attributes FROM events ORDER BY id").fetchall()
    return [None if raw is None else json.loads(raw) for (raw,) in rows]


def data_folder_bytes(tactful: Tactful) -> bytes:
    """Every byte of every file in the data folder (databases, -wal, -shm, keyring...)."""
    folder = tactful.settings.data_dir
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def event(
    event_type: str, subject: common_pb2.SubjectRef = ADA, **attributes: AttributeValue
) -> common_pb2.Event:
    return common_pb2.Event(
        subject=subject, type=event_type, occurred_at=timestamp(T0), attributes=attributes
    )


def text(value: str) -> AttributeValue:
    return AttributeValue(string_value=value)


def integer(value: int) -> AttributeValue:
    return AttributeValue(int_value=value)


def double(value: float) -> AttributeValue:
    return AttributeValue(double_value=value)


def boolean(value: bool) -> AttributeValue:
    return AttributeValue(bool_value=value)


# -- event types ------------------------------------------------------------------------


def test_event_type_the_purpose_does_not_collect(tactful: Tactful) -> None:
    # cart_updated is in the catalog, but support_triage does not collect it.
    found = refused(
        tactful,
        "support_triage",
        page_view(ADA),
        event("cart_updated", item_count=integer(1)),
        principal="support_widget",
    )
    assert list(found) == ["events[1].type"]
    assert "support_triage" in found["events[1].type"]
    assert "cart_updated" in found["events[1].type"]
    assert stored_rows(tactful) == (0, 0)


def test_the_same_event_type_is_accepted_by_a_purpose_that_collects_it(tactful: Tactful) -> None:
    reply = tactful.record(
        "checkout_recovery", event("cart_updated", item_count=integer(1)), principal="web_frontend"
    )
    assert reply.stored == 1


# -- attribute types --------------------------------------------------------------------

# (case, purpose, principal, event type, attribute, bad value, words in the description)
WRONG_TYPES: list[tuple[str, str, str, str, str, AttributeValue, str]] = [
    ("string given int", "support_triage", "support_widget", "page_viewed", "path", integer(7),
     "string"),
    ("string given bool", "support_triage", "support_widget", "page_viewed", "path",
     boolean(True), "string"),
    ("string over max_length", "checkout_recovery", "checkout_service", "payment_failed",
     "error_code", text("E" * 33), "at most 32"),
    ("path over max_length", "support_triage", "support_widget", "page_viewed", "path",
     text("/" * 513), "at most 512"),
    ("int given string", "checkout_recovery", "checkout_service", "cart_updated", "item_count",
     text("3"), "int"),
    ("int given double", "checkout_recovery", "checkout_service", "cart_updated", "item_count",
     double(3.0), "int"),
    ("int given bool", "checkout_recovery", "checkout_service", "cart_updated", "item_count",
     boolean(True), "int"),
    ("float given string", "checkout_recovery", "checkout_service", "cart_updated", "value",
     text("9.99"), "float"),
    ("float given bool", "checkout_recovery", "checkout_service", "cart_updated", "value",
     boolean(False), "float"),
    ("bool given string", "account_retention", "web_frontend", "subscription_changed",
     "canceled", text("true"), "bool"),
    ("bool given int", "account_retention", "web_frontend", "subscription_changed", "canceled",
     integer(1), "bool"),
    ("enum value not in the list", "support_triage", "support_widget", "login_failed", "reason",
     text("forgot_password"), "bad_password"),
    ("enum given int", "support_triage", "support_widget", "login_failed", "reason", integer(0),
     "enum"),
    ("enum value in another case", "account_retention", "web_frontend", "subscription_changed",
     "plan", text("Pro"), "enterprise"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("purpose", "principal", "event_type", "attribute", "value", "words"),
    [case[1:] for case in WRONG_TYPES],
    ids=[case[0] for case in WRONG_TYPES],
)
def test_wrong_attribute_type_refuses_the_batch(
    tactful: Tactful,
    purpose: str,
    principal: str,
    event_type: str,
    attribute: str,
    value: AttributeValue,
    words: str,
) -> None:
    batch = [event(event_type, email(f"good{i}@example.com")) for i in range(2)]
    batch.append(event(event_type, **{attribute: value}))
    found = refused(tactful, purpose, *batch, principal=principal)
    field = f"events[2].attributes.{attribute}"
    assert list(found) == [field]
    assert words in found[field]
    assert stored_rows(tactful) == (0, 0)


# (case, purpose, principal, event type, attribute, good value, as stored)
RIGHT_TYPES: list[tuple[str, str, str, str, str, AttributeValue, object]] = [
    ("string", "support_triage", "support_widget", "page_viewed", "path", text("/help"),
     "/help"),
    ("string at max_length", "checkout_recovery", "checkout_service", "payment_failed",
     "error_code", text("E" * 32), "E" * 32),
    ("max_length counts characters", "checkout_recovery", "checkout_service", "payment_failed",
     "error_code", text("é" * 32), "é" * 32),
    ("int", "checkout_recovery", "checkout_service", "cart_updated", "item_count", integer(-4),
     -4),
    ("float given double", "checkout_recovery", "checkout_service", "cart_updated", "value",
     double(19.5), 19.5),
    ("float given int", "checkout_recovery", "checkout_service", "cart_updated", "value",
     integer(20), 20),
    ("bool", "account_retention", "web_frontend", "subscription_changed", "canceled",
     boolean(False), False),
    ("enum", "support_triage", "support_widget", "login_failed", "reason", text("locked"),
     "locked"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("purpose", "principal", "event_type", "attribute", "value", "expected"),
    [case[1:] for case in RIGHT_TYPES],
    ids=[case[0] for case in RIGHT_TYPES],
)
def test_right_attribute_type_is_stored_as_given(
    tactful: Tactful,
    purpose: str,
    principal: str,
    event_type: str,
    attribute: str,
    value: AttributeValue,
    expected: object,
) -> None:
    reply = tactful.record(purpose, event(event_type, **{attribute: value}), principal=principal)
    assert (reply.stored, reply.dropped_attributes) == (1, 0)
    [stored] = stored_attributes(tactful)
    assert stored == {attribute: expected}
    assert type(stored[attribute]) is type(expected)


def test_every_bad_attribute_of_every_event_is_named(tactful: Tactful) -> None:
    found = refused(
        tactful,
        "checkout_recovery",
        event("cart_updated", item_count=text("many"), value=text("lots")),
        event("payment_failed", error_code=integer(402)),
        principal="checkout_service",
    )
    assert set(found) == {
        "events[0].attributes.item_count",
        "events[0].attributes.value",
        "events[1].attributes.error_code",
    }


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_float_is_refused_or_stored_as_valid_json(
    tactful: Tactful, value: float
) -> None:
    """The behavior store keeps attributes as JSON and reads them with SQLite's JSON
    functions; NaN and Infinity are not JSON. Refusing them is one fix, storing them
    some other way another; storing text SQLite calls malformed is neither."""
    try:
        tactful.record(
            "checkout_recovery",
            event("cart_updated", item_count=integer(2), value=double(value)),
            principal="checkout_service",
        )
    except grpc.RpcError as error:
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert list(violations(error)) == ["events[0].attributes.value"]
        assert stored_rows(tactful) == (0, 0)
        return
    with sqlite3.connect(tactful.settings.data_dir / "behavior.db") as behavior:
        malformed = behavior.execute(
            "SELECT attributes FROM events WHERE NOT json_valid(attributes)"
        ).fetchall()
    assert malformed == [], "attributes stored as text SQLite's JSON functions cannot read"


# -- undeclared attributes: reject ------------------------------------------------------


def test_undeclared_attribute_under_a_reject_purpose_refuses_the_batch(tactful: Tactful) -> None:
    card = "4111111111111111"
    batch = [
        event("cart_updated", email("bea@example.com"), item_count=integer(2)),
        event("checkout_started", email("cy@example.com"), value=double(40.0)),
        event("order_completed", email("di@example.com"), value=double(40.0)),
        event("payment_failed", error_code=text("card_declined"), card_number=text(card)),
    ]
    with pytest.raises(grpc.RpcError) as caught:
        tactful.record("checkout_recovery", *batch, principal="checkout_service")
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    found = violations(caught.value)
    assert list(found) == ["events[3].attributes.card_number"]
    assert "not declared for purpose checkout_recovery" in found["events[3].attributes.card_number"]
    # The refused value is not echoed back, in the message or in the details.
    assert card not in (caught.value.details() or "")
    status = rpc_status.from_call(caught.value)  # type: ignore[arg-type]
    assert status is not None and card.encode() not in status.SerializeToString()
    assert stored_rows(tactful) == (0, 0)
    assert card.encode() not in data_folder_bytes(tactful)


def test_undeclared_attribute_on_an_event_with_no_attributes(tactful: Tactful) -> None:
    found = refused(
        tactful,
        "account_retention",
        event("login_succeeded", ip_address=text("192.0.2.1")),
        principal="web_frontend",
    )
    assert list(found) == ["events[0].attributes.ip_address"]
    assert "account_retention" in found["events[0].attributes.ip_address"]
    assert stored_rows(tactful) == (0, 0)


# -- undeclared attributes: drop --------------------------------------------------------


def test_undeclared_attributes_under_a_drop_purpose_are_removed_before_writing(
    tactful: Tactful,
) -> None:
    tactful.consent(ADA, "onboarding")
    secret = "dropped-value-7f3a9c"
    kept = "/kept-path-51e0b2"
    reply = tactful.record(
        "onboarding",
        event("page_viewed", path=text(kept), referrer=text(secret), screen_width=integer(1920)),
        event("signup_started", plan=text("trial"), coupon=text(secret)),
        event("signup_completed"),
        principal="web_frontend",
    )
    assert (reply.stored, reply.not_stored, reply.dropped_attributes) == (3, 0, 3)
    assert stored_attributes(tactful) == [{"path": kept}, {"plan": "trial"}, None]
    everything = data_folder_bytes(tactful)
    assert kept.encode() in everything, "the scan must be able to find a stored value"
    assert secret.encode() not in everything
    for name in (b"referrer", b"screen_width", b"coupon"):
        assert name not in everything


def test_only_undeclared_attributes_dropped_leaves_the_event_stored(tactful: Tactful) -> None:
    tactful.consent(ADA, "onboarding")
    reply = tactful.record(
        "onboarding", event("signup_completed", utm_source=text("ad")), principal="web_frontend"
    )
    assert (reply.stored, reply.dropped_attributes) == (1, 1)
    assert stored_attributes(tactful) == [None]


def test_drop_purpose_still_refuses_a_wrong_type_for_a_declared_attribute(
    tactful: Tactful,
) -> None:
    tactful.consent(ADA, "onboarding")
    found = refused(
        tactful,
        "onboarding",
        event("page_viewed", path=text("/a"), extra=text("x")),
        event("signup_started", plan=text("platinum")),
        principal="web_frontend",
    )
    assert list(found) == ["events[1].attributes.plan"]
    assert stored_rows(tactful) == (0, 0)


# -- whole batches ----------------------------------------------------------------------


def test_one_bad_attribute_among_good_events_stores_nothing(tactful: Tactful) -> None:
    good = [page_view(email(f"good{i}@example.com"), T0 - timedelta(minutes=i)) for i in range(5)]
    bad = event("error_shown", error_code=text("E42"), path=integer(404))
    found = refused(
        tactful, "support_triage", *good[:2], bad, *good[2:], principal="support_widget"
    )
    assert list(found) == ["events[2].attributes.path"]
    assert stored_rows(tactful) == (0, 0)
    assert tactful.record("support_triage", *good).stored == 5
    assert stored_rows(tactful) == (5, 5)
