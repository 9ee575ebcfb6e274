"""Guardrails: a new playbook version that makes a guard metric worse than the version
before it, by more than the journey's threshold, is rolled back.

Each guard is a rate over a version's **treatment** decisions in the window (holdouts
get the baseline, whatever the version): the share followed by a complaint, a reopen,
an abandonment or a handoff, or the share on a fallback rung. The live version is
compared with the newest version before it that has decisions in the window; both need
`guard_min_sample` decisions, or nothing is concluded yet.

Guards read **exact** counts, inside the process that runs the check: nothing about a
person leaves, and what is said outside is only which guard breached, by how much on
each side, over how many decisions, written to the access log as the rollback's
reason. (The noisy scorecard is for analysts; a rollback must not depend on noise.)

>>> rate([True, False, None, True])
0.5
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from tactful.journeys.outcomes import OutcomeReport, ScoredDecision
from tactful.privacy.journey_specs import Guard

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

    def describe(self) -> str:
        return (
            f"{self.guard} rose from {self.previous_rate:.1%} (version {self.previous_version}, "
            f"{self.previous_decisions} decisions) to {self.live_rate:.1%} (version "
            f"{self.live_version}, {self.live_decisions} decisions), more than the "
            f"{self.threshold:.1%} allowed"
        )


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


def check(
    guards: Mapping[Guard, float],
    decisions: Sequence[ScoredDecision],
    live_version: int,
    *,
    min_sample: int,
) -> list[Breach]:
    """Every guard the live version breaches against the version before it; empty when
    none does or the sample is still too small."""
    by_version: dict[int, list[ScoredDecision]] = {}
    for decision in decisions:
        if decision.arm == TREATMENT:
            by_version.setdefault(decision.playbook_version, []).append(decision)
    live = by_version.get(live_version, [])
    earlier = [v for v in by_version if v < live_version]
    if not earlier or len(live) < min_sample:
        return []
    previous_version = max(earlier)
    previous = by_version[previous_version]
    if len(previous) < min_sample:
        return []
    breaches = []
    for guard, threshold in guards.items():
        now, before = rate(guard_flags(guard, live)), rate(guard_flags(guard, previous))
        if now - before > threshold:
            breaches.append(
                Breach(
                    guard,
                    live_version,
                    now,
                    previous_version,
                    before,
                    threshold,
                    len(live),
                    len(previous),
                )  # fmt: skip
            )
    return breaches
