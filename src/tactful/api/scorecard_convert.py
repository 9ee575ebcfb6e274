"""GetScorecard's request window and reply, protobuf <-> domain."""

from __future__ import annotations

from datetime import datetime, timedelta

from tactful.api.convert import timestamp_from, timestamp_problem, timestamp_to_us
from tactful.api.edge import MethodResult
from tactful.journeys.scorecard import ReleasedScorecard
from tactful.journeys.scorecard_figures import Estimate
from tactful.privacy.errors import InvalidRequest, Violation
from tactful.timestamps import from_us, to_us
from tactful.v1 import insights_pb2

DEFAULT_WINDOW = timedelta(days=30)
_WINDOW_US = DEFAULT_WINDOW // timedelta(microseconds=1)


def scorecard_window(request: insights_pb2.GetScorecardRequest, now: datetime) -> tuple[int, int]:
    """[since, until) in microseconds: until defaults to now, since to 30 days before."""
    for name in ("since", "until"):
        if request.HasField(name):
            problem = timestamp_problem(getattr(request, name))
            if problem:
                raise InvalidRequest([Violation(name, problem)])
    until_us = timestamp_to_us(request.until) if request.HasField("until") else to_us(now)
    if request.HasField("since"):
        return timestamp_to_us(request.since), until_us
    return until_us - _WINDOW_US, until_us


def scorecard_result(card: ReleasedScorecard, since_us: int, until_us: int) -> MethodResult:
    """The reply, and what the access record says: the journey requested and released,
    under the journey's purpose."""
    reply = scorecard_to_proto(card, since_us, until_us)
    decision = card.decision
    return MethodResult(reply, decision, requested=decision.requested, purpose=card.purpose)


def scorecard_to_proto(
    card: ReleasedScorecard, since_us: int, until_us: int
) -> insights_pb2.GetScorecardResponse:
    return insights_pb2.GetScorecardResponse(
        journey=card.journey,
        success_metric=card.success_metric,
        groups=[
            insights_pb2.ScorecardGroup(
                playbook_version=g.playbook_version,
                arm=g.arm,
                action=g.action,
                noisy_people=g.people,
                withheld=g.withheld,
                figures=[_figure(f) for f in g.figures],
            )
            for g in card.groups
        ],
        uplifts=[
            insights_pb2.ScorecardUplift(
                playbook_version=u.playbook_version,
                figure=u.figure,
                treatment=u.treatment,
                holdout=u.holdout,
                difference=u.difference,
                low=u.low,
                high=u.high,
            )
            for u in card.uplifts
        ],
        statistics=[
            insights_pb2.ReleasedStatistic(
                name=s.name, epsilon=s.epsilon, sensitivity=s.sensitivity, scale=s.scale
            )
            for s in card.statistics
        ],
        min_people=card.min_people,
        since=timestamp_from(from_us(since_us)),
        until=timestamp_from(from_us(until_us)),
        epsilon_spent=card.epsilon_spent,
        epsilon_remaining=card.epsilon_remaining,
    )


def _figure(estimate: Estimate) -> insights_pb2.ScorecardFigure:
    return insights_pb2.ScorecardFigure(
        name=estimate.name, value=estimate.value, low=estimate.low, high=estimate.high
    )
