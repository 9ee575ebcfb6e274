"""Guardrails: a new playbook version that makes a guard metric worse than the version
before it, by more than the journey's threshold and beyond what chance explains, is
rolled back.

Each guard is a rate over a version's **treatment** decisions in the window (holdouts
get the baseline, whatever the version): the share followed by a complaint, a reopen,
an abandonment or a handoff, or the share on a fallback rung. The live version is
compared with the newest version before it that has decisions in the window; both need
`guard_min_sample` decisions, or nothing is concluded yet.

**The rule.** With live rate p1 over n1 decisions, the previous version's p0 over n0
and the journey's threshold d, a guard breaches when the one-sided test of

    H0: p1 - p0 <= d    against    H1: p1 - p0 > d

rejects H0 at the journey's `guard_significance` (default 0.05). The test is
Farrington and Manning's score test for a difference of two proportions (1990): the
statistic is z = (p1 - p0 - d) / se, where se is the standard error of the difference
at the rates most likely under H0's boundary (p1 - p0 = d exactly, estimated from both
samples), and the p-value is the normal tail above z. So a version that adds no more
than the threshold is rolled back in at most about `guard_significance` of checks, and
one that adds much more is rolled back once the sample shows it: an observed rise just
above the threshold, over a small sample, is not enough. Each run of
`tactful journeys guard` is one check at that level; running it again and again over a
version that adds exactly the threshold gives it more chances (see docs/benchmarks.md).

Guards read **exact** counts, inside the process that runs the check: nothing about a
person leaves, and what is said outside is only which guard breached, by how much on
each side, over how many decisions, and the test's p-value, written to the access log
as the rollback's reason. (The noisy scorecard is for analysts; a rollback must not
depend on the noise added for privacy, only on the sample's own.)

>>> rate([True, False, None, True])
0.5
>>> round(p_value(22, 200, 6, 200, 0.02), 4)  # 11 % against 3 %, 2 points allowed
0.0077
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from tactful.journeys.outcomes import OutcomeReport, ScoredDecision
from tactful.privacy.journey_specs import DEFAULT_GUARD_SIGNIFICANCE, Guard

TREATMENT = "treatment"
FALLBACK_RUNGS = frozenset({"clarify", "most_likely", "human"})


@dataclass(frozen=True)
class Breach:
    guard: Guard
    live_version: int
    live_rate: float
    previous_version: int
    previous_rate: float
    threshold: float
    live_decisions: int
    previous_decisions: int
    p_value: float = 0.0  # of H0 "rose by no more than the threshold"
    significance: float = DEFAULT_GUARD_SIGNIFICANCE

    def describe(self) -> str:
        return (
            f"{self.guard} rose from {self.previous_rate:.1%} (version {self.previous_version}, "
            f"{self.previous_decisions} decisions) to {self.live_rate:.1%} (version "
            f"{self.live_version}, {self.live_decisions} decisions), more than the "
            f"{self.threshold:.1%} allowed beyond chance ({_p(self.p_value)}, level "
            f"{self.significance:g})"
        )


@dataclass(frozen=True)
class Sides:
    """The live version's treatment decisions and those of the version before it."""

    live_version: int
    live: Sequence[ScoredDecision]
    previous_version: int
    previous: Sequence[ScoredDecision]


def rate(flags: Iterable[bool | None]) -> float:
    """The share of True among decisions (an unreported outcome counts as not)."""
    values = list(flags)
    return sum(1 for v in values if v) / len(values) if values else 0.0


def guard_flags(guard: Guard, decisions: Sequence[ScoredDecision]) -> list[bool | None]:
    if guard is Guard.FALLBACK:
        return [d.rung in FALLBACK_RUNGS for d in decisions]
    field = guard.value
    return [_flag(d.report, field) for d in decisions]


def _flag(report: OutcomeReport, field: str) -> bool | None:
    value: bool | None = getattr(report, field)
    return value


