"""While another process holds the access log's write lock, the server keeps answering.

Before, the commit ran on the event loop: every call, health checks included, waited
up to 2 s behind the lock."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tactful.api.edge import UNAVAILABLE_MESSAGE
from tactful.v1 import personalization_pb2
from tests.conftest import Tactful, bearer, email

SEGMENTS = personalization_pb2.GetSegmentsRequest(
    subject=email("ada@example.com"), purpose="support_triage"
)


@contextmanager
def write_lock_held(tactful: Tactful) -> Iterator[None]:
    """Another process's writer (a retention job, an erasure from the command line)."""
    other = sqlite3.connect(tactful.settings.data_dir / "access_log.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def health(tactful: Tactful) -> tuple[int, float]:
    started = time.perf_counter()
    reply = health_pb2_grpc.HealthStub(tactful.channel).Check(
        health_pb2.HealthCheckRequest(), timeout=5
    )
    return reply.status, time.perf_counter() - started


def segments(tactful: Tactful) -> tuple[grpc.StatusCode, float]:
    started = time.perf_counter()
    try:
        tactful.personalization.GetSegments(SEGMENTS, metadata=bearer("support_widget"), timeout=10)
    except grpc.RpcError as error:
        assert error.details() == UNAVAILABLE_MESSAGE
        return error.code(), time.perf_counter() - started
    return grpc.StatusCode.OK, time.perf_counter() - started


def test_health_answers_at_once_and_calls_fail_within_the_bound(
    start_tactful: Callable[..., Tactful],
) -> None:
    tactful = start_tactful(record_timeout_ms=400.0)
    assert segments(tactful)[0] is grpc.StatusCode.OK
    with write_lock_held(tactful):
        # A call that cannot be recorded waits at most the bound, then UNAVAILABLE.
        code, took = segments(tactful)
        assert code is grpc.StatusCode.UNAVAILABLE
        assert 0.3 < took < 2.0, took
        # While a second call waits on the lock, health answers at once.
        waiting = tactful.personalization.GetSegments.future(
            SEGMENTS, metadata=bearer("support_widget"), timeout=10
        )
        time.sleep(0.05)  # let it reach the lock
        status, took = health(tactful)
        assert status == health_pb2.HealthCheckResponse.NOT_SERVING
        assert took < 0.2, took
        assert waiting.exception().code() is grpc.StatusCode.UNAVAILABLE
    # The lock is gone: the next call is recorded and the service says SERVING again.
    assert segments(tactful)[0] is grpc.StatusCode.OK
    assert health(tactful)[0] == health_pb2.HealthCheckResponse.SERVING
