"""Guardrails over exact counts: a version that raises a guard rate beyond its threshold,
and beyond what chance explains at the journey's level, is a breach, once both versions
have the minimum sample; holdouts do not count."""

from __future__ import annotations

import doctest
import math
import random

import pytest

from tactful.journeys import guards
from tactful.journeys.guards import check, p_value, rate, restricted_rates
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


def test_a_version_that_raises_complaints_beyond_the_threshold_and_chance_breaches() -> None:
    seen = decisions(1, 200, 4) + decisions(2, 200, 30)  # 2 % then 15 %
    [breach] = check({Guard.COMPLAINT: 0.05}, seen, 2, min_sample=200)
    assert (breach.previous_rate, breach.live_rate) == (0.02, 0.15)
    assert breach.p_value < 0.001 and breach.significance == 0.05
    said = breach.describe()
    assert "complaint rose from 2.0% (version 1, 200 decisions) to 15.0%" in said
    assert said.endswith(f"allowed beyond chance (p = {breach.p_value:.4f}, level 0.05)")


def test_a_rise_just_above_the_threshold_over_a_small_sample_is_not_enough() -> None:
    seen = decisions(1, 200, 4) + decisions(2, 200, 20)  # 2 % then 10 %: 8 points, 5 allowed
    assert check({Guard.COMPLAINT: 0.05}, seen, 2, min_sample=200) == []
    [breach] = check({Guard.COMPLAINT: 0.05}, seen, 2, min_sample=200, significance=0.2)
    assert 0.05 < breach.p_value < 0.2  # the same rise, at a laxer level
    more = decisions(1, 2000, 40) + decisions(2, 2000, 200)  # the same rates, ten times over
    [breach] = check({Guard.COMPLAINT: 0.05}, more, 2, min_sample=200)
    assert breach.p_value < 0.01


def test_within_the_threshold_or_below_the_sample_nothing_is_concluded() -> None:
    assert check({Guard.COMPLAINT: 0.10}, decisions(1, 200, 4) + decisions(2, 200, 30), 2,
                 min_sample=200) == []  # fmt: skip
    assert check({Guard.COMPLAINT: 0.05}, decisions(1, 200, 4) + decisions(2, 199, 30), 2,
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


def _most_likely(x1: int, n1: int, x0: int, n0: int, d: float) -> float:
    """r0 maximizing the likelihood under r1 = r0 + d, by ternary search."""

    def loglik(r0: float) -> float:
        total = 0.0
        for x, n, r in ((x1, n1, r0 + d), (x0, n0, r0)):
            total += x * math.log(r) if x else 0.0
            total += (n - x) * math.log(1 - r) if n - x else 0.0
        return total

    lo, hi = 1e-12, 1 - d - 1e-12
    for _ in range(200):
        a, b = lo + (hi - lo) / 3, hi - (hi - lo) / 3
        lo, hi = (a, hi) if loglik(a) < loglik(b) else (lo, b)
    return (lo + hi) / 2


def test_the_rates_under_the_null_are_its_most_likely_ones() -> None:
    pick = random.Random(22)
    for _ in range(300):
        n1, n0 = pick.randint(1, 400), pick.randint(1, 400)
        x1, x0 = pick.randint(0, n1), pick.randint(0, n0)
        d = pick.choice([0.0, 0.02, 0.1, round(pick.random() * 0.9, 3)])
        r1, r0 = restricted_rates(x1, n1, x0, n0, d)
        assert r1 - r0 == pytest.approx(d)
        assert r0 == pytest.approx(_most_likely(x1, n1, x0, n0, d), abs=1e-6), (x1, n1, x0, n0, d)


def test_a_version_that_adds_exactly_the_threshold_is_rolled_back_at_about_the_level() -> None:
    """The test's size at H0's boundary (3 % -> 5 %, 2 points allowed), by simulation."""
    pick = random.Random(7)

    def draws(n: int, p: float) -> int:
        return sum(pick.random() < p for _ in range(n))

    runs = 2000
    rejected = sum(p_value(draws(400, 0.05), 400, draws(400, 0.03), 400, 0.02) < 0.05
                   for _ in range(runs))  # fmt: skip
    assert 0.02 < rejected / runs < 0.08


def test_a_certain_difference_needs_no_test() -> None:
    assert p_value(0, 50, 0, 50, 0.0) == 1.0
    assert p_value(50, 50, 0, 50, 0.5) < 1e-6


def test_the_docstring_examples() -> None:
    assert doctest.testmod(guards).failed == 0
