"""Is the scorecard honest? Synthetic people with a known true effect, over many runs.

Each run draws `--people` people on a journey, 10 % in the global holdout and 10 % in
the journey's, the rest treated with one of the playbook's actions. Each person's
outcome hits the journey's success figure (a recovered basket of 1,000, the default
cap; a conversion; an abandonment; a first-contact resolution; a handle time at its
3,600 s cap) with a known probability: 30 % held out, 30 % + the scenario's true
uplift treated, so the figure reads in points (a mean of 0-or-cap values / cap). The
rows go to the real `Scorecards.release` (OpenDP's noise, an in-memory budget
ledger, epsilon `--epsilon`), and the success figure's uplift is read as a user
would read it. Every journey of the example contract with a success metric (or
`--journeys a,b`), `checkout_recovery` first:

- `uplift +10`: the success figure is 10 points higher treated. Met if the 95 %
  interval covers +10 points in 95 % of runs, +/- 5 points.
- `null 0`: no effect. Met if the interval excludes 0 in at most 5 % of runs plus
  two binomial standard errors over the runs.
- `harmful v2` (on `checkout_recovery`): version 1 has its `guard_min_sample`
  treated decisions with 3 % complaints; version 2 arrives with 11 % (+8 points,
  above the 2 point guard). `journeys.guards.check` (at the journey's
  `guard_significance`) runs after every 25 version 2 decisions, from
  `guard_min_sample` to four times it. Met if it breaches at the declared sample
  in at least 95 % of runs.
- `harmless v2`: version 2 with the same 3 %: how often it is rolled back anyway.
  Met if at most 5 % of runs at the declared sample.
- `v2 at the threshold`: version 2 with 5 % (+2 points, exactly what the guard
  allows): the test's size. Met if rolled back at the declared sample in at most
  `guard_significance` of runs plus two binomial standard errors; by four times the
  sample (checked again and again) it is rolled back more often, reported.

A benchmark: it prints figures and never fails.

    .venv/bin/python bench/simulate.py [--runs 200] [--people 5000] [--epsilon 1] [--seed 22]
        [--journeys checkout_recovery,onboarding] [--guards-only] [--json]
        [--guard-min-sample 200] [--guard-significance 0.05]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a file, bench/ heads sys.path; make the repository importable as `bench.*`.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass, field, replace  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

from tactful.app.settings import EXAMPLE_CONTRACT  # noqa: E402
from tactful.journeys.catalogue import load_journeys  # noqa: E402
from tactful.journeys.guards import check  # noqa: E402
from tactful.journeys.outcomes import AgentVerdict, OutcomeReport, ScoredDecision  # noqa: E402
from tactful.journeys.scorecard import Scorecards  # noqa: E402
from tactful.privacy.contract import Contract, load_contract  # noqa: E402
from tactful.privacy.decisions import Actor  # noqa: E402
from tactful.privacy.insights import Debit  # noqa: E402
from tactful.privacy.journey_specs import Guard, SuccessMetric  # noqa: E402
from tactful.privacy.pending_records import PendingRecord  # noqa: E402

JOURNEY = "checkout_recovery"
BASKET = 1_000.0  # the default cap on a recovered amount
HANDLE = 3_600.0  # the default cap on a handle time
ANALYST = Actor("analyst", frozenset({"analyst"}), frozenset())
GLOBAL_HOLDOUT, JOURNEY_HOLDOUT = 0.10, 0.10
BASE_RECOVERY = 0.30
TRUE_UPLIFT = 0.10  # +10 points
BASE_COMPLAINT, HARM = 0.03, 0.08
HARMLESS_TARGET = 0.05
CHECK_EVERY = 25
COVERAGE_TARGET, COVERAGE_SLACK, ERROR_RATE = 0.95, 0.05, 0.05


@dataclass
class _Tx:
    spent: float = 0.0
    added: list[Debit] = field(default_factory=list)

    def add(self, debit: Debit) -> None:
        self.added.append(debit)

    def keep_pending_record(self, record: PendingRecord) -> None:
        pass


class UnlimitedLedger:
    """A budget nobody runs out of: each release is its own experiment (the simulator's
    runs, the scorecard benchmark's, the pinned sums' test)."""

    @contextmanager
    def transaction(self, principal: str) -> Iterator[_Tx]:
        yield _Tx()

    def spent(self, principal: str) -> float:
        return 0.0


@dataclass
class _Rows:
    rows: list[ScoredDecision] = field(default_factory=list)

    def scored(self, journey: str, since_us: int, until_us: int) -> list[ScoredDecision]:
        return self.rows


def _report(metric: SuccessMetric, hit: bool, complaint: bool) -> OutcomeReport:
    """An outcome where `hit` is what the journey's success figure counts."""
    if metric is SuccessMetric.RECOVERED_REVENUE:
        return OutcomeReport(
            converted=hit, recovered_amount=BASKET if hit else 0.0, complaint=complaint
        )
    if metric is SuccessMetric.ACTIVATION_RATE:
        return OutcomeReport(converted=hit, complaint=complaint)
    if metric is SuccessMetric.CHURN_REDUCTION:
        return OutcomeReport(abandoned=hit, complaint=complaint)
    if metric is SuccessMetric.FIRST_CONTACT_RESOLUTION:
        return OutcomeReport(resolved=hit, complaint=complaint)
    if metric is SuccessMetric.QUALITY_SCORE:
        verdict = AgentVerdict.USED if hit else AgentVerdict.REJECTED
        return OutcomeReport(agent_verdict=verdict, complaint=complaint)
    return OutcomeReport(handle_time_s=HANDLE if hit else 0.0, complaint=complaint)


