"""The scorecard over 1,000,000 outcomes, read and released (target < 2 s).

A fresh store on the chosen engine is filled in bulk with `--rows` decisions on
`support_triage` (its success metric: first-contact resolution) by `--people` people,
in time order, spread over the three arms, every action of the playbook and the four
rungs, each with one outcome (a mix of resolved, contained, handed off, reopened,
complaint, effort, time to resolution and the agent's verdict; some fields not
reported, some times on a rounding half or beyond the cap). What is timed is the
whole of `Scorecards.release` as Insights.GetScorecard runs it: the store's read
(each person's latest decision, its outcomes merged, summed per cell), OpenDP's
noise, the figures and the uplifts; the budget ledger is in memory. `--runs` releases
are timed and the median is the figure, beside the CPU it took (this process's and,
on PostgreSQL, the database server's: on a machine shared with other work, the wall
time is not the read's alone). `--in-python` times the former read instead:
every decision read into Python (`scored`) and tallied there.

    .venv/bin/python bench/scorecard.py [--engine sqlite|postgresql] [--rows 1000000]
        [--people 250000] [--runs 5] [--in-python] [--profile FILE] [--json]

`--engine postgresql` starts a throwaway PostgreSQL cluster (tests/postgres_cluster.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a file, bench/ heads sys.path; make the repository importable as `bench.*`.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse  # noqa: E402
import cProfile  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import pstats  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from contextlib import ExitStack  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

from bench._report import describe_machine, machine, progress  # noqa: E402
from bench.simulate import UnlimitedLedger  # noqa: E402
from tactful.app import stores  # noqa: E402
from tactful.app.settings import EXAMPLE_CONTRACT, Settings  # noqa: E402
from tactful.journeys.catalogue import load_journeys  # noqa: E402
from tactful.journeys.scorecard import ARMS, Scorecards  # noqa: E402
from tactful.journeys.tallies import TalliedRows  # noqa: E402
from tactful.privacy.contract import load_contract  # noqa: E402
from tactful.privacy.decisions import Actor  # noqa: E402
from tactful.storage.journey_rows import COLUMNS as MEMORY  # noqa: E402
from tactful.storage.outcome_rows import COLUMNS as OUTCOMES  # noqa: E402

JOURNEY = "support_triage"
TARGET_S = 2.0
ANALYST = Actor("analyst", frozenset({"analyst"}), frozenset())
T0_US = 1_000_000


def _outcome_values(pick: random.Random) -> tuple[Any, ...]:
    """One outcome's report columns (REPORT_FIELDS' order)."""

    def flag(p: float) -> bool | None:
        return None if pick.random() < 0.2 else pick.random() < p

    return (
        flag(0.7), flag(0.5), flag(0.2), flag(0.1), None, None, flag(0.05), None,
        pick.choice([None, 1, 2, 3, 4, 5, 6, 7]),
        pick.choice([None, pick.uniform(0, 20_000), 2.5, 14_400.5]),
        None, pick.choice([None, "used", "changed", "rejected"]),
    )  # fmt: skip


def rows(count: int, people: int, actions: list[str]) -> tuple[list[tuple[Any, ...]], ...]:
    """`count` decisions in time order and one outcome each, as table rows."""
    pick = random.Random(22)
    reports = [_outcome_values(pick) for _ in range(1024)]
    arms = [ARMS[0]] * 8 + [ARMS[1], ARMS[2]]
    rungs = ["none"] * 6 + ["clarify", "most_likely", "human"]
    decisions, outcomes = [], []
    for i in range(count):
        decision_id = f"dec_{pick.getrandbits(128):032x}"  # as random as the engine's
        person = f"hmac-sha256:v1:{pick.randrange(people):012d}"
        decisions.append(
            (decision_id, person, JOURNEY, JOURNEY, pick.choice(actions), "kind",
             pick.choice(rungs), 1, T0_US + i, "offered", 0.0, pick.choice(arms))
        )  # fmt: skip
        outcomes.append(
            (decision_id, person, JOURNEY, JOURNEY, T0_US + i + 5, *pick.choice(reports))
        )
    return decisions, outcomes


def fill(settings: Settings, decisions: list[tuple[Any, ...]], outcomes: list[Any]) -> None:
    """The rows straight into the tables, in bulk (the stores write one at a time)."""
    if settings.storage_url:
        import psycopg

        with psycopg.connect(settings.storage_url) as conn, conn.cursor() as cur:
            for table, columns, values in (
                ("journey_memory", MEMORY, decisions),
                ("journey_outcomes", OUTCOMES, outcomes),
            ):
                with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in values:
                        copy.write_row(row)
            conn.execute("ANALYZE journey_memory")
            conn.execute("ANALYZE journey_outcomes")
        return
    import sqlite3

    with sqlite3.connect(settings.data_dir / "behavior.db") as conn:
        for table, columns, values in (
            ("journey_memory", MEMORY, decisions),
            ("journey_outcomes", OUTCOMES, outcomes),
        ):
            marks = ",".join("?" * len(values[0]))
            conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)
        conn.execute("ANALYZE")


def _settings(stack: ExitStack, engine: str) -> tuple[Settings, Callable[[], float]]:
    """The settings of a fresh store, and how much CPU its server has used (none on
    SQLite: the read runs in this process)."""
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
    if engine == "sqlite":
        return Settings(data_dir=folder), lambda: 0.0
    from tests.postgres_cluster import fresh_database, throwaway_cluster

    cluster = stack.enter_context(throwaway_cluster())
    urls = (fresh_database(cluster, "behavior"), fresh_database(cluster, "vault"))
    settings = Settings(storage_url=urls[0], vault_url=urls[1], data_dir=folder)
    stores.migrate(settings)
    assert cluster.data is not None
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    return settings, lambda: _cpu_of_tree(postmaster)


def _cpu_of_tree(parent: int) -> float:
    """The CPU seconds of `parent` (with its reaped children: PostgreSQL's parallel
    workers) and of its live children (the backends)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        pid, ppid = int(stat.parent.name), int(fields[1])
        if pid == parent:
            total += sum(map(int, fields[11:15]))  # utime, stime, cutime, cstime
        elif ppid == parent:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def measure(args: argparse.Namespace) -> dict[str, Any]:
    contract = load_contract(EXAMPLE_CONTRACT)
    playbooks = load_journeys(contract)
    with ExitStack() as stack:
        settings, server_cpu = _settings(stack, args.engine)
        memory = stores.open_journey_memory(settings)  # creates the tables on SQLite
        stack.callback(memory.close)
        outcomes = stores.open_journey_outcomes(settings)
        stack.callback(outcomes.close)
        progress(f"{args.engine}: writing {args.rows:,} decisions and outcomes ...")
        fill(settings, *rows(args.rows, args.people, sorted(playbooks[JOURNEY].actions)))
        source = TalliedRows(outcomes) if args.in_python else outcomes
        cards = Scorecards(contract, lambda: playbooks, source, UnlimitedLedger(), budget=1e9)
        profiler = cProfile.Profile() if args.profile else None
        seconds, cpu = [], []
        for run in range(args.runs):
            started, used = time.perf_counter(), time.process_time() + server_cpu()
            if profiler is not None and run == 0:
                profiler.enable()
            card = cards.release(ANALYST, JOURNEY, 0, 2**62, 1.0, now=datetime.now(UTC))
            if profiler is not None and run == 0:
                profiler.disable()
            seconds.append(time.perf_counter() - started)
            cpu.append(time.process_time() + server_cpu() - used)
            progress(f"{args.engine}: release {run + 1}: {seconds[-1]:.3f} s, {cpu[-1]:.3f} s CPU")
        if profiler is not None:
            profiler.dump_stats(args.profile)
    median = statistics.median(seconds)
    return {
        "benchmark": "scorecard",
        "engine": args.engine,
        "read": "in_python" if args.in_python else "tallied",
        "rows": args.rows,
        "people": args.people,
        "groups": len(card.groups),
        "statistics": len(card.statistics),
        "seconds": [round(s, 3) for s in seconds],
        "median_s": round(median, 3),
        # the CPU of this process and (on PostgreSQL) of the database server's processes
        "cpu_s": [round(s, 3) for s in cpu],
        "median_cpu_s": round(statistics.median(cpu), 3),
        "target_s": TARGET_S,
        "met": median < TARGET_S,
        "machine": machine(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rows", type=int, default=1_000_000, help="decisions (1,000,000)")
    parser.add_argument("--people", type=int, default=250_000, help="people (250,000)")
    parser.add_argument("--runs", type=int, default=5, help="releases timed (5): the median")
    parser.add_argument(
        "--in-python", action="store_true", help="time the former read: every decision in Python"
    )
    parser.add_argument("--profile", metavar="FILE", help="cProfile of the first release")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead")
    args = parser.parse_args()
    found = measure(args)
    if args.json:
        print(json.dumps(found))
        return 0
    print(
        f"scorecard of {JOURNEY} on {args.engine} over {args.rows:,} decisions with an outcome"
        f" each ({args.people:,} people, {found['statistics']} statistics,"
        f" {found['groups']} groups; {found['read']}): median {found['median_s']:.3f} s of"
        f" {args.runs} ({', '.join(f'{s:.3f}' for s in found['seconds'])}), CPU"
        f" {found['median_cpu_s']:.3f} s; target <"
        f" {TARGET_S:g} s: {'met' if found['met'] else 'MISSED'}. {describe_machine()}"
    )
    if args.profile:
        pstats.Stats(args.profile).sort_stats("cumulative").print_stats(15)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
