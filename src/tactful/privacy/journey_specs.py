"""What the contract declares of each journey, beside its playbook: its holdout share,
the outcomes it records and its success metric; and the one global holdout.

    [holdout]                     # people excluded from every journey's personalization
    share = 0.05

    [journeys.checkout_recovery]
    playbook = "playbooks/checkout_recovery.toml"
    holdout = 0.10                # this journey's own holdout (default 0)
    outcomes = ["converted", "recovered_amount", "abandoned", "complaint"]
    success_metric = "recovered_revenue"
    guards = { complaint = 0.02, fallback = 0.10 }   # the most a new version may add
    guard_min_sample = 200                            # decisions per version, each side
    guard_significance = 0.05     # the chance of rolling back a version within its guards

Every key but `playbook` is optional. A success metric reads one outcome, which the
journey must declare. Shares are fractions of people, from 0 to 0.5.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class Outcome(StrEnum):
    """What happened after a decision, as RecordOutcome reports it."""

    RESOLVED = "resolved"  # the person's need was met
    CONTAINED = "contained"  # met without a human
    HANDED_OFF = "handed_off"  # a human took over
    REOPENED = "reopened"  # it came back
    ABANDONED = "abandoned"  # the person gave up (left, canceled, churned)
    CONVERTED = "converted"  # the journey's goal reached (paid, activated, retained)
    RECOVERED_AMOUNT = "recovered_amount"  # money the journey recovered
    EFFORT = "effort"  # customer effort score, 1 (low) to 7
    TIME_TO_RESOLUTION = "time_to_resolution"  # seconds
    HANDLE_TIME = "handle_time"  # an agent's handle time, seconds
    AGENT_VERDICT = "agent_verdict"  # used, changed or rejected the recommendation
    COMPLAINT = "complaint"  # the person complained


class SuccessMetric(StrEnum):
    """A journey's success metric (the seed's table) and the outcome it reads."""

    ACTIVATION_RATE = "activation_rate"
    RECOVERED_REVENUE = "recovered_revenue"
    FIRST_CONTACT_RESOLUTION = "first_contact_resolution"
    CHURN_REDUCTION = "churn_reduction"
    HANDLE_TIME_REDUCTION = "handle_time_reduction"
    QUALITY_SCORE = "quality_score"


METRIC_READS: Mapping[SuccessMetric, Outcome] = {
    SuccessMetric.ACTIVATION_RATE: Outcome.CONVERTED,
    SuccessMetric.RECOVERED_REVENUE: Outcome.RECOVERED_AMOUNT,
    SuccessMetric.FIRST_CONTACT_RESOLUTION: Outcome.RESOLVED,
    SuccessMetric.CHURN_REDUCTION: Outcome.ABANDONED,
    SuccessMetric.HANDLE_TIME_REDUCTION: Outcome.HANDLE_TIME,
    SuccessMetric.QUALITY_SCORE: Outcome.AGENT_VERDICT,
}
MAX_HOLDOUT = 0.5


class Guard(StrEnum):
    """A guard metric: a rate over a version's treatment decisions that a new version
    may not raise by more than its threshold (journeys/guards.py)."""

    COMPLAINT = "complaint"  # decisions followed by a complaint
    REOPENED = "reopened"
    ABANDONED = "abandoned"
    HANDED_OFF = "handed_off"
    FALLBACK = "fallback"  # decisions on a fallback rung (clarify, most_likely, human)


# The outcome a guard reads, when it reads one (fallback reads the decision's rung).
GUARD_READS: Mapping[Guard, Outcome] = {
    Guard.COMPLAINT: Outcome.COMPLAINT,
    Guard.REOPENED: Outcome.REOPENED,
    Guard.ABANDONED: Outcome.ABANDONED,
    Guard.HANDED_OFF: Outcome.HANDED_OFF,
}
DEFAULT_GUARD_MIN_SAMPLE = 200
# A guard breaches when its test rejects "rose by no more than the threshold" at this
# level (journeys/guards.py): the most a check may roll back a version within its guards.
DEFAULT_GUARD_SIGNIFICANCE = 0.05
MAX_GUARD_SIGNIFICANCE = 0.5


@dataclass(frozen=True)
class JourneySpec:
    name: str
    playbook: str  # the playbook file as written, relative to the contract's folder
    holdout: float = 0.0  # share of people held out of this journey
    outcomes: frozenset[Outcome] = frozenset()
    success_metric: SuccessMetric | None = None
    guards: Mapping[Guard, float] = field(default_factory=dict)  # the most a version may add
    guard_min_sample: int = DEFAULT_GUARD_MIN_SAMPLE
    guard_significance: float = DEFAULT_GUARD_SIGNIFICANCE


class Checks(Protocol):
    """How the contract's loader collects problems (contract._Checker)."""

    def problem(self, where: str, what: str) -> None: ...

    def keys(self, where: str, table: Mapping[str, Any], known: Iterable[str]) -> None: ...

    def text(self, raw: Mapping[str, Any], key: str, where: str) -> str: ...


