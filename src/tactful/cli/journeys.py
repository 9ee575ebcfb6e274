"""`tactful journeys …`: a product owner's and a compliance officer's view of the
journeys the contract declares: run the playbooks' release gates (`test`), read a
playbook in words (`explain`); neither touches a store. And an analyst's: which arm
one person is in (`arm`), from the keyring's holdout key, recorded in the access log."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tactful.app import receipts
from tactful.app.settings import Settings
from tactful.cli import journey_releases
from tactful.cli.report import emit, json_option, say
from tactful.journeys.catalogue import load_journey
from tactful.journeys.describe import describe_playbook
from tactful.journeys.gates import run_cases
from tactful.journeys.holdout import Holdouts
from tactful.privacy.contract import Contract, load_contract
from tactful.privacy.errors import KeyringError
from tactful.privacy.keyring import load_keyring
from tactful.privacy.pseudonym import Pseudonymizer, normalize
from tactful.privacy.suggestions import hint


def register(
    commands: Any,
    settings_of: Callable[[argparse.Namespace], Settings],
    config_option: Callable[[argparse.ArgumentParser], None],
) -> None:
    journeys = commands.add_parser(
        "journeys",
        help="the journeys' playbooks: release gates, explanations, versions and rollback",
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
    arm = group.add_parser(
        "arm",
        help="which arm one person is in on a journey: treatment, journey_holdout or "
        "global_holdout (recorded in the access log)",
    )
    arm.add_argument("journey", help="the journey's name, as the contract declares it")
    arm.add_argument(
        "--namespace", required=True, help="the identifier's namespace: email, customer_id, …"
    )
    arm.add_argument(
        "--id", required=True, dest="identifier", help="the person's identifier in that namespace"
    )
    for command in (test, explain):
        command.add_argument(
            "--file", type=Path, help="the contract file (default: the configured one)"
        )
        config_option(command)
    config_option(arm)
    for command in (test, explain, arm):
        json_option(command)
    test.set_defaults(run=lambda args: _test(_contract(settings_of, args), args))
    explain.set_defaults(run=lambda args: _explain(_contract(settings_of, args), args))
    arm.set_defaults(run=lambda args: _arm(settings_of(args), args))
    journey_releases.register(group, settings_of, config_option)


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
    print(f"tactful: no journey {journey!r}; {hint(journey, contract.journeys)}", file=sys.stderr)
    return None


def _test(contract: Contract, args: argparse.Namespace) -> int:
    names = _named(contract, args.journey)
    if names is None:
        return 1
    failed = total = 0
    shown = []
    for name in names:
        playbook = load_journey(contract, name, gates=False)
        say(args, f"{name} (version {playbook.version}, {playbook.source})")
        cases = []
        for result in run_cases(playbook, contract):
            say(args, f"  {result.describe()}")
            cases.append({"case": result.case.name, "passed": result.passed,
                          "result": result.describe()})  # fmt: skip
            total += 1
            failed += not result.passed
        shown.append({"journey": name, "version": playbook.version,
                      "source": str(playbook.source), "cases": cases})  # fmt: skip
    say(args, f"{total - failed} of {total} cases passed")
    emit(args, {"journeys": shown, "passed": total - failed, "total": total})
    return 1 if failed else 0


def _explain(contract: Contract, args: argparse.Namespace) -> int:
    names = _named(contract, args.journey)
    if names is None:
        return 1
    text = describe_playbook(load_journey(contract, args.journey, gates=False), contract)
    say(args, text, end="")
    emit(args, {"journey": args.journey, "explanation": text})
    return 0


def _arm(settings: Settings, args: argparse.Namespace) -> int:
    contract = load_contract(settings.contract)
    if _named(contract, args.journey) is None:
        return 1
    normalized = normalize(args.namespace, args.identifier)
    keyring = load_keyring(settings.keyring_path)
    if keyring.holdout is None:
        raise KeyringError("no holdout key; run `tactful keys upgrade` to add it")
    arm = Holdouts(contract, keyring.holdout).arm(args.journey, args.namespace, normalized)
    pseudonym = Pseudonymizer(keyring.pseudonym).pseudonymize(args.namespace, normalized)
    with receipts.opened_log(settings) as log:  # recorded before it is printed
        receipts.record(
            log, "journeys", "arm", role="analyst", now=datetime.now(UTC), subject=pseudonym,
            reason=f"journey {args.journey}", reads=True,
        )  # fmt: skip
    say(args, str(arm))
    emit(args, {"journey": args.journey, "arm": str(arm)})
    return 0
