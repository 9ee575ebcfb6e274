"""Invariant: the privacy budget is never overdrawn, whoever races for it.

Releases go through `tactful.privacy.insights.Insights` (the overdraw rule is the domain's)
over the engine's ledger: from threads, each on a connection of its own, and from two
processes, as two servers sharing one ledger would.
"""

from __future__ import annotations

import math
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tactful.app.settings import EXAMPLE_CONTRACT, Settings
from tactful.privacy.contract import load_contract
from tactful.privacy.decisions import Actor
from tactful.privacy.errors import BudgetExhausted
from tactful.privacy.insights import BudgetLedger, Insights
from tests.conftest import T0
from tests.storage.engines import Engine, engine_named

ANALYST = Actor("analyst", frozenset({"analyst"}), frozenset({"analytics"}))
EPSILON = 0.1


class NoSegments:
    def segment_counts(self, purpose: str, now_us: int) -> dict[str, int]:
        return {}


def release_until_refused(ledger: BudgetLedger, budget: float, attempts: int) -> int:
    """Try `attempts` releases of EPSILON; how many were granted."""
    insights = Insights(load_contract(EXAMPLE_CONTRACT), NoSegments(), ledger, budget=budget)
    granted = 0
    for _ in range(attempts):
        try:
            insights.release_segment_sizes(ANALYST, "analytics", EPSILON, now=T0)
        except BudgetExhausted:
            continue
        granted += 1
    return granted


def test_threads_racing_on_their_own_connections_never_overdraw(
    engine: Engine, tmp_path: Path
) -> None:
    settings = engine.settings(tmp_path / "data")
    ledgers = [engine.open_ledger(settings) for _ in range(8)]
    start = threading.Barrier(len(ledgers))

    def race(ledger: BudgetLedger) -> int:
        start.wait()
        return release_until_refused(ledger, 1.0, attempts=4)

    try:
        with ThreadPoolExecutor(max_workers=len(ledgers)) as pool:
            granted = sum(pool.map(race, ledgers))
        assert granted == 10  # 1.0 / 0.1: all of the budget, and not one release more
        assert math.isclose(ledgers[0].spent("analyst"), 1.0)
    finally:
        for ledger in ledgers:
            ledger.close()


_both_started: Any = None  # in each process: the barrier both wait at before racing


def _wait_for_the_other(barrier: Any) -> None:
    global _both_started
    _both_started = barrier


def _process_releases(engine_name: str, settings: Settings, attempts: int) -> int:
    ledger = engine_named(engine_name).open_ledger(settings)
    _both_started.wait(timeout=60)
    try:
        return release_until_refused(ledger, 0.5, attempts)
    finally:
        ledger.close()


def test_two_processes_racing_never_overdraw(engine: Engine, tmp_path: Path) -> None:
    settings = engine.settings(tmp_path / "data")
    engine.open_ledger(settings).close()  # created once, as the first server would
    spawn = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=2,
        mp_context=spawn,
        initializer=_wait_for_the_other,
        initargs=(spawn.Barrier(2),),
    )
    with pool:
        runs = [pool.submit(_process_releases, engine.name, settings, 6) for _ in range(2)]
        granted = [run.result(timeout=60) for run in runs]
    assert sum(granted) == 5, granted  # 0.5 / 0.1, from 12 attempts
    ledger = engine.open_ledger(settings)
    try:
        assert math.isclose(ledger.spent("analyst"), 0.5)
    finally:
        ledger.close()
