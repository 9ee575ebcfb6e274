"""The scorecard's domain time over 1,000,000 scored decisions (target < 2 s).

Synthetic decisions on `support_triage` (its success metric: first contact
resolution), spread over the three arms, every action of the playbook and the
four rungs, several per person, in time order (as the outcome store reads them; rows
out of order add a sort of about half a second), each with a mix of reported outcomes. What is
timed is `Scorecards.release` alone, with OpenDP's noise and an in-memory budget
ledger: bounding each person to one decision, the sums of every statistic, the
noise, the figures and the uplifts. Reading the rows from a store is the outcome
store's to measure.

    .venv/bin/python bench/scorecard.py [--rows 1000000] [--people 250000] [--unordered] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a file, bench/ heads sys.path; make the repository importable as `bench.*`.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

from tactful.app.settings import EXAMPLE_CONTRACT  # noqa: E402
from tactful.journeys.catalogue import load_journeys  # noqa: E402
from tactful.journeys.outcomes import AgentVerdict, OutcomeReport, ScoredDecision  # noqa: E402
from tactful.journeys.scorecard import ARMS, Scorecards  # noqa: E402
from tactful.privacy.contract import load_contract  # noqa: E402
from tactful.privacy.decisions import Actor  # noqa: E402
from tactful.privacy.insights import Debit  # noqa: E402
from tactful.privacy.pending_records import PendingRecord  # noqa: E402

JOURNEY = "support_triage"
TARGET_S = 2.0
ANALYST = Actor("analyst", frozenset({"analyst"}), frozenset())


@dataclass
class _Tx:
    spent: float = 0.0
    added: list[Debit] = field(default_factory=list)

    def add(self, debit: Debit) -> None:
        self.added.append(debit)

    def keep_pending_record(self, record: PendingRecord) -> None:
        pass


class _Ledger:
    @contextmanager
    def transaction(self, principal: str) -> Iterator[_Tx]:
        yield _Tx()

    def spent(self, principal: str) -> float:
        return 0.0


@dataclass
class _Rows:
    rows: list[ScoredDecision]

    def scored(self, journey: str, since_us: int, until_us: int) -> list[ScoredDecision]:
        return self.rows


def synthetic(
    rows: int, people: int, actions: list[str], *, ordered: bool = True, seed: int = 22
) -> list[ScoredDecision]:
    pick = random.Random(seed)
    times = list(range(rows))
    if not ordered:
        pick.shuffle(times)
    reports = [
        OutcomeReport(
            resolved=pick.random() < 0.7,
            contained=pick.random() < 0.5,
            handed_off=pick.random() < 0.2,
            reopened=pick.random() < 0.1,
            complaint=pick.random() < 0.05,
            effort=pick.randint(1, 7),
            time_to_resolution_s=pick.uniform(0, 20_000),
            agent_verdict=pick.choice(list(AgentVerdict)),
        )
        for _ in range(512)
    ] + [OutcomeReport()] * 512  # half with nothing reported
    arms = [ARMS[0]] * 8 + [ARMS[1], ARMS[2]]
    rungs = ["none"] * 6 + ["clarify", "most_likely", "human"]
    return [
        ScoredDecision(
            f"hmac-sha256:v1:{pick.randrange(people):012d}",
            1,
            pick.choice(arms),
            pick.choice(actions),
            pick.choice(rungs),
            at,
            pick.choice(reports),
        )
        for at in times
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=250_000)
    parser.add_argument(
        "--unordered", action="store_true", help="rows out of time order (adds the sort)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    contract = load_contract(EXAMPLE_CONTRACT)
    playbooks = load_journeys(contract)
    actions = sorted(playbooks[JOURNEY].actions)
    rows = synthetic(args.rows, args.people, actions, ordered=not args.unordered)
    cards = Scorecards(contract, lambda: playbooks, _Rows(rows), _Ledger(), budget=10.0)
    started = time.perf_counter()
    card = cards.release(ANALYST, JOURNEY, 0, 10**12, 1.0, now=datetime.now(UTC))
    seconds = time.perf_counter() - started
    figures = {
        "rows": args.rows,
        "people": args.people,
        "in_time_order": not args.unordered,
        "groups": len(card.groups),
        "statistics": len(card.statistics),
        "seconds": round(seconds, 3),
        "target_s": TARGET_S,
        "ratio_to_target": round(seconds / TARGET_S, 3),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(
            f"scorecard over {args.rows:,} scored decisions ({args.people:,} people,"
            f" {len(card.statistics)} statistics, {len(card.groups)} groups):"
            f" {seconds:.3f} s (target < {TARGET_S} s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
