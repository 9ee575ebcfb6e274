"""End to end over a real channel: record events, read segments, auth, health."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tactful.v1 import (
    common_pb2,
    personalization_pb2,
)
from tests.conftest import T0, Tactful, email, page_view, timestamp


def test_new_visitor_then_returning_after_24_hours(tactful: Tactful) -> None:
    ada = email("ada@example.com")
    reply = tactful.record(
        "support_triage", page_view(ada), page_view(ada, T0 - timedelta(minutes=2))
    )
    assert reply.stored == 2
    assert tactful.segments(ada) == ["new_visitor"]

    tactful.clock.advance(timedelta(hours=24, minutes=-2))
    assert tactful.segments(ada) == ["new_visitor"]  # first seen 23:58 + 2 min ago: exactly 24 h
    tactful.clock.advance(timedelta(seconds=1))
    assert tactful.segments(ada) == ["returning_visitor"]


def test_identifier_is_normalized_before_pseudonymizing(tactful: Tactful) -> None:
    tactful.record("support_triage", page_view(email("  Grace.Hopper@Example.COM ")))
    assert tactful.segments(email("grace.hopper@example.com")) == ["new_visitor"]


def test_unknown_subject_has_no_segments(tactful: Tactful) -> None:
    assert tactful.segments(email("nobody@example.com")) == []


def test_only_segments_the_purpose_releases(tactful: Tactful) -> None:
    ada = email("ada@example.com")
    login = common_pb2.Event(subject=ada, type="login_succeeded", occurred_at=timestamp(T0))
    tactful.record("account_retention", login, principal="web_frontend")
    # account_retention releases returning_visitor only; a new visitor shows nothing.
    assert tactful.segments(ada, "account_retention", "web_frontend") == []
    tactful.clock.advance(timedelta(days=2))
    assert tactful.segments(ada, "account_retention", "web_frontend") == ["returning_visitor"]


def test_data_is_read_back_only_for_the_purpose_it_was_collected_for(tactful: Tactful) -> None:
    ada = email("ada@example.com")
    tactful.record("support_triage", page_view(ada))
    assert tactful.segments(ada, "support_triage") == ["new_visitor"]
    agent = "agent_console"
    assert tactful.segments(ada, "agent_assist", agent) == []
    tactful.record("agent_assist", page_view(ada), principal=agent)
    assert tactful.segments(ada, "agent_assist", agent) == ["new_visitor"]


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ((), "missing"),
        ((("authorization", "Basic dXNlcjpwYXNz"),), "Bearer"),
        ((("authorization", "Bearer tf_not-a-real-token"),), "unknown"),
        ((("authorization", "Bearer "),), "Bearer"),
    ],
)
def test_missing_or_unknown_token_is_unauthenticated(
    tactful: Tactful, metadata: tuple[tuple[str, str], ...], message: str
) -> None:
    request = personalization_pb2.GetSegmentsRequest(
        subject=email("a@b.c"), purpose="support_triage"
    )
    with pytest.raises(grpc.RpcError) as caught:
        tactful.personalization.GetSegments(request, metadata=metadata, timeout=5)
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert message in caught.value.details()


def test_unauthenticated_batch_stores_nothing(tactful: Tactful) -> None:
    request = personalization_pb2.RecordEventsRequest(
        purpose="support_triage", events=[page_view(email("ada@example.com"))]
    )
    with pytest.raises(grpc.RpcError) as caught:
        tactful.personalization.RecordEvents(request, timeout=5)
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert tactful.segments(email("ada@example.com")) == []


def test_health_reports_serving_for_every_service(tactful: Tactful) -> None:
    health = health_pb2_grpc.HealthStub(tactful.channel)
    for service in (
        "",
        "tactful.v1.Personalization",
        "tactful.v1.AccessLog",
        "tactful.v1.Subjects",
        "tactful.v1.Insights",
        "tactful.v1.Journeys",
    ):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, service


def test_reflection_lists_the_services(tactful: Tactful) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(tactful.channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (reply,) = list(stub.ServerReflectionInfo(iter([request]), timeout=5))
    names = {s.name for s in reply.list_services_response.service}
    assert {
        "tactful.v1.Personalization",
        "tactful.v1.AccessLog",
        "tactful.v1.Subjects",
        "tactful.v1.Insights",
        "tactful.v1.Journeys",
        "grpc.health.v1.Health",
    } <= names


def test_segments_survive_a_restart(tactful: Tactful) -> None:
    ada = email("ada@example.com")
    tactful.record("support_triage", page_view(ada))
    tactful.restart()
    assert tactful.segments(ada) == ["new_visitor"]
    tactful.clock.advance(timedelta(days=3))
    assert tactful.segments(ada) == ["returning_visitor"]
