"""Journeys.NextAction with the whole service on PostgreSQL, as on SQLite
(tests/api/test_journeys.py): a decision, a refusal remembered across servers, the
decision's access record."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from tactful.app import stores
from tactful.v1 import journeys_pb2
from tests.api.test_access_log_service import pseudonym_of, query
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
from tests.conftest import Tactful, make_settings
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
