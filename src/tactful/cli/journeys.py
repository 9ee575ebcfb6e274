"""`tactful journeys …`: a product owner's and a compliance officer's view of the
journeys the contract declares: run the playbooks' release gates (`test`), read a
playbook in words (`explain`). Neither touches a store."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tactful.app.settings import Settings
from tactful.journeys.catalogue import load_journey
from tactful.journeys.describe import describe_playbook
from tactful.journeys.gates import run_cases
from tactful.privacy.contract import Contract, load_contract


def register(
    commands: Any,
    settings_of: Callable[[argparse.Namespace], Settings],
    config_option: Callable[[argparse.ArgumentParser], None],
) -> None:
    journeys = commands.add_parser(
        "journeys",
        help="the journeys' playbooks: release gates and plain-words explanations",
        description="The journeys the contract declares ([journeys.NAME] playbook = ...).",
    )
    group = journeys.add_subparsers(title="journeys commands", metavar="COMMAND")
    journeys.set_defaults(run=lambda _args: journeys.print_help() or 2)
    test = group.add_parser(
        "test",
        help="run the playbooks' test cases (the server refuses a playbook whose cases fail);"
        " exit 1 on any failure",
    )
    test.add_argument("journey", nargs="?", help="one journey (default: all)")
    explain = group.add_parser(
        "explain", help="a playbook as a compliance officer reads it: what, when, why, for whom"
    )
    explain.add_argument("journey", help="the journey's name, as the contract declares it")
    for command in (test, explain):
        command.add_argument("--file", type=Path, help="contract file (default: configured)")
        config_option(command)
    test.set_defaults(run=lambda args: _test(_contract(settings_of, args), args.journey))
    explain.set_defaults(run=lambda args: _explain(_contract(settings_of, args), args.journey))


def _contract(
    settings_of: Callable[[argparse.Namespace], Settings], args: argparse.Namespace
) -> Contract:
    if args.file:
        return load_contract(args.file)
    return load_contract(settings_of(args).contract)


def _named(contract: Contract, journey: str | None) -> list[str] | None:
    if journey is None:
        return sorted(contract.journeys)
    if journey in contract.journeys:
        return [journey]
    declared = ", ".join(sorted(contract.journeys)) or "none"
    print(f"tactful: no journey {journey!r}; declared: {declared}", file=sys.stderr)
    return None


def _test(contract: Contract, journey: str | None) -> int:
    names = _named(contract, journey)
    if names is None:
        return 1
    failed = total = 0
    for name in names:
        playbook = load_journey(contract, name, gates=False)
        print(f"{name} (version {playbook.version}, {playbook.source})")
        for result in run_cases(playbook, contract):
            print(f"  {result.describe()}")
            total += 1
            failed += not result.passed
    print(f"{total - failed} of {total} cases passed")
    return 1 if failed else 0


def _explain(contract: Contract, journey: str) -> int:
    names = _named(contract, journey)
    if names is None:
        return 1
    print(describe_playbook(load_journey(contract, journey, gates=False), contract), end="")
    return 0
