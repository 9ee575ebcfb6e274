"""Journeys.NextAction and RecordOutcome with the whole service on PostgreSQL, as on
SQLite (tests/api/test_journeys.py, test_journey_outcomes.py): a decision, a refusal
remembered across servers, the decision's access record; an outcome kept, scored,
exported and erased."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from tactful.app import stores
from tactful.app.domain import open_domain
from tactful.journeys.outcomes import OutcomeReport
from tactful.privacy.keyring import load_keyring
from tactful.v1 import journeys_pb2
from tactful.v1.subjects_pb2 import EraseSubjectRequest
from tactful.v1.subjects_pb2_grpc import SubjectsStub
from tests.api.test_access_log_service import pseudonym_of, query
from tests.api.test_journey_outcomes import BOB, decided, export, record_outcome, refused
from tests.api.test_journey_outcomes import METHOD as OUTCOME_METHOD
from tests.api.test_journeys import (
    ADA,
    CHECKOUT,
    METHOD,
    action_and_rung,
    checkout,
    failed_payment,
    next_action,
    record,
)
from tests.conftest import Tactful, bearer, make_settings, violations
from tests.postgres_cluster import fresh_database, shared_cluster
from tests.test_journeys_tour import check_tour

pytest.importorskip("psycopg")


@pytest.fixture
def on_postgres(start_tactful: Callable[..., Tactful], tmp_path: Path) -> Tactful:
    """A server on a fresh PostgreSQL database."""
    cluster = shared_cluster()
    main, vault = fresh_database(cluster, "behavior"), fresh_database(cluster, "vault")
    stores.migrate(make_settings(tmp_path / "migrate", storage_url=main, vault_url=vault))
    return start_tactful(storage_url=main, vault_url=vault)


def test_a_refusal_is_remembered_in_the_database_and_recorded(on_postgres: Tactful) -> None:
    one = on_postgres
    record(one, checkout(3), failed_payment(2))
    first = next_action(one)
    assert action_and_rung(first) == ("retry_payment", "none")
    one.restart()  # what was offered is in the database, not in the server
    one.clock.advance(timedelta(minutes=11))  # past the retry's cooldown
    after = next_action(one, previous=(first.decision_id, journeys_pb2.OFFER_RESULT_REFUSED))
    assert action_and_rung(after) == ("talk_to_billing", "human")
    assert "refused_before" in after.reasons

    logged = query(one, method=METHOD)
    assert [list(r.released) for r in logged] == [
        [f"decision:{first.decision_id}", "action:retry_payment", "rung:none"],
        [f"decision:{after.decision_id}", "action:talk_to_billing", "rung:human"],
    ]
    for r in logged:
        assert (r.purpose, list(r.subjects)) == (CHECKOUT, [pseudonym_of(one, ADA)])
        assert r.requested[0] == "journey:checkout_recovery"
    assert "processing_error" not in str(logged)


def test_the_six_journeys_end_to_end_on_postgresql(on_postgres: Tactful) -> None:
    check_tour(on_postgres)


def test_an_outcome_is_kept_for_the_decision_scored_exported_and_erased(
    on_postgres: Tactful,
) -> None:
    one = on_postgres
    decision_id = decided(one)
    record_outcome(one, decision_id=decision_id, converted=False, effort=5)
    one.restart()  # kept in the database, not in the server
    record_outcome(one, decision_id=decision_id, converted=True, recovered_amount=42.5)
    error = refused(one, subject=BOB, decision_id=decision_id, converted=True)
    assert list(violations(error)) == ["decision_id"]

    store = stores.open_journey_outcomes(one.settings)
    try:
        [scored] = store.scored(CHECKOUT, 0, 2**62)
    finally:
        store.close()
    assert scored.pseudonym == pseudonym_of(one, ADA)
    assert scored.report == OutcomeReport(converted=True, recovered_amount=42.5, effort=5)
    logged = query(one, method=OUTCOME_METHOD)
    assert [list(r.released) for r in logged if r.status == "OK"] == [
        [f"decision:{decision_id}"]
    ] * 2
    assert "42.5" not in str(logged)
    assert [o["converted"] for o in export(one)["journey_outcomes"]] == [False, True]  # type: ignore[index]

    erased = SubjectsStub(one.channel).EraseSubject(
        EraseSubjectRequest(subject=ADA), metadata=bearer("privacy_ops"), timeout=10
    )
    assert erased.deleted["behavior.journey_outcomes"] == 2
    assert export(one)["journey_outcomes"] == []


def test_servers_on_shared_stores_upgrading_their_own_keyring_copies_agree_on_holdouts(
    tmp_path: Path,
) -> None:
    """Each host reads its own copy of the keyring: the holdout key each server adds to
    its copy of a keyring from before it is the same, or one person would be in
    different arms on different servers."""
    cluster = shared_cluster()
    main, vault = fresh_database(cluster, "behavior"), fresh_database(cluster, "vault")
    settings = make_settings(tmp_path / "a", storage_url=main, vault_url=vault)
    stores.migrate(settings)
    document = json.loads(settings.keyring_path.read_text())
    del document["keysets"]["holdout"]  # a keyring from before the holdout key
    hosts = []
    for host in ("a", "b"):
        copy = tmp_path / f"keyring-{host}.json"
        copy.write_text(json.dumps(document))
        copy.chmod(0o600)
        hosts.append(replace(settings, keyring=copy))
    for host_settings in hosts:
        open_domain(host_settings).close()  # a server starting on this host
    first, second = (load_keyring(h.keyring_path).holdout for h in hosts)
    assert first is not None and first == second
