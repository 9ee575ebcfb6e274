"""The empathy scorecard: did a journey help? Differentially private, within the
principal's privacy budget.

`Scorecards.release`, for a principal with role analyst or compliance, in order:

1. decide (`read_scorecard`, not purpose-bearing: what leaves is a differentially
   private aggregate, and the journey fixes the purpose of the data it reads); check
   the journey, the window and epsilon, and compute every scale, before anything is
   spent (InvalidRequest);
2. in one ledger transaction that refuses an overdraw (`BudgetExhausted`), debit the
   whole epsilon once, keep the access record owed, read the journey's tallies in
   [since, until) (each person once, what they contribute summed per version x arm x
   action x rung, by the store: journeys/tallies.py), and add discrete Laplace noise
   (OpenDP, privacy/_dp.py) to each statistic's vector of sums;
3. read the figures, intervals and uplifts off the noisy sums (post-processing,
   which costs no privacy).

Contribution bounding. The privacy unit is one person (one pseudonym). Each person
counts once: their latest decision on the journey in the window, which puts them in
exactly one cell (playbook version x arm x action; a holdout arm is not split by
action). The cells are fixed by the playbooks, never by the data: versions 1 to the
highest the journey has had (live or kept by a rollback), the three arms, the live
playbook's actions plus `(other)`; so the
cells are disjoint in people and each statistic's vector over the cells has L1
sensitivity its per-person bound (scorecard_figures.py).

Epsilon. Split equally across the k statistics released (sequential composition):
each gets epsilon / k, at scale sensitivity / (epsilon / k). `people` and `rungs` are
two of them; the reply lists every statistic with its epsilon, sensitivity and scale.

Groups. Each version x arm, and within the treatment arm each action, is a group;
an arm's sums add its cells' noisy sums (and their noise variances). A group whose
noisy people count is below `Bounds.min_people` (default 20) is withheld: its figures
are not shown (deciding on a noisy count costs nothing more).

Uplift. Per version, treatment minus holdout, where the holdout is the union of the
journey's and the global holdout (neither received this journey's personalization);
for every figure, with a 95 % interval whose variance is the sum of both sides'.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import cast

from tactful.journeys.errors import PlaybookError
from tactful.journeys.holdout import Arm
from tactful.journeys.playbook import Playbook, Rung
from tactful.journeys.release_store import ReleaseStore
from tactful.journeys.releases import history, staged
from tactful.journeys.scorecard_figures import (
    PEOPLE,
    RUNGS,
    Z_95,
    ZERO,
    Bounds,
    Estimate,
    Noisy,
    Statistic,
    figures,
    statistics,
)
from tactful.journeys.tallies import ScoredSource, TalliedRows, Tally, TallySource
from tactful.privacy import _dp
from tactful.privacy.contract import Contract
from tactful.privacy.decisions import Action, Actor, Decision, decide, enforce
from tactful.privacy.errors import BudgetExhausted, InvalidRequest, Violation
from tactful.privacy.insights import MAX_EPSILON_PER_RELEASE, BudgetLedger, Debit
from tactful.privacy.journey_specs import SuccessMetric
from tactful.privacy.pending_records import PendingRecord
from tactful.privacy.suggestions import hint
from tactful.timestamps import to_us

TREATMENT = Arm.TREATMENT.value
HOLDOUT_ARMS = (Arm.JOURNEY_HOLDOUT.value, Arm.GLOBAL_HOLDOUT.value)
ARMS = (TREATMENT, *HOLDOUT_ARMS)
OTHER_ACTION = "(other)"  # a treatment decision on an action the playbook no longer has
_ROUNDING_SLACK = 1e-9
DEFAULT_BOUNDS = Bounds()

_RUNG_AT = {rung.value: i for i, rung in enumerate(Rung)}
Noise = Callable[[Sequence[int], float], list[int]]


@dataclass(frozen=True)
class ReleasedStatistic:
    name: str
    epsilon: float
    sensitivity: int  # L1, over the vector of cells
    scale: float  # of the discrete Laplace noise


@dataclass(frozen=True)
class ScoreGroup:
    playbook_version: int
    arm: str
    action: str  # "" for the whole arm
    people: int  # noisy, clamped at 0
    withheld: bool  # fewer noisy people than the minimum: no figures
    figures: tuple[Estimate, ...]


@dataclass(frozen=True)
class Uplift:
    playbook_version: int
    figure: str
    treatment: float
    holdout: float
    difference: float
    low: float
    high: float


@dataclass(frozen=True)
class ReleasedScorecard:
    decision: Decision
    journey: str
    purpose: str  # the journey's playbook's: what its data was collected for
    success_metric: str  # "" if the journey declares none
    groups: tuple[ScoreGroup, ...]
    uplifts: tuple[Uplift, ...]
    statistics: tuple[ReleasedStatistic, ...]
    min_people: int
    epsilon_spent: float
    epsilon_remaining: float


@dataclass(frozen=True)
class _Cells:
    """The public cells of one journey: (version, arm, action) -> index."""

    index: Mapping[tuple[int, str, str], int]
    actions: frozenset[str]

    @classmethod
    def of(cls, playbook: Playbook, highest: int) -> _Cells:
        actions = [*sorted(playbook.actions), OTHER_ACTION]
        keys = [
            (version, arm, action)
            for version in range(1, highest + 1)
            for arm in ARMS
            for action in (actions if arm == TREATMENT else [""])
        ]
        return cls({key: i for i, key in enumerate(keys)}, frozenset(playbook.actions))

    def cell(self, version: int, arm: str, action: str) -> int | None:
        """The cell of a decision; None outside the public cells (a version or arm unknown)."""
        if arm != TREATMENT:
            action = ""
        elif action not in self.actions:
            action = OTHER_ACTION
        return self.index.get((version, arm, action))


class Scorecards:
    def __init__(
        self,
        contract: Contract,
        playbooks: Callable[[], Mapping[str, Playbook]],  # the live ones (the catalogue's)
        source: TallySource | ScoredSource,  # a store's tallies, or decisions to tally
        ledger: BudgetLedger,
        *,
        budget: float,
        bounds: Bounds = DEFAULT_BOUNDS,
        noise: Noise = _dp.add_discrete_laplace_noise,
        releases: ReleaseStore | None = None,  # where the versions are kept; None: files
    ) -> None:
        self._contract = contract
        self._releases = releases
        self._playbooks = playbooks
        self._source = source
        self._ledger = ledger
        self._budget = budget
        self._bounds = bounds
        self._noise = noise

    def release(
        self,
        actor: Actor,
        journey: str,
        since_us: int,
        until_us: int,
        epsilon: float,
        *,
        now: datetime,
        owed: Callable[[Decision, str], PendingRecord] | None = None,
    ) -> ReleasedScorecard:
        """The scorecard of `journey` over [since_us, until_us). `owed(decision, purpose)`:
        the access record the call gets, kept with the debit until it is durable. Call
        from the single writer thread: the debit is a write."""
        decision = enforce(
            decide(self._contract, actor, Action.READ_SCORECARD, "", [f"journey:{journey}"])
        )
        playbook = self._playbook(journey, since_us, until_us)
        spec = self._contract.journeys[journey]
        metric = spec.success_metric
        stats = statistics(spec.outcomes, metric, self._bounds)
        released = _scales(epsilon, stats)
        cells = _Cells.of(playbook, _highest_version(self._contract, playbook, self._releases))
        with self._ledger.transaction(actor.name) as ledger:
            before = ledger.spent
            if before + epsilon > self._budget + _ROUNDING_SLACK:
                raise BudgetExhausted(
                    round(before, 12), _remaining(self._budget, before), requested=epsilon
                )
            ledger.add(Debit(actor.name, playbook.purpose, epsilon, to_us(now)))
            remaining = _remaining(self._budget, math.fsum((before, epsilon)))
            reason = (
                f"role {decision.role} may {Action.READ_SCORECARD}; released the scorecard of"
                f" {journey} with epsilon {epsilon}, {remaining} of the budget remaining"
            )
            decision = replace(decision, reason=reason)
            if owed is not None:
                ledger.keep_pending_record(owed(decision, playbook.purpose))
            values = [stat.value for stat in stats]
            tallies = _tallying(self._source).tallied(journey, since_us, until_us, values)
            noisy = self._noisy_sums(tallies, cells, stats, released)
        groups, uplifts = _read(noisy, cells, metric, self._bounds)
        return ReleasedScorecard(
            decision,
            journey,
            playbook.purpose,
            str(metric or ""),
            groups,
            uplifts,
            released,
            self._bounds.min_people,
            epsilon,
            remaining,
        )

    def _playbook(self, journey: str, since_us: int, until_us: int) -> Playbook:
        playbooks = self._playbooks()
        playbook = playbooks.get(journey)
        if playbook is None or journey not in self._contract.journeys:
            known = hint(journey, playbooks)
            raise InvalidRequest([Violation("journey", f"{journey!r} is not a journey; {known}")])
        if since_us >= until_us:
            raise InvalidRequest([Violation("since", "must be before until")])
        return playbook

    def _noisy_sums(
        self,
        tallies: Sequence[Tally],
        cells: _Cells,
        stats: Sequence[Statistic],
        released: Sequence[ReleasedStatistic],
    ) -> dict[str, list[Noisy]]:
        """Per statistic name (and `rungs:<rung>`), the noisy sum of each cell."""
        size, rungs = len(cells.index), len(_RUNG_AT)
        people = [0] * size
        exact = [[0] * size for _ in stats]
        by_rung = [0] * (size * rungs)
        for t in tallies:
            c = cells.cell(t.playbook_version, t.arm, t.action)
            if c is None:  # not a public cell (a version or arm unknown)
                continue
            people[c] += t.people
            for sums, value in zip(exact, t.sums, strict=True):
                sums[c] += value
            if (r := _RUNG_AT.get(t.rung)) is not None:
                by_rung[c * rungs + r] += t.people
        scales = {s.name: s.scale for s in released}
        named = {PEOPLE: people} | {
            stat.name: sums for stat, sums in zip(stats, exact, strict=True)
        }
        noisy = {name: self._noised(sums, scales[name]) for name, sums in named.items()}
        flat = self._noised(by_rung, scales[RUNGS])
        for i, rung in enumerate(_RUNG_AT):
            noisy[f"{RUNGS}:{rung}"] = flat[i::rungs]
        return noisy

    def _noised(self, sums: list[int], scale: float) -> list[Noisy]:
        variance = 2 * scale * scale
        return [Noisy(float(n), variance) for n in self._noise(sums, scale)]


def _tallying(source: TallySource | ScoredSource) -> TallySource:
    """The source's own tallies, or its decisions tallied in Python. (By its attribute,
    not isinstance: a runtime protocol's answer is cached per class.)"""
    if hasattr(source, "tallied"):
        return cast(TallySource, source)
    return TalliedRows(source)


