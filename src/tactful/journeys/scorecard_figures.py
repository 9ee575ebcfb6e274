"""What the scorecard counts of one person, and how its figures and intervals are read
off the noisy sums.

Each person contributes one decision (journeys/scorecard.py says which) and, through
it, one integer to each statistic below, clamped to the statistic's bound: a 0/1 count
has bound 1, effort 1..7 has bound 7, a time or an amount its documented cap (whole
seconds, whole currency units). The bound is the statistic's L1 sensitivity: removing
the person moves one cell's sum by at most that much.

A figure is a ratio of two noisy sums (a rate: events / people; a mean: sum /
reporters). Its 95 % interval adds, under the square root, the sampling variance
(p(1-p)/n for a rate; (m-lo)(hi-m)/n for a mean in [lo, hi], the largest a bounded
value can have, Bhatia-Davis) and the noise: var(a/b) ~ (var_a + r^2 var_b) / b^2
(the delta method), where each noisy sum's variance is 2 scale^2 per cell summed (the
discrete Laplace variance is at most that).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tactful.journeys.outcomes import AgentVerdict
from tactful.journeys.playbook import Rung
from tactful.journeys.tallies import Clamped, Counted, PersonValue, Reported
from tactful.privacy.journey_specs import Outcome, SuccessMetric

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Bounds:
    """The caps each person's values are clamped to, and the smallest group shown."""

    time_to_resolution_s: int = 14_400  # 4 hours
    handle_time_s: int = 3_600  # 1 hour
    recovered_amount: int = 1_000  # currency units
    min_people: int = 20  # a group (or action) with fewer noisy people is withheld


@dataclass(frozen=True)
class Statistic:
    name: str
    sensitivity: int
    value: PersonValue  # what each person adds to the sum, clamped first


def _flag(field: str) -> Counted:
    return Counted(((field, True),))


# Resolved, and neither reopened nor handed off.
_FIRST_CONTACT = Counted((("resolved", True),), (("reopened", True), ("handed_off", True)))
# Handed off, resolved, and not reopened.
_HANDOFF_RESOLVED = Counted((("handed_off", True), ("resolved", True)), (("reopened", True),))
_USED = Counted((("agent_verdict", AgentVerdict.USED.value),))

PEOPLE = "people"
RUNGS = "rungs"  # the people on each rung: a histogram, sensitivity 1


def statistics(
    declared: frozenset[Outcome], metric: SuccessMetric | None, bounds: Bounds
) -> tuple[Statistic, ...]:
    """Every sum released for a journey, besides `people` and `rungs` (which
    journeys/scorecard.py counts itself): those that read only outcomes the journey
    declares (no epsilon is spent on what is never reported), and what its success
    metric needs."""
    ttr, handle, amount = bounds.time_to_resolution_s, bounds.handle_time_s, bounds.recovered_amount
    general = [
        (Outcome.EFFORT, Statistic("effort_reported", 1, Reported("effort"))),
        (Outcome.EFFORT, Statistic("effort_sum", 7, Clamped("effort", 1, 7))),
        (
            Outcome.TIME_TO_RESOLUTION,
            Statistic("time_to_resolution_reported", 1, Reported("time_to_resolution_s")),
        ),
        (
            Outcome.TIME_TO_RESOLUTION,
            Statistic("time_to_resolution_sum", ttr, Clamped("time_to_resolution_s", 0, ttr)),
        ),
        (Outcome.CONTAINED, Statistic("contained", 1, _flag("contained"))),
        (Outcome.RESOLVED, Statistic("first_contact_resolution", 1, _FIRST_CONTACT)),
        (Outcome.REOPENED, Statistic("reopened", 1, _flag("reopened"))),
        (Outcome.HANDED_OFF, Statistic("handed_off", 1, _flag("handed_off"))),
        (Outcome.HANDED_OFF, Statistic("handoff_resolved", 1, _HANDOFF_RESOLVED)),
        (Outcome.AGENT_VERDICT, Statistic("verdict_reported", 1, Reported("agent_verdict"))),
        (Outcome.AGENT_VERDICT, Statistic("verdict_used", 1, _USED)),
        (Outcome.COMPLAINT, Statistic("complaint", 1, _flag("complaint"))),
    ]
    for_metric = {
        SuccessMetric.ACTIVATION_RATE: [Statistic("converted", 1, _flag("converted"))],
        SuccessMetric.CHURN_REDUCTION: [Statistic("abandoned", 1, _flag("abandoned"))],
        SuccessMetric.RECOVERED_REVENUE: [
            Statistic("recovered_amount_sum", amount, Clamped("recovered_amount", 0, amount))
        ],
        SuccessMetric.HANDLE_TIME_REDUCTION: [
            Statistic("handle_time_reported", 1, Reported("handle_time_s")),
            Statistic("handle_time_sum", handle, Clamped("handle_time_s", 0, handle)),
        ],
    }
    found = [stat for reads, stat in general if reads in declared]
    return (*found, *(for_metric.get(metric, []) if metric is not None else []))