def points(metric: SuccessMetric) -> float:
    """What turns the success figure into points (a mean of 0-or-cap values: / cap)."""
    if metric is SuccessMetric.RECOVERED_REVENUE:
        return 100 / BASKET
    if metric is SuccessMetric.HANDLE_TIME_REDUCTION:
        return 100 / HANDLE
    return 100.0


def people(
    pick: random.Random,
    n: int,
    actions: list[str],
    uplift: float,
    metric: SuccessMetric = SuccessMetric.RECOVERED_REVENUE,
) -> list[ScoredDecision]:
    """`n` people, each with one decision and its outcome, in time order."""
    rows = []
    for i in range(n):
        u = pick.random()
        if u < GLOBAL_HOLDOUT:
            arm, action, p = "global_holdout", "", BASE_RECOVERY
        elif u < GLOBAL_HOLDOUT + JOURNEY_HOLDOUT:
            arm, action, p = "journey_holdout", "", BASE_RECOVERY
        else:
            arm, action, p = "treatment", pick.choice(actions), BASE_RECOVERY + uplift
        report = _report(metric, pick.random() < p, pick.random() < BASE_COMPLAINT)
        rows.append(ScoredDecision(f"p{i:07d}", 1, arm, action, "none", i, report))
    return rows


@dataclass
class Interval:
    covered: int = 0
    significant: int = 0
    widths: list[float] = field(default_factory=list)


def intervals(
    contract: Contract,
    journey: str,
    runs: int,
    n: int,
    uplift: float,
    epsilon: float,
    pick: random.Random,
) -> Interval:
    playbooks = load_journeys(contract)
    actions = sorted(playbooks[journey].actions)
    metric = contract.journeys[journey].success_metric
    assert metric is not None
    figure, scale = f"success:{metric}", points(metric)
    rows = _Rows()
    cards = Scorecards(contract, lambda: playbooks, rows, UnlimitedLedger(), budget=1e9)
    truth = 100 * uplift
    found = Interval()
    for _ in range(runs):
        rows.rows = people(pick, n, actions, uplift, metric)
        card = cards.release(ANALYST, journey, 0, 10**12, epsilon, now=datetime.now(UTC))
        up = next((u for u in card.uplifts if u.figure == figure and u.playbook_version == 1), None)
        if up is None:  # an arm withheld as too small (few people, much noise): no interval
            continue  # counted as neither covered nor significant
        low, high = scale * up.low, scale * up.high
        found.covered += low <= truth <= high
        found.significant += low > 0 or high < 0
        found.widths.append(high - low)
    return found


