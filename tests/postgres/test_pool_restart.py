"""PostgreSQL restarted while Tactful idles: the first call after the database is back
succeeds, and every one after it, on each method. Before, each idle pooled connection
answered its first use with UNAVAILABLE "internal error", minutes later."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from tactful.app import stores
from tactful.storage.postgres.connection import Database
from tactful.v1 import (
    access_log_pb2,
    access_log_pb2_grpc,
    insights_pb2,
    insights_pb2_grpc,
    subjects_pb2,
    subjects_pb2_grpc,
)
from tests.conftest import Tactful, bearer, email, make_settings, page_view
from tests.postgres_cluster import fresh_database, shared_cluster, throwaway_cluster

pytest.importorskip("psycopg")

ADA = email("ada@example.com")


def _calls(tactful: Tactful) -> dict[str, Callable[[], object]]:
    """One call of each method that reads or writes a store."""
    access_log = access_log_pb2_grpc.AccessLogStub(tactful.channel)
    subjects = subjects_pb2_grpc.SubjectsStub(tactful.channel)
    insights = insights_pb2_grpc.InsightsStub(tactful.channel)
    return {
        "SetConsent": lambda: tactful.consent(ADA, "onboarding"),
        "RecordEvents": lambda: tactful.record("support_triage", page_view(ADA)),
        "GetSegments": lambda: tactful.segments(ADA),
        "GetSignals": lambda: tactful.signals(ADA, "support_triage", "failed_logins_1h"),
        "QueryAccessLog": lambda: access_log.QueryAccessLog(
            access_log_pb2.QueryAccessLogRequest(page_size=5),
            metadata=bearer("compliance_officer"),
            timeout=10,
        ),  # fmt: skip
        "VerifyAccessLog": lambda: access_log.VerifyAccessLog(
            access_log_pb2.VerifyAccessLogRequest(),
            metadata=bearer("compliance_officer"),
            timeout=10,
        ),  # fmt: skip
        "ExportSubject": lambda: subjects.ExportSubject(
            subjects_pb2.ExportSubjectRequest(subject=ADA),
            metadata=bearer("privacy_ops"),
            timeout=10,
        ),  # fmt: skip
        "GetSegmentSizes": lambda: insights.GetSegmentSizes(
            insights_pb2.GetSegmentSizesRequest(purpose="analytics", epsilon=0.01),
            metadata=bearer("analyst"),
            timeout=10,
        ),  # fmt: skip
    }


def test_every_call_after_postgresql_restarts_succeeds_the_first_time(
    start_tactful: Callable[..., Tactful], tmp_path: Path
) -> None:
    with throwaway_cluster() as cluster:
        behavior, vault = fresh_database(cluster, "behavior"), fresh_database(cluster, "vault")
        stores.migrate(make_settings(tmp_path / "migrate", storage_url=behavior, vault_url=vault))
        tactful = start_tactful(storage_url=behavior, vault_url=vault)
        calls = _calls(tactful)
        # Concurrent calls open several connections in each pool; they then sit idle.
        with ThreadPoolExecutor(max_workers=12) as pool:
            for done in [pool.submit(call) for call in list(calls.values()) * 12]:
                done.result()

        cluster.stop("immediate")
        cluster.start()

        failed = []
        for round_ in range(4):  # each round takes the next idle connection of each pool
            for name, call in calls.items():
                try:
                    call()
                except grpc.RpcError as error:
                    failed.append((round_, name, error.code().name, error.details()))
        tactful.stop()  # while its database is there (after, the stop waits on timeouts)
        assert failed == []


def test_a_connection_numbered_past_1024_is_lent_as_working() -> None:
    # select() refuses descriptors of 1024 and up, which a busy server's connections
    # reach; the idle check must not take such a connection for a broken one.
    resource = pytest.importorskip("resource")
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1100:
        pytest.skip(f"the open-files limit ({soft}) keeps descriptors under 1100")
    url = fresh_database(shared_cluster(), "fds")  # nothing stops it: the shared one does
    filler = [os.open(os.devnull, os.O_RDONLY) for _ in range(1030)]
    try:
        database = Database(url, size=1)
        try:
            with database.transaction() as conn:
                assert conn.fileno() >= 1024
                assert conn.execute("SELECT 1").fetchone() == (1,)
        finally:
            database.close()
    finally:
        for fd in filler:
            os.close(fd)