@dataclass(frozen=True)
class Noisy:
    """A noisy sum and the variance of the noise in it."""

    value: float
    variance: float

    def __add__(self, other: Noisy) -> Noisy:
        return Noisy(self.value + other.value, self.variance + other.variance)


ZERO = Noisy(0.0, 0.0)


@dataclass(frozen=True)
class Estimate:
    name: str
    value: float | None  # None: no one to divide by
    variance: float  # sampling + noise
    low: float | None
    high: float | None


def rate(name: str, events: Noisy, people: Noisy) -> Estimate:
    if people.value < 1:
        return Estimate(name, None, math.inf, None, None)
    n = people.value
    p = min(1.0, max(0.0, events.value / n))
    variance = p * (1 - p) / n + (events.variance + p * p * people.variance) / (n * n)
    return _estimate(name, p, variance, 0.0, 1.0)


def mean(name: str, total: Noisy, count: Noisy, low: float, high: float) -> Estimate:
    if count.value < 1:
        return Estimate(name, None, math.inf, None, None)
    n = count.value
    m = min(high, max(low, total.value / n))
    variance = (m - low) * (high - m) / n + (total.variance + m * m * count.variance) / (n * n)
    return _estimate(name, m, variance, low, high)


def _estimate(name: str, value: float, variance: float, low: float, high: float) -> Estimate:
    half = Z_95 * math.sqrt(variance)
    return Estimate(name, value, variance, max(low, value - half), min(high, value + half))


def figures(
    sums: Mapping[str, Noisy], metric: SuccessMetric | None, bounds: Bounds
) -> list[Estimate]:
    """The scorecard's figures of one group, from its noisy sums (a figure whose sums
    were not released is left out), the success metric last."""
    people = sums[PEOPLE]
    ttr = bounds.time_to_resolution_s
    wanted: list[tuple[tuple[str, ...], Callable[[], Estimate]]] = [
        (
            ("effort_sum",),
            lambda: mean("effort", sums["effort_sum"], sums["effort_reported"], 1, 7),
        ),
        (
            ("time_to_resolution_sum",),
            lambda: mean(
                "time_to_resolution_s",
                sums["time_to_resolution_sum"],
                sums["time_to_resolution_reported"],
                0,
                ttr,
            ),
        ),
        (("contained",), lambda: rate("containment", sums["contained"], people)),
        (
            ("first_contact_resolution",),
            lambda: rate("first_contact_resolution", sums["first_contact_resolution"], people),
        ),
        (("reopened",), lambda: rate("reopen_rate", sums["reopened"], people)),
        (
            ("handoff_resolved",),
            lambda: rate("handoff_quality", sums["handoff_resolved"], sums["handed_off"]),
        ),
        (
            ("verdict_used",),
            lambda: rate("agent_acceptance", sums["verdict_used"], sums["verdict_reported"]),
        ),
        (("complaint",), lambda: rate("complaint_rate", sums["complaint"], people)),
    ]
    found = [make() for needs, make in wanted if all(n in sums for n in needs)]
    found += [
        rate(f"fallback_rate:{rung}", sums[f"{RUNGS}:{rung}"], people)
        for rung in Rung
        if rung is not Rung.NONE
    ]
    if metric is not None:
        found.append(_success(metric, sums, bounds))
    return found


def _success(metric: SuccessMetric, sums: Mapping[str, Noisy], bounds: Bounds) -> Estimate:
    name, people = f"success:{metric}", sums[PEOPLE]
    if metric is SuccessMetric.ACTIVATION_RATE:
        return rate(name, sums["converted"], people)
    if metric is SuccessMetric.CHURN_REDUCTION:
        return rate(name, sums["abandoned"], people)
    if metric is SuccessMetric.FIRST_CONTACT_RESOLUTION:
        return rate(name, sums["first_contact_resolution"], people)
    if metric is SuccessMetric.QUALITY_SCORE:
        return rate(name, sums["verdict_used"], sums["verdict_reported"])
    if metric is SuccessMetric.RECOVERED_REVENUE:
        return mean(name, sums["recovered_amount_sum"], people, 0, bounds.recovered_amount)
    cap = bounds.handle_time_s
    return mean(name, sums["handle_time_sum"], sums["handle_time_reported"], 0, cap)