_JOURNEY_KEYS = (
    "playbook",
    "holdout",
    "outcomes",
    "success_metric",
    "guards",
    "guard_min_sample",
    "guard_significance",
)


def parse_journey(checker: Checks, name: str, raw: Mapping[str, Any]) -> JourneySpec:
    where = f"journeys.{name}"
    checker.keys(where, raw, _JOURNEY_KEYS)
    playbook = checker.text(raw, "playbook", where)
    holdout = share(checker, raw.get("holdout", 0.0), f"{where}.holdout")
    outcomes = _outcomes(checker, raw.get("outcomes", []), f"{where}.outcomes")
    metric = None
    if "success_metric" in raw:
        try:
            metric = SuccessMetric(raw["success_metric"])
        except ValueError:
            known = ", ".join(m.value for m in SuccessMetric)
            checker.problem(f"{where}.success_metric", f"must be one of {known}")
        else:
            needs = METRIC_READS[metric]
            if needs not in outcomes:
                checker.problem(
                    f"{where}.success_metric",
                    f"{metric} reads the outcome {needs!r}; add it to outcomes",
                )
    guards = _guards(checker, raw.get("guards", {}), f"{where}.guards", outcomes)
    sample = raw.get("guard_min_sample", DEFAULT_GUARD_MIN_SAMPLE)
    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
        checker.problem(f"{where}.guard_min_sample", "a number of decisions, 1 or more")
        sample = DEFAULT_GUARD_MIN_SAMPLE
    level = _significance(checker, raw, f"{where}.guard_significance")
    return JourneySpec(name, playbook, holdout, outcomes, metric, guards, sample, level)


def _significance(checker: Checks, raw: Mapping[str, Any], where: str) -> float:
    value = raw.get("guard_significance", DEFAULT_GUARD_SIGNIFICANCE)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value <= MAX_GUARD_SIGNIFICANCE
    ):
        checker.problem(
            where,
            f"the chance a check may roll back a version within its guards, above 0 and at "
            f"most {MAX_GUARD_SIGNIFICANCE}, e.g. 0.05",
        )
        return DEFAULT_GUARD_SIGNIFICANCE
    return float(value)


def _guards(
    checker: Checks, value: object, where: str, outcomes: frozenset[Outcome]
) -> dict[Guard, float]:
    if not isinstance(value, dict):
        checker.problem(where, "must be a table, e.g. { complaint = 0.02, fallback = 0.10 }")
        return {}
    found = {}
    for name, threshold in value.items():
        try:
            guard = Guard(name)
        except ValueError:
            known = ", ".join(g.value for g in Guard)
            checker.problem(f"{where}.{name}", f"not a guard metric; one of {known}")
            continue
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not 0 <= threshold <= 1
        ):
            checker.problem(f"{where}.{name}", "the most a new version may add to the rate, 0 to 1")
            continue
        needs = GUARD_READS.get(guard)
        if needs is not None and needs not in outcomes:
            checker.problem(f"{where}.{name}", f"reads the outcome {needs!r}; add it to outcomes")
            continue
        found[guard] = float(threshold)
    return found


def parse_global_holdout(checker: Checks, document: Mapping[str, Any]) -> float:
    raw = document.get("holdout", {})
    if not isinstance(raw, dict):
        checker.problem("holdout", "must be a table, e.g. [holdout] share = 0.05")
        return 0.0
    checker.keys("holdout", raw, ("share",))
    return share(checker, raw.get("share", 0.0), "holdout.share")


def share(checker: Checks, value: object, where: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= MAX_HOLDOUT
    ):
        checker.problem(where, f"a share of people from 0 to {MAX_HOLDOUT}, e.g. 0.05")
        return 0.0
    return float(value)


def _outcomes(checker: Checks, value: object, where: str) -> frozenset[Outcome]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        checker.problem(where, "must be a list of outcome names")
        return frozenset()
    found = set()
    for index, item in enumerate(value):
        try:
            found.add(Outcome(item))
        except ValueError:
            known = ", ".join(o.value for o in Outcome)
            checker.problem(f"{where}[{index}]", f"{item!r} is not an outcome; one of {known}")
    return frozenset(found)
