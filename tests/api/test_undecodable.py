"""Bytes that are no request message: INVALID_ARGUMENT and exactly one access record.

Before, gRPC answered `UNKNOWN "Unexpected <class DecodeError>"` and nothing was
recorded (30 such calls added 0 records)."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tactful.api.server import SERVICE_NAMES
from tests.api.test_access_log_service import query as records
from tests.conftest import Tactful, bearer

GARBAGE = b"\xff\xff\xff\xff"


def raw_call(tactful: Tactful, method: str, payload: bytes, principal: str | None) -> grpc.RpcError:
    call = tactful.channel.unary_unary(f"/{method}")  # bytes in, bytes out
    with pytest.raises(grpc.RpcError) as failed:
        call(payload, metadata=bearer(principal) if principal else (), timeout=10)
    return failed.value


@pytest.mark.parametrize("principal", ["support_widget", None], ids=["token", "no_token"])
def test_undecodable_bytes_get_invalid_argument_and_one_record(
    tactful: Tactful, principal: str | None
) -> None:
    for _ in range(30):
        error = raw_call(tactful, "tactful.v1.Personalization/GetSegments", GARBAGE, principal)
        expected = (
            grpc.StatusCode.INVALID_ARGUMENT if principal else grpc.StatusCode.UNAUTHENTICATED
        )
        assert error.code() is expected, error.details()
    if principal:
        assert error.details() == (
            "request: the bytes are not a tactful.v1.GetSegmentsRequest message"
        )
    found = [r for r in records(tactful) if r.method.endswith("/GetSegments")]
    assert len(found) == 30
    assert {r.principal for r in found} == {principal or "anonymous"}
    assert {r.status for r in found} == {expected.name}
    assert {r.decision for r in found} == {"denied"}
    if principal:
        assert {r.reason for r in found} == {"invalid request: request"}


def test_every_method_of_every_service_decodes_tolerantly(tactful: Tactful) -> None:
    """The tolerant deserializer is installed on every Tactful method, not just one."""
    from google.protobuf import descriptor_pool

    methods = [
        f"{service}/{m.name}"
        for service in SERVICE_NAMES
        for m in descriptor_pool.Default().FindServiceByName(service).methods
    ]
    assert len(methods) == 13
    for method in methods:
        error = raw_call(tactful, method, GARBAGE, "privacy_ops")
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, method
    recorded = [r.method for r in records(tactful)]
    assert sorted(recorded[: len(methods)]) == sorted(methods)


def test_health_is_not_affected(tactful: Tactful) -> None:
    reply = health_pb2_grpc.HealthStub(tactful.channel).Check(
        health_pb2.HealthCheckRequest(), timeout=5
    )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
