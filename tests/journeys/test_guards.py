"""Guardrails over exact counts: a version that raises a guard rate beyond its threshold
is a breach, once both versions have the minimum sample; holdouts do not count."""

from __future__ import annotations

from tactful.journeys.guards import check, rate
from tactful.journeys.outcomes import OutcomeReport, ScoredDecision
from tactful.privacy.journey_specs import Guard


def decisions(version: int, n: int, complaints: int, *, arm: str = "treatment",
              rung: str = "none") -> list[ScoredDecision]:  # fmt: skip
    return [
        ScoredDecision(
            f"p{version}-{i}", version, arm, "a", rung, i, OutcomeReport(complaint=i < complaints)
        )  # fmt: skip
        for i in range(n)
    ]


def test_a_version_that_raises_complaints_beyond_the_threshold_breaches() -> None:
    seen = decisions(1, 200, 4) + decisions(2, 200, 20)  # 2 % then 10 %
    [breach] = check({Guard.COMPLAINT: 0.05}, seen, 2, min_sample=200)
    assert (breach.previous_rate, breach.live_rate) == (0.02, 0.10)
    assert "complaint rose from 2.0% (version 1, 200 decisions) to 10.0%" in breach.describe()


def test_within_the_threshold_or_below_the_sample_nothing_is_concluded() -> None:
    assert check({Guard.COMPLAINT: 0.10}, decisions(1, 200, 4) + decisions(2, 200, 20), 2,
                 min_sample=200) == []  # fmt: skip
    assert check({Guard.COMPLAINT: 0.05}, decisions(1, 200, 4) + decisions(2, 199, 20), 2,
                 min_sample=200) == []  # fmt: skip
    assert check({Guard.COMPLAINT: 0.05}, decisions(2, 500, 50), 2, min_sample=200) == []


def test_holdouts_do_not_count_and_the_newest_earlier_version_is_compared() -> None:
    seen = decisions(1, 200, 100) + decisions(2, 200, 4) + decisions(3, 200, 6)
    seen += decisions(3, 300, 300, arm="global_holdout")
    assert check({Guard.COMPLAINT: 0.05}, seen, 3, min_sample=200) == []  # 2 % -> 3 %


def test_fallback_reads_the_rung() -> None:
    seen = decisions(1, 100, 0) + decisions(2, 100, 0, rung="human")
    [breach] = check({Guard.FALLBACK: 0.5}, seen, 2, min_sample=100)
    assert breach.live_rate == 1.0 and rate([None, None]) == 0.0
