"""A journey proved end to end on a real server: decisions through NextAction with a
global holdout, outcomes through RecordOutcome, the scorecard through GetScorecard,
and the uplift of treatment over holdout seen through the noise (the largest epsilon
one release may spend)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from tactful.v1 import insights_pb2, insights_pb2_grpc, journeys_pb2
from tests.api.test_journey_outcomes import record_outcome
from tests.api.test_journeys import minutes_ago, next_action, record
from tests.api.test_signals import event
from tests.conftest import EXAMPLE_PLAYBOOKS, Tactful, bearer, email, write_contract

CONTRACT = Path(__file__).parents[2] / "examples" / "contract.toml"


def test_treatment_recovers_more_than_the_holdout_and_the_scorecard_says_so(
    start_tactful: Callable[..., Tactful], tmp_path: Path
) -> None:
    text = re.sub(r"\[holdout\]\nshare = 0.0", "[holdout]\nshare = 0.5", CONTRACT.read_text())
    assert "share = 0.5" in text and EXAMPLE_PLAYBOOKS.is_dir()
    tactful = start_tactful(
        contract=write_contract(tmp_path / "contract.toml", text), insights_budget=100.0
    )
    arms = {"treatment": 0, "global_holdout": 0}
    for i in range(160):
        person = email(f"person-{i}@example.com")
        record(
            tactful,
            event("checkout_started", minutes_ago(3), person, value=42.0),
            event("payment_failed", minutes_ago(2), person, error_code="processing_error"),
        )
        decided = next_action(tactful, person)
        arms[decided.arm] += 1
        # The truth: treatment recovers 500 for 90 % of people, the holdout for 20 %.
        recovered = (i % 10 < 9) if decided.arm == "treatment" else (i % 10 < 2)
        amount = 500.0 if recovered else 0.0
        record_outcome(tactful, subject=person, decision_id=decided.decision_id,
                       converted=recovered, recovered_amount=amount)  # fmt: skip
    assert min(arms.values()) >= 50, arms  # about half each, by the keyed hash
    tactful.clock.advance(timedelta(minutes=1))  # the window ends before now
    request = insights_pb2.GetScorecardRequest(journey="checkout_recovery", epsilon=10.0)
    reply = insights_pb2_grpc.InsightsStub(tactful.channel).GetScorecard(
        request, metadata=bearer("analyst"), timeout=30
    )
    [uplift] = [u for u in reply.uplifts if u.figure == "success:recovered_revenue"]
    # 450 against 100 a person: an uplift of 350, its interval clear of 0.
    assert 200 < uplift.difference < 500 and uplift.low > 0, uplift
    assert {g.arm for g in reply.groups if not g.withheld} >= {"global_holdout"}
    assert journeys_pb2.NextActionResponse.DESCRIPTOR.fields_by_name["arm"]
