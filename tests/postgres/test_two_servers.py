"""Two `tactful serve` processes on one PostgreSQL database keep the guarantees of one:
consent and erasure through one take effect on the next call through the other, a
batch never interleaves with a withdrawal, the privacy budget is never overdrawn,
and every call leaves one record in an access log that verifies."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from tactful.app.domain import open_domain
from tactful.v1 import (
    insights_pb2,
    insights_pb2_grpc,
    personalization_pb2,
    personalization_pb2_grpc,
    subjects_pb2,
    subjects_pb2_grpc,
)
from tests.conftest import bearer, email, page_view
from tests.postgres.servers import Server, settings_of, write_config
from tests.postgres_cluster import fresh_database, shared_cluster

pytest.importorskip("psycopg")

FRONTEND = "web_frontend"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server, Path]]:
    cluster = shared_cluster()
    root = tmp_path_factory.mktemp("two-servers")
    behavior, vault = fresh_database(cluster, "behavior"), fresh_database(cluster, "vault")
    keyring = root / "keyring.json"
    configs = [write_config(root / name, behavior, vault, keyring=keyring) for name in ("a", "b")]
    from tactful.app import stores

    stores.migrate(settings_of(configs[0]))  # as `tactful db migrate` does
    a, b = Server(configs[0]), Server(configs[1])
    try:
        yield a, b, configs[0]
    finally:
        a.stop()
        b.stop()


def _now() -> datetime:
    return datetime.now(UTC)


def record(server: Server, who: str, purpose: str = "onboarding", n: int = 1) -> int:
    stub = personalization_pb2_grpc.PersonalizationStub(server.channel)
    events = [page_view(email(who), _now() - timedelta(seconds=1), f"/p{i}") for i in range(n)]
    request = personalization_pb2.RecordEventsRequest(purpose=purpose, events=events)
    principal = FRONTEND if purpose == "onboarding" else "support_widget"
    return int(stub.RecordEvents(request, metadata=bearer(principal), timeout=30).stored)


def consent(server: Server, who: str, granted: bool) -> None:
    stub = personalization_pb2_grpc.PersonalizationStub(server.channel)
    request = personalization_pb2.SetConsentRequest(
        subject=email(who), purpose="onboarding", granted=granted, source="tests/two-servers"
    )
    stub.SetConsent(request, metadata=bearer(FRONTEND), timeout=30)


def segments(server: Server, who: str) -> grpc.StatusCode:
    stub = personalization_pb2_grpc.PersonalizationStub(server.channel)
    request = personalization_pb2.GetSegmentsRequest(subject=email(who), purpose="onboarding")
    try:
        stub.GetSegments(request, metadata=bearer(FRONTEND), timeout=30)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def stored_events(config: Path, who: str, purpose: str | None = None) -> int:
    domain = open_domain(settings_of(config))
    try:
        pseudonyms = tuple(domain.pseudonymizer.resolve("email", who))
        rows = domain.subject_data.events_of(pseudonyms)
        return len([r for r in rows if purpose is None or r.purpose == purpose])
    finally:
        domain.close()


def test_a_withdrawal_through_one_server_holds_on_the_next_call_through_the_other(
    pair: tuple[Server, Server, Path],
) -> None:
    a, b, config = pair
    assert "data in PostgreSQL: " in a.banner and "dbname=behavior_" in a.banner
    consent(a, "ada@example.com", True)
    assert record(b, "ada@example.com") == 1
    assert segments(b, "ada@example.com") is grpc.StatusCode.OK
    consent(a, "ada@example.com", False)
    assert segments(b, "ada@example.com") is grpc.StatusCode.FAILED_PRECONDITION
    assert record(b, "ada@example.com") == 0
    assert stored_events(config, "ada@example.com", "onboarding") == 0


def test_an_erasure_with_suppression_through_one_holds_on_the_next_batch_through_the_other(
    pair: tuple[Server, Server, Path],
) -> None:
    a, b, config = pair
    assert record(b, "bob@example.com", "support_triage") == 1
    stub = subjects_pb2_grpc.SubjectsStub(a.channel)
    request = subjects_pb2.EraseSubjectRequest(subject=email("bob@example.com"), suppress=True)
    stub.EraseSubject(request, metadata=bearer("privacy_ops"), timeout=30)
    assert record(b, "bob@example.com", "support_triage") == 0
    assert stored_events(config, "bob@example.com") == 0


def test_batches_through_both_never_interleave_with_a_withdrawal(
    pair: tuple[Server, Server, Path],
) -> None:
    a, b, config = pair
    who = "cleo@example.com"
    consent(a, who, True)
    withdrawn = threading.Event()
    after: list[int] = []  # what batches begun after the withdrawal returned stored

    def ingest(server: Server) -> None:
        for _ in range(40):  # bounded
            began_after = withdrawn.is_set()
            stored = record(server, who, n=5)
            if began_after:
                after.append(stored)

    threads = [threading.Thread(target=ingest, args=(s,)) for s in (a, b, a, b)]
    for t in threads:
        t.start()
    threading.Event().wait(0.2)
    consent(b, who, False)
    withdrawn.set()
    for t in threads:
        t.join(timeout=120)
    assert after and all(n == 0 for n in after)
    # Nothing stored before the withdrawal survived it, nothing after it got in.
    assert stored_events(config, who, "onboarding") == 0


def test_the_budget_is_never_overdrawn_through_two_servers(
    pair: tuple[Server, Server, Path],
) -> None:
    a, b, config = pair
    granted: list[bool] = []
    lock = threading.Lock()

    def release(server: Server) -> None:
        stub = insights_pb2_grpc.InsightsStub(server.channel)
        request = insights_pb2.GetSegmentSizesRequest(purpose="analytics", epsilon=0.1)
        for _ in range(8):
            try:
                stub.GetSegmentSizes(request, metadata=bearer("analyst"), timeout=30)
                ok = True
            except grpc.RpcError as exc:
                assert exc.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, exc
                ok = False
            with lock:
                granted.append(ok)

    threads = [threading.Thread(target=release, args=(s,)) for s in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    domain = open_domain(settings_of(config))
    try:
        spent = domain.budget_ledger.spent("analyst")
    finally:
        domain.close()
    assert sum(granted) == 10  # a budget of 1.0 in releases of 0.1, from 32 attempts
    assert spent == pytest.approx(1.0) and spent <= 1.0 + 1e-9


def test_every_call_through_either_server_is_one_record_and_the_log_verifies(
    pair: tuple[Server, Server, Path],
) -> None:
    a, b, config = pair
    from tactful.privacy.access_log import AccessQuery

    about = AccessQuery(method="tactful.v1.Personalization/RecordEvents", subjects=())

    def recorded() -> list[int]:
        domain = open_domain(settings_of(config))
        try:
            found = domain.access_log.query(about, limit=1_000_000)
            assert domain.access_log.verify().intact
            return [r.sequence for r in found]
        finally:
            domain.close()

    before = recorded()
    for server in (a, b, a, b, a):
        record(server, "dora@example.com", "support_triage")
    after = recorded()
    assert len(after) - len(before) == 5
    assert len(set(after)) == len(after)  # one sequence each, across both servers' chains
