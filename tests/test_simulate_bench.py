"""bench/simulate.py runs (three small runs, so it cannot rot) and its synthetic people
carry the true effect it claims."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

from bench import simulate
from tactful.app.settings import EXAMPLE_CONTRACT
from tactful.journeys.catalogue import load_journeys
from tactful.journeys.scorecard import Scorecards
from tactful.privacy.contract import load_contract
from tests.conftest import T0

ROOT = Path(__file__).resolve().parents[1]


def test_three_runs_print_the_coverage_table_as_json() -> None:
    done = subprocess.run(
        [sys.executable, "bench/simulate.py", "--runs", "3", "--people", "2000", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    table = json.loads(done.stdout)["table"]
    kinds = [row["scenario"].split()[0] for row in table]
    assert kinds == ["uplift", "null"] * 6 + ["harmful", "harmless", "v2"]
    assert len({row["journey"] for row in table}) == 6
    for row in table:
        assert row["runs"] == 3
        assert 0.0 <= row["value"] <= 1.0
        assert row["met"] in (True, False, None)


def test_the_guards_alone_at_the_declared_sample_and_significance() -> None:
    done = subprocess.run(
        [sys.executable, "bench/simulate.py", "--runs", "40", "--guards-only", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    harmful, harmless, boundary = json.loads(done.stdout)["table"]
    assert harmful["scenario"].startswith("harmful") and harmful["value"] >= 0.8
    assert harmless["scenario"].startswith("harmless") and harmless["value"] <= 0.05
    assert boundary["scenario"] == "v2 at the threshold (complaints +2 points)"
    assert boundary["measure"] == "rolled back at 400 decisions" and boundary["value"] <= 0.2


def test_the_synthetic_people_carry_the_true_uplift_and_the_holdout_shares() -> None:
    rows = simulate.people(random.Random(7), 40_000, ["a", "b"], simulate.TRUE_UPLIFT)

    def recovery(arms: set[str]) -> float:
        mine = [r for r in rows if r.arm in arms]
        return sum(r.report.recovered_amount == simulate.BASKET for r in mine) / len(mine)

    held = {"global_holdout", "journey_holdout"}
    held_share = sum(r.arm in held for r in rows) / len(rows)
    assert abs(held_share - 0.20) < 0.01
    uplift = recovery({"treatment"}) - recovery(held)
    assert abs(uplift - simulate.TRUE_UPLIFT) < 0.02
    assert {r.action for r in rows if r.arm == "treatment"} == {"a", "b"}


def test_on_every_journey_the_scorecard_without_noise_reads_the_true_uplift() -> None:
    contract = load_contract(EXAMPLE_CONTRACT)
    playbooks = load_journeys(contract)
    pick = random.Random(11)
    for journey, spec in contract.journeys.items():
        metric = spec.success_metric
        if metric is None:
            continue
        actions = sorted(playbooks[journey].actions)
        rows = simulate.people(pick, 20_000, actions, simulate.TRUE_UPLIFT, metric)
        cards = Scorecards(
            contract,
            lambda: playbooks,
            simulate._Rows(rows),
            simulate.UnlimitedLedger(),
            budget=1e9,
            noise=lambda counts, scale: list(counts),
        )
        card = cards.release(simulate.ANALYST, journey, 0, 10**12, 1.0, now=T0)
        up = next(u for u in card.uplifts if u.figure == f"success:{metric}")
        assert abs(up.difference * simulate.points(metric) - 10) < 2.5, journey