def _highest_version(
    contract: Contract, playbook: Playbook, releases: ReleaseStore | None = None
) -> int:
    """The highest version the journey has had, where the servers keep its versions: the
    live one, one a rollback left in the history, or one staged for a share of the
    treatment arm (their decisions count). Public, as the cells must be: never read off
    the decisions."""
    try:
        kept = [v.version for v in history(contract, playbook.journey, releases)]
    except PlaybookError:  # a kept version that no longer loads: its number is unknown
        kept = []
    try:
        staging = staged(contract, playbook.journey, releases)
    except PlaybookError:
        staging = None
    trying = [] if staging is None else [staging.version.version]
    return max([playbook.version, *kept, *trying])


def _scales(epsilon: float, stats: Sequence[Statistic]) -> tuple[ReleasedStatistic, ...]:
    """Each statistic's share of epsilon and its scale, or InvalidRequest (before any debit)."""
    if not math.isfinite(epsilon) or epsilon <= 0:
        raise InvalidRequest([Violation("epsilon", "must be a finite number above 0, e.g. 1")])
    if epsilon > MAX_EPSILON_PER_RELEASE:
        problem = f"is {epsilon}; at most {MAX_EPSILON_PER_RELEASE} in one release"
        raise InvalidRequest([Violation("epsilon", problem)])
    named = [(PEOPLE, 1), (RUNGS, 1), *((s.name, s.sensitivity) for s in stats)]
    share = epsilon / len(named)
    try:
        return tuple(
            ReleasedStatistic(name, share, bound, _dp.discrete_laplace_scale(share, bound))
            for name, bound in named
        )
    except ValueError:
        problem = f"is {epsilon!r}; too small to split across {len(named)} statistics"
        raise InvalidRequest([Violation("epsilon", problem)]) from None


