"""Invariant: a flood of failed calls that rotates its source address writes at most
the global cap of records, and every refused call is counted in the summary record,
whatever engine keeps the access log.

Before, the cap was per address only, and forgot addresses past 10,000: one client
rotating its address had 413 records/s written on SQLite and 257/s on PostgreSQL,
each one fsync'd. The calls go over a real channel to a server on port 0; the server
is told each comes from a new address (peer_host is the one door every call's address
goes through)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tactful.api.edge import RATE_LIMITED_METHOD
from tactful.api.server import create_server
from tactful.app.limits import FailureLimits
from tactful.v1 import personalization_pb2
from tests.api.test_access_log_service import query as records
from tests.conftest import DEFAULT_PRINCIPAL, Clock, ServerThread, Tactful, bearer, email
from tests.storage.engines import Engine

CALLS = 120
CAP = 25  # failed calls recorded one by one, from every address together
# Each address may fail 5 times on its own: one failure each never meets that cap.
LIMITS = FailureLimits(
    per_minute=0.001, burst=5, summary_s=3600, global_per_minute=0.001, global_burst=CAP
)
ANONYMOUS_CALL = personalization_pb2.GetSegmentsRequest(
    subject=email("ada@example.com"), purpose="support_triage"
)


@pytest.fixture
def tactful(engine: Engine, tmp_path: Path) -> Iterator[Tactful]:
    settings = engine.settings(tmp_path / "data", failure_limits=LIMITS)
    thread, clock = ServerThread(), Clock()
    running = thread.run(create_server(settings, clock=clock))
    target = f"127.0.0.1:{running.port}"
    channel = grpc.insecure_channel(target)
    tactful = Tactful(settings, clock, target, channel, bearer(DEFAULT_PRINCIPAL), thread, running)
    yield tactful
    tactful.stop()
    thread.close()


def code_of_anonymous_call(tactful: Tactful) -> grpc.StatusCode:
    try:
        tactful.personalization.GetSegments(ANONYMOUS_CALL, timeout=10)
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def test_a_flood_from_rotating_addresses_writes_the_global_cap_and_one_summary(
    tactful: Tactful, monkeypatch: pytest.MonkeyPatch
) -> None:
    addresses = (f"ipv4:10.1.{i // 256}.{i % 256}" for i in itertools.count())
    monkeypatch.setattr("tactful.api.edge.peer_host", lambda peer: next(addresses))

    codes = [code_of_anonymous_call(tactful) for _ in range(CALLS)]

    refused = CALLS - CAP
    assert (
        codes
        == [grpc.StatusCode.UNAUTHENTICATED] * CAP + [grpc.StatusCode.RESOURCE_EXHAUSTED] * refused
    )
    # Callers with a valid token are served all the while (their address rotates too).
    assert tactful.segments(email("ada@example.com")) is not None
    written = records(tactful)
    assert [r.status for r in written].count("UNAUTHENTICATED") == CAP

    tactful.restart()  # stopping writes the open window's summary
    (summary,) = [r for r in records(tactful) if r.method == RATE_LIMITED_METHOD]
    limited = json.loads(summary.reason)["rate_limited"]
    assert limited["refused"] == refused  # with the records, every call: CAP + refused
    assert limited["sources"] == refused and limited["from_untracked_sources"] == 0
    assert len(limited["top_sources"]) == 20
    assert limited["would_have_been"] == {"UNAUTHENTICATED": refused}
    assert limited["methods"] == {"tactful.v1.Personalization/GetSegments": refused}
