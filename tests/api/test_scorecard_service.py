"""Insights.GetScorecard over a real channel: the figures, the DP parameters in the reply,
the budget it shares with GetSegmentSizes, refusals and the access record.

The decisions the server scores are put where it reads them (the SQLite outcome
store's `scored`), so that hundreds of people in each arm need no hundreds of calls;
tests/journeys/test_scorecard_end_to_end.py records through NextAction and
RecordOutcome."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest

from tactful.journeys.outcomes import OutcomeReport, ScoredDecision
from tactful.storage.sqlite.journey_outcomes import SqliteJourneyOutcomes
from tactful.timestamps import to_us
from tactful.v1 import access_log_pb2, access_log_pb2_grpc, insights_pb2, insights_pb2_grpc
from tests.conftest import Tactful, bearer

JOURNEY = "support_triage"
METHOD = "tactful.v1.Insights/GetScorecard"
ARMS = ["treatment", "journey_holdout", "global_holdout"]


def scorecard(
    tactful: Tactful, epsilon: float, principal: str = "analyst", journey: str = JOURNEY
) -> insights_pb2.GetScorecardResponse:
    request = insights_pb2.GetScorecardRequest(journey=journey, epsilon=epsilon)
    stub = insights_pb2_grpc.InsightsStub(tactful.channel)
    return stub.GetScorecard(request, metadata=bearer(principal), timeout=30)


def refusal(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


@pytest.fixture
def decisions(monkeypatch: pytest.MonkeyPatch, tactful: Tactful) -> list[ScoredDecision]:
    """What the server's scored source returns, in its window."""
    rows: list[ScoredDecision] = []

    def scored(self: object, journey: str, since_us: int, until_us: int) -> list[ScoredDecision]:
        return [r for r in rows if since_us <= r.decided_at_us < until_us]

    monkeypatch.setattr(SqliteJourneyOutcomes, "scored", scored)
    monkeypatch.delattr(SqliteJourneyOutcomes, "tallied")  # tally those rows
    return rows


def people(rows: list[ScoredDecision], at_us: int, n: int, arm: str, resolved: bool) -> None:
    start = len(rows)
    report = OutcomeReport(resolved=resolved, effort=2)
    rows += [
        ScoredDecision(f"p{i}", 1, arm, "kb_article", "none", at_us, report)
        for i in range(start, start + n)
    ]


def test_analyst_gets_the_scorecard_with_its_privacy_parameters(
    start_tactful: Callable[..., Tactful], monkeypatch: pytest.MonkeyPatch
) -> None:
    tactful = start_tactful(insights_budget=25.0)
    rows: list[ScoredDecision] = []
    monkeypatch.setattr(SqliteJourneyOutcomes, "scored", lambda self, j, s, u: rows)
    monkeypatch.delattr(SqliteJourneyOutcomes, "tallied")  # tally those rows
    now_us = to_us(tactful.clock.now)
    people(rows, now_us - 1, 300, "treatment", resolved=True)
    people(rows, now_us - 1, 100, "treatment", resolved=False)
    people(rows, now_us - 1, 200, "global_holdout", resolved=True)
    people(rows, now_us - 1, 200, "global_holdout", resolved=False)

    reply = scorecard(tactful, 10.0)

    assert (reply.journey, reply.success_metric) == (JOURNEY, "first_contact_resolution")
    assert (reply.epsilon_spent, reply.epsilon_remaining) == (10.0, 15.0)
    assert sum(s.epsilon for s in reply.statistics) == pytest.approx(10.0)
    people_stat = next(s for s in reply.statistics if s.name == "people")
    assert people_stat.sensitivity == 1
    assert people_stat.scale == pytest.approx(1 / people_stat.epsilon)
    whole = {g.arm: g for g in reply.groups if g.action == ""}
    assert sorted(whole) == sorted(ARMS)
    assert abs(whole["treatment"].noisy_people - 400) < 60  # 8 cells at scale ~0.9 each
    assert whole["journey_holdout"].withheld and not whole["treatment"].withheld
    fcr = next(f for f in whole["treatment"].figures if f.name == "first_contact_resolution")
    assert fcr.HasField("value") and fcr.low <= fcr.value <= fcr.high
    assert abs(fcr.value - 0.75) < 0.15
    uplift = next(u for u in reply.uplifts if u.figure == "success:first_contact_resolution")
    assert abs(uplift.difference - 0.25) < 0.2 and uplift.low < uplift.difference < uplift.high
    assert reply.until.ToMicroseconds() - reply.since.ToMicroseconds() == 30 * 86_400_000_000


def test_a_scorecard_beyond_the_budget_is_refused_and_spends_nothing(
    tactful: Tactful, decisions: list[ScoredDecision]
) -> None:
    assert scorecard(tactful, 0.75).epsilon_remaining == pytest.approx(0.25)
    error = refusal(lambda: scorecard(tactful, 0.5))
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "epsilon remaining 0.25" in error.details()
    assert scorecard(tactful, 0.25).epsilon_remaining == 0.0


def test_who_may_read_it_and_what_is_refused_before_spending(
    tactful: Tactful, decisions: list[ScoredDecision]
) -> None:
    assert scorecard(tactful, 0.1, principal="compliance_officer").epsilon_spent == 0.1
    denied = refusal(lambda: scorecard(tactful, 0.1, principal="web_frontend"))
    assert denied.code() is grpc.StatusCode.PERMISSION_DENIED
    unknown = refusal(lambda: scorecard(tactful, 0.1, journey="nope"))
    assert unknown.code() is grpc.StatusCode.INVALID_ARGUMENT
    too_much = refusal(lambda: scorecard(tactful, 11.0))
    assert too_much.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert scorecard(tactful, 1.0).epsilon_remaining == 0.0  # nothing refused was spent


def test_each_scorecard_is_in_the_access_log_under_the_journey_purpose(
    tactful: Tactful, decisions: list[ScoredDecision]
) -> None:
    scorecard(tactful, 0.5)
    refusal(lambda: scorecard(tactful, 0.75))
    request = access_log_pb2.QueryAccessLogRequest(method=METHOD, page_size=10)
    stub = access_log_pb2_grpc.AccessLogStub(tactful.channel)
    released, refused = stub.QueryAccessLog(
        request, metadata=bearer("compliance_officer"), timeout=10
    ).records
    assert (released.principal, released.role, released.purpose) == (
        "analyst",
        "analyst",
        JOURNEY,
    )
    assert (released.decision, released.status) == ("allowed", "OK")
    assert list(released.requested) == [f"journey:{JOURNEY}"]
    assert "scorecard of support_triage with epsilon 0.5" in released.reason
    assert (refused.decision, refused.status) == ("denied", "RESOURCE_EXHAUSTED")