def sides(
    decisions: Sequence[ScoredDecision], live_version: int, *, min_sample: int
) -> Sides | None:
    """What a check compares; None while either side is below `min_sample` (or the live
    version has no earlier one in the window): nothing is concluded yet."""
    by_version: dict[int, list[ScoredDecision]] = {}
    for decision in decisions:
        if decision.arm == TREATMENT:
            by_version.setdefault(decision.playbook_version, []).append(decision)
    live = by_version.get(live_version, [])
    earlier = [v for v in by_version if v < live_version]
    if not earlier or len(live) < min_sample:
        return None
    previous_version = max(earlier)
    previous = by_version[previous_version]
    if len(previous) < min_sample:
        return None
    return Sides(live_version, live, previous_version, previous)


def check(
    guards: Mapping[Guard, float],
    decisions: Sequence[ScoredDecision],
    live_version: int,
    *,
    min_sample: int,
    significance: float = DEFAULT_GUARD_SIGNIFICANCE,
) -> list[Breach]:
    """Every guard the live version breaches against the version before it; empty when
    none does or the sample is still too small."""
    compared = sides(decisions, live_version, min_sample=min_sample)
    if compared is None:
        return []
    breaches = []
    for guard, threshold in guards.items():
        breach = _test(guard, threshold, compared, significance)
        if breach is not None:
            breaches.append(breach)
    return breaches


def _test(guard: Guard, threshold: float, compared: Sides, significance: float) -> Breach | None:
    live = sum(1 for f in guard_flags(guard, compared.live) if f)
    previous = sum(1 for f in guard_flags(guard, compared.previous) if f)
    n1, n0 = len(compared.live), len(compared.previous)
    p = p_value(live, n1, previous, n0, threshold)
    if p >= significance:
        return None
    return Breach(guard, compared.live_version, live / n1, compared.previous_version,
                  previous / n0, threshold, n1, n0, p, significance)  # fmt: skip


def p_value(x1: int, n1: int, x0: int, n0: int, threshold: float) -> float:
    """The one-sided p-value of H0 "p1 - p0 <= threshold" given x1 of n1 and x0 of n0
    (Farrington and Manning's score test)."""
    p1, p0 = x1 / n1, x0 / n0
    excess = p1 - p0 - threshold
    r1, r0 = restricted_rates(x1, n1, x0, n0, threshold)
    variance = r1 * (1 - r1) / n1 + r0 * (1 - r0) / n0
    if variance <= 0:  # both rates at 0 or 1 under H0: the difference is certain
        return 0.0 if excess > 1e-12 else 1.0
    return 0.5 * math.erfc(excess / math.sqrt(variance) / math.sqrt(2))


def restricted_rates(x1: int, n1: int, x0: int, n0: int, d: float) -> tuple[float, float]:
    """The maximum-likelihood rates (r1, r0) under r1 - r0 = d (Farrington and Manning
    1990, the closed form of Miettinen and Nurminen's cubic)."""
    p1, p0 = x1 / n1, x0 / n0
    theta = n0 / n1
    a = 1 + theta
    b = -(1 + theta + p1 + theta * p0 + d * (theta + 2))
    c = d * d + d * (2 * p1 + theta + 1) + p1 + theta * p0
    e = -p1 * d * (1 + d)
    v = b**3 / (3 * a) ** 3 - b * c / (6 * a * a) + e / (2 * a)
    root = b * b / (3 * a) ** 2 - c / (3 * a)
    u = math.copysign(math.sqrt(max(root, 0.0)), v)
    if u == 0:
        r1 = -b / (3 * a)
    else:
        w = (math.pi + math.acos(max(-1.0, min(1.0, v / u**3)))) / 3
        r1 = 2 * u * math.cos(w) - b / (3 * a)
    r1 = min(1.0, max(d, r1))
    return r1, r1 - d


def _p(value: float) -> str:
    return "p < 0.0001" if value < 0.0001 else f"p = {value:.4f}"
