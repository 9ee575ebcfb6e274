"""How often the example journeys choose what a person who knows the business would
choose: labelled journeys (events → the expected action and rung) run through the same
pipeline as the release gates, accuracy printed per journey.

    python -m tactful.journeys.evaluate               # the held-out part
    python -m tactful.journeys.evaluate --tuning      # the part the playbooks were tuned on
    python -m tactful.journeys.evaluate --misses      # and each journey that went wrong

The fixtures (journeys/data/journey_fixtures.jsonl, one journey per line) were written
by hand from each journey's purpose and the issue's description of what a good agent
does, not from the playbooks' conditions; the line's `held_out` says which part it is
in. The playbooks were adjusted reading the tuning part only, so the held-out figure
is the honest one.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tactful.journeys.catalogue import load_journeys
from tactful.journeys.gates import CaseResult, run_case
from tactful.journeys.playbook import Case, CaseEvent, Playbook, Rung
from tactful.privacy.contract import Contract, load_contract

FIXTURES = Path(__file__).parent / "data" / "journey_fixtures.jsonl"
CONTRACT = Path(__file__).parents[1] / "app" / "examples" / "contract.toml"


@dataclass(frozen=True)
class Fixture:
    journey: str
    case: Case
    held_out: bool


@dataclass(frozen=True)
class Accuracy:
    journey: str
    results: tuple[CaseResult, ...]

    @property
    def actions(self) -> int:
        return sum(r.action == r.case.action for r in self.results)

    @property
    def rungs(self) -> int:
        return sum(r.rung is r.case.rung for r in self.results)


def load_fixtures(path: Path = FIXTURES) -> list[Fixture]:
    fixtures = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            fixtures.append(_fixture(json.loads(line), f"{path.name}:{number}"))
    return fixtures


def _fixture(raw: Mapping[str, Any], where: str) -> Fixture:
    try:
        events = tuple(CaseEvent(e["type"], e.get("attributes", {})) for e in raw["events"])
        case = Case(raw["name"], events, raw["expect"]["action"], Rung(raw["expect"]["rung"]))
        return Fixture(raw["journey"], case, bool(raw["held_out"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: not a journey fixture ({exc!r})") from None


def evaluate(
    fixtures: Sequence[Fixture], playbooks: Mapping[str, Playbook], contract: Contract
) -> list[Accuracy]:
    by_journey: dict[str, list[CaseResult]] = {}
    for fixture in fixtures:
        playbook = playbooks[fixture.journey]
        _check_events(fixture, playbook, contract)
        by_journey.setdefault(fixture.journey, []).append(
            run_case(playbook, contract, fixture.case)
        )
    return [Accuracy(name, tuple(results)) for name, results in sorted(by_journey.items())]


def _check_events(fixture: Fixture, playbook: Playbook, contract: Contract) -> None:
    collects = contract.purposes[playbook.purpose].collects
    for event in fixture.case.events:
        if event.type not in collects:
            raise ValueError(
                f"fixture {fixture.case.name!r}: purpose {playbook.purpose} does not collect "
                f"{event.type!r}"
            )


def report(results: Sequence[Accuracy], *, misses: bool = False) -> str:
    lines = [f"{'journey':24} {'journeys':>8} {'action':>8} {'rung':>8}"]
    total = actions = rungs = 0
    for accuracy in results:
        n = len(accuracy.results)
        total, actions, rungs = total + n, actions + accuracy.actions, rungs + accuracy.rungs
        lines.append(
            f"{accuracy.journey:24} {n:8} {accuracy.actions / n:8.1%} {accuracy.rungs / n:8.1%}"
        )
        if misses:
            lines += [f"    {r.describe()}" for r in accuracy.results if not r.passed]
    if total:
        lines.append(f"{'all':24} {total:8} {actions / total:8.1%} {rungs / total:8.1%}")
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tactful.journeys.evaluate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--tuning", action="store_true", help="the tuning part, not held out")
    parser.add_argument("--misses", action="store_true", help="list each journey that went wrong")
    parser.add_argument("--contract", type=Path, default=CONTRACT, help="default: the example")
    parser.add_argument("--fixtures", type=Path, default=FIXTURES)
    args = parser.parse_args(argv)
    contract = load_contract(args.contract)
    playbooks = load_journeys(contract)
    chosen = [f for f in load_fixtures(args.fixtures) if f.held_out is not args.tuning]
    part = "tuning" if args.tuning else "held-out"
    print(f"{len(chosen)} {part} journeys, {len(playbooks)} playbooks ({args.contract})")
    print(report(evaluate(chosen, playbooks, contract), misses=args.misses))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
