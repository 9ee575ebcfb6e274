"""`tactful journeys status|promote|rollback|guard`: which version of each playbook is
live, and changing it. A promotion or a rollback is recorded in the access log, with
its reason, before the file changes; running servers follow the file without a
restart. `guard` (for cron, like the retention job) rolls back a version that breaches
its journey's guardrails (journeys/guards.py), exact counts read where it runs."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tactful.app import receipts, stores
from tactful.app.settings import Settings
from tactful.cli.job_metrics import job_report, metrics_file_option
from tactful.journeys.guards import check, sides
from tactful.journeys.releases import Release, check_candidate, history, live, promote, rollback
from tactful.privacy.contract import Contract, load_contract, parse_duration
from tactful.timestamps import to_us


def register(
    group: Any,
    settings_of: Callable[[argparse.Namespace], Settings],
    config_option: Callable[[argparse.ArgumentParser], None],
) -> None:
    status = group.add_parser(
        "status", help="each journey's live playbook: version, content hash, owner, changes"
    )
    status.add_argument("journey", nargs="?", help="one journey (default: all)")
    promote_ = group.add_parser(
        "promote",
        help="make FILE the journey's live playbook (it must check, pass its cases and raise "
        "the version); the live one is kept for a rollback; recorded in the access log",
    )
    promote_.add_argument("journey", help="the journey's name, as the contract declares it")
    promote_.add_argument("file", type=Path, help="the new version of the playbook")
    rollback_ = group.add_parser(
        "rollback",
        help="make the version before the live one live again; recorded in the access log",
    )
    rollback_.add_argument("journey", help="the journey's name, as the contract declares it")
    for command in (promote_, rollback_):
        command.add_argument("--reason", required=True, help="why, for the access log")
    guard = group.add_parser(
        "guard",
        help="roll back each journey whose live version breaches its guardrails against the "
        "version before it (for cron); exit 1 when one was rolled back",
    )
    guard.add_argument("journey", nargs="?", help="one journey (default: all with guards)")
    guard.add_argument("--window", default="30d", help='decisions this recent (default "30d")')
    guard.add_argument("--dry-run", action="store_true", help="say what breaches; change nothing")
    for command in (status, promote_, rollback_, guard):
        config_option(command)
    guard.set_defaults(run=lambda args: _guard(settings_of(args), args))
    metrics_file_option(guard, "journeys_guard", success_codes=(0, 1))  # 1: rolled back
    status.set_defaults(run=lambda args: _status(settings_of(args), args.journey))
    promote_.set_defaults(run=lambda args: _promote(settings_of(args), args))
    rollback_.set_defaults(run=lambda args: _rollback(settings_of(args), args))


def _journeys(contract: Contract, journey: str | None) -> list[str]:
    if journey is None:
        return sorted(contract.journeys)
    if journey not in contract.journeys:
        declared = ", ".join(sorted(contract.journeys)) or "none"
        raise SystemExit(f"tactful: no journey {journey!r}; declared: {declared}")
    return [journey]


def _status(settings: Settings, journey: str | None) -> int:
    contract = load_contract(settings.contract)
    for name in _journeys(contract, journey):
        version = live(contract, name)
        older = ", ".join(f"v{v.version}" for v in history(contract, name)) or "none"
        print(f"{name}: version {version.version} ({version.content_hash[:19]}), "
              f"owner {version.owner}; kept for rollback: {older}")  # fmt: skip
        if version.changes:
            print(f"  changes: {version.changes}")
    return 0


def _promote(settings: Settings, args: argparse.Namespace) -> int:
    contract = load_contract(settings.contract)
    _journeys(contract, args.journey)
    candidate = check_candidate(contract, args.journey, args.file)  # before the record
    before = live(contract, args.journey)
    _record(settings, "promote", args.journey, before.version, candidate.version, args.reason)
    _said("promoted", promote(contract, args.journey, args.file))
    return 0


def _rollback(settings: Settings, args: argparse.Namespace) -> int:
    contract = load_contract(settings.contract)
    _journeys(contract, args.journey)
    current = live(contract, args.journey)
    older = [v for v in history(contract, args.journey) if v.version < current.version]
    target = older[0].version if older else current.version
    _record(settings, "rollback", args.journey, current.version, target, args.reason)
    _said("rolled back", rollback(contract, args.journey))
    return 0


def _record(settings: Settings, action: str, journey: str, before: int, after: int,
            reason: str) -> None:  # fmt: skip
    receipts.record_in(
        settings, "journeys", action, role="admin", now=datetime.now(UTC),
        reason=f"journey {journey}: version {before} -> {after}: {reason}",
    )  # fmt: skip


def _said(what: str, release: Release) -> None:
    print(f"{release.journey}: {what} from version {release.before.version} to "
          f"{release.after.version} ({release.after.content_hash[:19]}); servers follow "
          "the file without a restart")  # fmt: skip


def _guard(settings: Settings, args: argparse.Namespace) -> int:
    contract = load_contract(settings.contract)
    names = [n for n in _journeys(contract, args.journey) if contract.journeys[n].guards]
    now = datetime.now(UTC)
    try:
        window = parse_duration(args.window)
    except ValueError as exc:
        raise SystemExit(f"tactful: --window: {exc}") from None
    outcomes = stores.open_journey_outcomes(settings)
    rolled, report = 0, job_report(args)
    try:
        for name in names:
            spec, current = contract.journeys[name], live(contract, name)
            decisions = outcomes.scored(name, to_us(now - window), to_us(now))
            judged = sides(decisions, current.version, min_sample=spec.guard_min_sample)
            report.guards_checked[name] = len(spec.guards) if judged else 0
            report.rollbacks[name] = 0
            breaches = check(spec.guards, decisions, current.version,
                             min_sample=spec.guard_min_sample,
                             significance=spec.guard_significance)  # fmt: skip
            if not judged:
                print(f"{name}: version {current.version} not judged yet (it and the version "
                      f"before it need {spec.guard_min_sample} treated decisions each in the "
                      "window)")  # fmt: skip
                continue
            if not breaches:
                print(f"{name}: version {current.version} within its guardrails")
                continue
            why = "; ".join(b.describe() for b in breaches)
            if args.dry_run:
                print(f"{name}: would roll back version {current.version}: {why}")
                continue
            older = [v for v in history(contract, name) if v.version < current.version]
            target = older[0].version if older else current.version
            _record(settings, "guard", name, current.version, target, f"guardrail: {why}")
            _said("rolled back", rollback(contract, name))
            print(f"  because {why}")
            rolled += 1
            report.rollbacks[name] = 1
    finally:
        outcomes.close()
    return 1 if rolled else 0