@dataclass
class Detection:
    at_sample: int = 0  # breached when version 2 first had the declared sample
    by_four: int = 0  # breached by four times the declared sample
    samples: list[int] = field(default_factory=list)  # version 2 decisions at detection


def guard_runs(contract: Contract, runs: int, harm: float, pick: random.Random) -> Detection:
    spec = contract.journeys[JOURNEY]
    least = spec.guard_min_sample

    def decision(i: int, version: int, complaint: float) -> ScoredDecision:
        report = OutcomeReport(complaint=pick.random() < complaint)
        return ScoredDecision(f"p{i:07d}", version, "treatment", "a", "none", i, report)

    found = Detection()
    for _ in range(runs):
        rows = [decision(i, 1, BASE_COMPLAINT) for i in range(least)]
        live = [decision(least + i, 2, BASE_COMPLAINT + harm) for i in range(4 * least)]
        for seen in range(least, 4 * least + 1, CHECK_EVERY):
            if check(spec.guards, rows + live[:seen], 2, min_sample=least,
                     significance=spec.guard_significance):  # fmt: skip
                found.at_sample += seen == least
                found.by_four += 1
                found.samples.append(seen)
                break
    return found


def _binomial_slack(p: float, runs: int) -> float:
    return 2 * math.sqrt(p * (1 - p) / runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--people", type=int, default=5_000)
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument(
        "--journeys",
        default="",
        help="comma-separated journeys whose interval to check (default: every one with a"
        " success metric)",
    )
    parser.add_argument(
        "--guards-only", action="store_true", help="only the guardrail scenarios (no intervals)"
    )
    parser.add_argument(
        "--guard-min-sample",
        type=int,
        default=0,
        help="what if checkout_recovery declared this guard_min_sample (default: as declared)",
    )
    parser.add_argument(
        "--guard-significance",
        type=float,
        default=0.0,
        help="what if it declared this guard_significance (default: as declared)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runs, n, epsilon = args.runs, args.people, args.epsilon
    contract = load_contract(EXAMPLE_CONTRACT)
    spec = contract.journeys[JOURNEY]
    spec = replace(
        spec,
        guard_min_sample=args.guard_min_sample or spec.guard_min_sample,
        guard_significance=args.guard_significance or spec.guard_significance,
    )
    contract = replace(contract, journeys={**contract.journeys, JOURNEY: spec})
    pick = random.Random(args.seed)
    started = time.perf_counter()
    journeys = [j for j in args.journeys.split(",") if j] or [
        JOURNEY,
        *(j for j, s in contract.journeys.items() if s.success_metric and j != JOURNEY),
    ]
    if args.guards_only:
        journeys = []
    checked = [
        (
            j,
            intervals(contract, j, runs, n, TRUE_UPLIFT, epsilon, pick),
            intervals(contract, j, runs, n, 0.0, epsilon, pick),
        )
        for j in journeys
    ]
    harmful = guard_runs(contract, runs, HARM, pick)
    harmless = guard_runs(contract, runs, 0.0, pick)
    threshold = spec.guards[Guard.COMPLAINT]
    boundary = guard_runs(contract, runs, threshold, pick)
    seconds = time.perf_counter() - started

    detected = harmful.at_sample / runs
    fp_limit = ERROR_RATE + _binomial_slack(ERROR_RATE, runs)
    sample = spec.guard_min_sample
    level = spec.guard_significance
    size_limit = level + _binomial_slack(level, runs)
    table: list[dict[str, object]] = []
    for journey, effect, null in checked:
        coverage = effect.covered / runs
        false_positive = null.significant / runs
        metric = contract.journeys[journey].success_metric
        table += [
            {
                "scenario": f"uplift +10 points ({journey}, {metric})",
                "journey": journey,
                "runs": runs,
                "people": n,
                "epsilon": epsilon,
                "measure": "interval covers +10",
                "value": round(coverage, 3),
                "target": f"{COVERAGE_TARGET:.0%} +/- {COVERAGE_SLACK:.0%}",
                "met": abs(coverage - COVERAGE_TARGET) <= COVERAGE_SLACK,
                "median_width_points": round(statistics.median(effect.widths), 2),
                "called_significant": round(effect.significant / runs, 3),
            },
            {
                "scenario": f"null 0 points ({journey})",
                "journey": journey,
                "runs": runs,
                "people": n,
                "epsilon": epsilon,
                "measure": "interval excludes 0",
                "value": round(false_positive, 3),
                "target": f"<= {fp_limit:.1%}",
                "met": false_positive <= fp_limit,
                "median_width_points": round(statistics.median(null.widths), 2),
            },
        ]
    table += [
        {
            "scenario": f"harmful v2 (complaints +{HARM * 100:.0f} points)",
            "runs": runs,
            "people": 5 * sample,
            "epsilon": None,
            "measure": f"rolled back at {sample} decisions",
            "value": round(detected, 3),
            "target": ">= 95%",
            "met": detected >= 0.95,
            "by_four_times": round(harmful.by_four / runs, 3),
            "median_sample_at_detection": (
                statistics.median(harmful.samples) if harmful.samples else None
            ),
            "journey": JOURNEY,
        },
        {
            "scenario": "harmless v2 (complaints +0)",
            "runs": runs,
            "people": 5 * sample,
            "epsilon": None,
            "measure": f"rolled back at {sample} decisions",
            "value": round(harmless.at_sample / runs, 3),
            "target": f"<= {HARMLESS_TARGET:.0%}",
            "met": harmless.at_sample / runs <= HARMLESS_TARGET,
            "by_four_times": round(harmless.by_four / runs, 3),
            "journey": JOURNEY,
        },
        {
            "scenario": f"v2 at the threshold (complaints +{threshold * 100:.0f} points)",
            "runs": runs,
            "people": 5 * sample,
            "epsilon": None,
            "measure": f"rolled back at {sample} decisions",
            "value": round(boundary.at_sample / runs, 3),
            "target": f"<= {size_limit:.1%}",
            "met": boundary.at_sample / runs <= size_limit,
            "by_four_times": round(boundary.by_four / runs, 3),
            "journey": JOURNEY,
        },
    ]
    if args.json:
        print(json.dumps({"seconds": round(seconds, 1), "table": table}))
        return 0
    guards = ", ".join(f"{g} +{t:.0%}" for g, t in spec.guards.items())
    print(
        f"{runs} runs of {n:,} people a journey (holdouts {GLOBAL_HOLDOUT:.0%} global +"
        f" {JOURNEY_HOLDOUT:.0%} journey); the guard on {JOURNEY}: {guards},"
        f" guard_min_sample {sample}, guard_significance {level:g}; seed {args.seed},"
        f" {seconds:.1f} s"
    )
    print()
    print("| scenario | runs | people | epsilon | measure | value | target | met |")
    print("|---|---|---|---|---|---|---|---|")
    for row in table:
        met = "-" if row["met"] is None else ("met" if row["met"] else "MISSED")
        eps = "-" if row["epsilon"] is None else row["epsilon"]
        print(
            f"| {row['scenario']} | {row['runs']} | {row['people']:,} | {eps} |"
            f" {row['measure']} | {row['value']:.1%} | {row['target']} | {met} |"
        )
    print()
    for journey, effect, null in checked:
        print(
            f"{journey}: median 95 % interval width {statistics.median(effect.widths):.2f}"
            f" points (uplift), {statistics.median(null.widths):.2f} (null); the +10 uplift"
            f" called significant in {effect.significant / runs:.1%} of runs"
        )
    print(
        f"harmful v2: rolled back by {4 * sample} decisions in {harmful.by_four / runs:.1%}"
        f" of runs, median sample at detection"
        f" {statistics.median(harmful.samples) if harmful.samples else '-'};"
        f" harmless v2 rolled back by {4 * sample} in {harmless.by_four / runs:.1%};"
        f" v2 at the threshold by {4 * sample} in {boundary.by_four / runs:.1%}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
