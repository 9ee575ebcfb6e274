"""Bad input gets INVALID_ARGUMENT naming the field, and stores nothing."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tactful.v1 import common_pb2, journeys_pb2, journeys_pb2_grpc, personalization_pb2
from tests.conftest import T0, Tactful, bearer, email, page_view, violations

GOOD = email("ada@example.com")


def stored_rows(tactful: Tactful) -> tuple[int, int]:
    data = tactful.settings.data_dir
    with (
        sqlite3.connect(data / "behavior.db") as behavior,
        sqlite3.connect(data / "vault.db") as vault,
    ):
        events = behavior.execute("SELECT count(*) FROM events").fetchone()[0]
        identities = vault.execute("SELECT count(*) FROM identities").fetchone()[0]
    return events, identities


def with_subject(namespace: str, identifier: str) -> common_pb2.Event:
    return page_view(common_pb2.SubjectRef(namespace=namespace, id=identifier))


def with_time(at: datetime) -> common_pb2.Event:
    return page_view(GOOD, at)


def with_type(event_type: str) -> common_pb2.Event:
    event = page_view(GOOD)
    event.type = event_type
    return event


def without_time() -> common_pb2.Event:
    event = page_view(GOOD)
    event.ClearField("occurred_at")
    return event


CASES: list[tuple[str, Callable[[], common_pb2.Event], str, str]] = [
    ("unknown namespace", lambda: with_subject("passport", "X123"), "subject.namespace", "unknown"),
    ("empty identifier", lambda: with_subject("email", ""), "subject.id", "empty"),
    ("blank identifier", lambda: with_subject("email", "   "), "subject.id", "empty"),
    (
        "identifier over 256 bytes",
        lambda: with_subject("customer_id", "é" * 129),
        "subject.id",
        "258 bytes",
    ),
    ("empty event type", lambda: with_type(""), "type", "empty"),
    ("unknown event type", lambda: with_type("mouse_moved"), "type", "unknown event type"),
    ("missing occurred_at", without_time, "occurred_at", "required"),
    (
        "occurred_at over 5 minutes ahead",
        lambda: with_time(T0 + timedelta(minutes=5, seconds=1)),
        "occurred_at",
        "future",
    ),
    (
        "occurred_at before 2000",
        lambda: with_time(datetime(1999, 12, 31, 23, 59, tzinfo=UTC)),
        "occurred_at",
        "2000-01-01",
    ),
]


@pytest.mark.parametrize(
    ("bad_event", "field", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_one_bad_event_refuses_the_whole_batch(
    tactful: Tactful, bad_event: Callable[[], common_pb2.Event], field: str, words: str
) -> None:
    batch = [page_view(email(f"good{i}@example.com")) for i in range(3)] + [bad_event()]
    with pytest.raises(grpc.RpcError) as caught:
        tactful.record("support_triage", *batch)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    found = violations(caught.value)
    assert list(found) == [f"events[3].{field}"]
    assert words in found[f"events[3].{field}"]
    assert stored_rows(tactful) == (0, 0)


def test_edges_that_are_accepted(tactful: Tactful) -> None:
    reply = tactful.record(
        "support_triage",
        with_time(T0 + timedelta(minutes=5)),
        with_time(datetime(2000, 1, 1, tzinfo=UTC)),
        with_subject("customer_id", "x" * 256),
    )
    assert reply.stored == 3


def test_every_violation_is_reported(tactful: Tactful) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        tactful.record("support_triage", with_type(""), with_subject("email", ""), page_view(GOOD))
    assert set(violations(caught.value)) == {"events[0].type", "events[1].subject.id"}


def test_a_bad_subject_is_named_at_every_event_that_carries_it(tactful: Tactful) -> None:
    # Each subject is checked once per batch; its violation is still reported per event.
    bad = with_subject("email", "x\u00b2@example.com")
    with pytest.raises(grpc.RpcError) as caught:
        tactful.record("support_triage", bad, page_view(GOOD), bad)
    assert set(violations(caught.value)) == {"events[0].subject.id", "events[2].subject.id"}


def test_batch_over_1000_events(tactful: Tactful) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        tactful.record("support_triage", *[page_view(GOOD)] * 1001)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "1001" in violations(caught.value)["events"]
    assert stored_rows(tactful) == (0, 0)
    assert tactful.record("support_triage", *[page_view(GOOD)] * 1000).stored == 1000


@pytest.mark.parametrize("purpose", ["", "marketing"])
def test_unknown_or_missing_purpose(tactful: Tactful, purpose: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        tactful.record(purpose, page_view(GOOD))
    assert "purpose" in violations(caught.value)
    with pytest.raises(grpc.RpcError) as read:
        tactful.segments(GOOD, purpose=purpose)
    assert read.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert stored_rows(tactful) == (0, 0)


def test_get_segments_names_the_bad_subject_field(tactful: Tactful) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        tactful.segments(common_pb2.SubjectRef(namespace="email", id=""))
    assert list(violations(caught.value)) == ["subject.id"]


def test_message_over_the_configured_maximum(start_tactful: Callable[..., Tactful]) -> None:
    tactful = start_tactful(max_message_bytes=4096)
    batch = [page_view(email(f"person{i}@example.com")) for i in range(60)]
    assert (
        personalization_pb2.RecordEventsRequest(purpose="support_triage", events=batch).ByteSize()
        > 4096
    )
    with pytest.raises(grpc.RpcError) as caught:
        tactful.record("support_triage", *batch)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "4096" in violations(caught.value)["request"]
    assert stored_rows(tactful) == (0, 0)
    assert tactful.record("support_triage", *batch[:10]).stored == 10


def test_events_are_checked_against_the_server_clock_not_the_clients(tactful: Tactful) -> None:
    tactful.clock.advance(timedelta(hours=-1))
    with pytest.raises(grpc.RpcError) as caught:
        tactful.record("support_triage", page_view(GOOD, T0))
    assert "3600 s in the future" in violations(caught.value)["events[0].occurred_at"]


# -- timestamps that are no point in time ---------------------------------------------------


def with_timestamp_attribute(seconds: int, nanos: int = 0) -> common_pb2.Event:
    event = page_view(GOOD)
    event.attributes["when"].timestamp_value.seconds = seconds
    event.attributes["when"].timestamp_value.nanos = nanos
    return event


def with_occurred_at(seconds: int, nanos: int) -> common_pb2.Event:
    event = page_view(GOOD)
    event.occurred_at.seconds = seconds
    event.occurred_at.nanos = nanos
    return event


MALFORMED_TIMES: list[tuple[str, Callable[[], common_pb2.Event], str, str]] = [
    (
        "attribute beyond year 9999",
        lambda: with_timestamp_attribute(10**12),
        "attributes.when",
        "years 1 and 9999",
    ),
    (
        "attribute before year 1",
        lambda: with_timestamp_attribute(-(10**12)),
        "attributes.when",
        "years 1 and 9999",
    ),
    ("attribute nanos -1", lambda: with_timestamp_attribute(0, -1), "attributes.when", "nanos"),
    (
        "occurred_at nanos -1",
        lambda: with_occurred_at(int(T0.timestamp()), -1),
        "occurred_at",
        "nanos is -1",
    ),
    (
        "occurred_at nanos a whole second",
        lambda: with_occurred_at(int(T0.timestamp()), 10**9),
        "occurred_at",
        "nanos is 1000000000",
    ),
    ("occurred_at beyond year 9999", lambda: with_occurred_at(10**12, 0), "occurred_at", "9999"),
]


@pytest.mark.parametrize(
    ("bad_event", "field", "words"),
    [c[1:] for c in MALFORMED_TIMES],
    ids=[c[0] for c in MALFORMED_TIMES],
)
@pytest.mark.parametrize(
    ("purpose", "principal"),
    [("support_triage", "support_widget"), ("onboarding", "web_frontend")],
    ids=["undeclared rejected", "undeclared dropped"],
)
def test_a_timestamp_that_is_no_point_in_time_is_invalid_argument(
    tactful: Tactful,
    bad_event: Callable[[], common_pb2.Event],
    field: str,
    words: str,
    purpose: str,
    principal: str,
) -> None:
    # `when` is declared nowhere: under onboarding it would be dropped, yet a value that
    # is no timestamp at all is still refused, by field, and never an INTERNAL error.
    if purpose == "onboarding":
        tactful.consent(GOOD, purpose)
    with pytest.raises(grpc.RpcError) as caught:
        tactful.record(purpose, page_view(GOOD), bad_event(), principal=principal)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    found = violations(caught.value)
    assert words in found[f"events[1].{field}"]
    assert stored_rows(tactful) == (0, 0)


# -- many violations, long client text: the status still reaches the client ------------------


def bad_request_of(error: grpc.RpcError) -> list[tuple[str, str]]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "no google.rpc.Status in the trailers"
    (detail,) = status.details
    bad_request = error_details_pb2.BadRequest()
    assert detail.Unpack(bad_request)
    return [(v.field, v.description) for v in bad_request.field_violations]


def test_a_thousand_bad_events_get_invalid_argument_with_the_first_twenty(
    tactful: Tactful,
) -> None:
    long = "x" * 300
    events = []
    for i in range(1000):
        event = with_type(f"{long}{i}")
        event.subject.namespace = long
        event.attributes[long].string_value = long
        events.append(event)
    with pytest.raises(grpc.RpcError) as caught:
        tactful.record("support_triage", *events)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    listed = bad_request_of(caught.value)
    assert len(listed) == 21
    assert listed[-1] == ("", "and 1980 more")  # two violations an event
    assert listed[0][0] == "events[0].subject.namespace"
    for field, description in listed:
        assert len(field) <= 96 and len(description) <= 160
        assert long not in description
    assert len(caught.value.details()) <= 300
    assert long not in caught.value.details()
    assert stored_rows(tactful) == (0, 0)
    # The access record names 20 of the fields too, not 2,000.
    from tests.api.test_access_log_service import query

    (record,) = [r for r in query(tactful) if r.method.endswith("/RecordEvents")]
    assert record.reason.startswith("invalid request: events[0].subject.namespace")
    assert record.reason.endswith(", and 1980 more") and len(record.reason) < 1000


def test_two_thousand_long_unknown_signal_names_get_invalid_argument(tactful: Tactful) -> None:
    names = [f"{'n' * 200}{i}" for i in range(2000)]
    with pytest.raises(grpc.RpcError) as caught:
        tactful.signals(GOOD, "support_triage", *names)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    listed = bad_request_of(caught.value)
    assert [field for field, _ in listed] == [f"names[{i}]" for i in range(20)] + [""]
    assert listed[-1][1] == "and 1980 more"
    assert all(names[0] not in description for _, description in listed)


def test_every_bad_field_of_a_batch_is_listed_in_the_details_and_the_message(
    tactful: Tactful,
) -> None:
    undeclared = page_view(GOOD)
    undeclared.attributes["colour"].string_value = "red"
    mistyped = page_view(GOOD)
    mistyped.attributes["path"].int_value = 3
    both = with_subject("email", "")
    both.type = "mouse_moved"
    with pytest.raises(grpc.RpcError) as caught:
        tactful.record("support_triage", undeclared, mistyped, both)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    fields = [field for field, _ in bad_request_of(caught.value)]
    assert fields == [
        "events[0].attributes.colour",
        "events[1].attributes.path",
        "events[2].subject.id",
        "events[2].type",
    ]
    assert caught.value.details().endswith("(and 1 more)")  # three named, the rest counted
    assert stored_rows(tactful) == (0, 0)


def test_an_undeclared_purpose_does_not_hide_the_events_problems(tactful: Tactful) -> None:
    bad = with_subject("email", "")
    bad.type = "mouse_moved"
    with pytest.raises(grpc.RpcError) as caught:
        tactful.record("suport_triage", page_view(GOOD), bad)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    found = violations(caught.value)
    assert list(found) == ["purpose", "events[1].subject.id", "events[1].type"]
    assert stored_rows(tactful) == (0, 0)


@pytest.mark.parametrize(
    ("method", "request_", "fields"),
    [
        (
            "GetSegments",
            personalization_pb2.GetSegmentsRequest(subject=email(""), purpose="suport_triage"),
            {"subject.id", "purpose"},
        ),
        (
            "GetSignals",
            personalization_pb2.GetSignalsRequest(
                subject=email(""), purpose="suport_triage", names=["intent"]
            ),
            {"subject.id", "purpose"},
        ),
        (
            "NextAction",
            journeys_pb2.NextActionRequest(
                subject=email(""), journey="suport_triage", previous={"result": 99}
            ),
            {"previous.result", "subject.id", "journey"},
        ),
        (
            "RecordOutcome",
            journeys_pb2.RecordOutcomeRequest(
                subject=email(""), journey="suport_triage", decision_id="d", agent_verdict=77
            ),
            {"report.agent_verdict", "subject.id", "journey"},
        ),
    ],
)
def test_a_request_with_several_bad_fields_hears_of_each(
    tactful: Tactful, method: str, request_: Message, fields: set[str]
) -> None:
    stub: Any = (
        journeys_pb2_grpc.JourneysStub(tactful.channel)
        if method in ("NextAction", "RecordOutcome")
        else tactful.personalization
    )
    with pytest.raises(grpc.RpcError) as caught:
        getattr(stub, method)(request_, metadata=bearer("support_widget"), timeout=10)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(caught.value)) == fields


def test_a_misspelt_purpose_gets_did_you_mean_and_the_same_record(tactful: Tactful) -> None:
    from tests.api.test_access_log_service import query

    with pytest.raises(grpc.RpcError) as caught:
        tactful.segments(GOOD, purpose="suport_triage")
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violations(caught.value) == {
        "purpose": "purpose 'suport_triage' is not declared; did you mean 'support_triage'?"
    }
    # A purpose the caller may not claim is never suggested (onboarding is
    # web_frontend's), nor one far from what was sent.
    for sent in ("onboardin", "marketing"):
        with pytest.raises(grpc.RpcError) as other:
            tactful.segments(GOOD, purpose=sent)
        assert violations(other.value) == {"purpose": f"purpose {sent!r} is not declared"}
    records = [r for r in query(tactful) if r.method.endswith("/GetSegments")]
    assert [r.reason for r in records] == ["invalid request: purpose"] * 3
    assert [r.status for r in records] == ["INVALID_ARGUMENT"] * 3


def test_a_batch_too_large_is_not_checked_event_by_event(tactful: Tactful) -> None:
    # Refused for its size whatever else is wrong: the server does not walk a batch
    # that must be split anyway, and says both.
    with pytest.raises(grpc.RpcError) as caught:
        tactful.record("suport_triage", *[with_subject("email", "")] * 1001)
    assert set(violations(caught.value)) == {"purpose", "events"}
    assert "1001 events" in violations(caught.value)["events"]