def _read(
    noisy: Mapping[str, list[Noisy]],
    cells: _Cells,
    success: SuccessMetric | None,
    bounds: Bounds,
) -> tuple[tuple[ScoreGroup, ...], tuple[Uplift, ...]]:
    def summed(indices: Sequence[int]) -> dict[str, Noisy]:
        return {name: sum((sums[i] for i in indices), ZERO) for name, sums in noisy.items()}

    def group(version: int, arm: str, action: str, sums: Mapping[str, Noisy]) -> ScoreGroup:
        people = max(0, round(sums[PEOPLE].value))
        if people < bounds.min_people:
            return ScoreGroup(version, arm, action, people, True, ())
        return ScoreGroup(
            version, arm, action, people, False, tuple(figures(sums, success, bounds))
        )

    groups: list[ScoreGroup] = []
    uplifts: list[Uplift] = []
    for version in sorted({v for v, _, _ in cells.index}):
        arm_sums: dict[str, dict[str, Noisy]] = {}
        for arm in ARMS:
            indices = [i for (v, a, _), i in cells.index.items() if v == version and a == arm]
            arm_sums[arm] = summed(indices)
            groups.append(group(version, arm, "", arm_sums[arm]))
            if arm == TREATMENT:
                for (v, a, action), i in cells.index.items():
                    if v == version and a == arm:
                        groups.append(group(version, arm, action, summed([i])))
        holdout = {n: arm_sums[HOLDOUT_ARMS[0]][n] + arm_sums[HOLDOUT_ARMS[1]][n] for n in noisy}
        uplifts += _uplifts(version, arm_sums[TREATMENT], holdout, success, bounds)
    return tuple(groups), tuple(uplifts)


def _uplifts(
    version: int,
    treatment: Mapping[str, Noisy],
    holdout: Mapping[str, Noisy],
    success: SuccessMetric | None,
    bounds: Bounds,
) -> list[Uplift]:
    least = bounds.min_people
    if treatment[PEOPLE].value < least or holdout[PEOPLE].value < least:
        return []
    found = []
    pairs = zip(figures(treatment, success, bounds), figures(holdout, success, bounds), strict=True)
    for t, h in pairs:
        if t.value is None or h.value is None:
            continue
        half = Z_95 * math.sqrt(t.variance + h.variance)
        difference = t.value - h.value
        found.append(
            Uplift(
                version, t.name, t.value, h.value, difference, difference - half, difference + half
            )
        )
    return found


def _remaining(budget: float, spent: float) -> float:
    return max(0.0, round(budget - spent, 12))
