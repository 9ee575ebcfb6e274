"""`tactful journeys status|promote|rollback|guard`: which version of each playbook is
live (and which is staged, at what share), and changing it. A promotion, a staging, a
change of share or a rollback is recorded in the access log, with its reason, before
the version changes; running servers follow without a restart (the files, or on
PostgreSQL the database: the engine's ReleaseStore, app/stores.py). `guard` (for
cron, like the retention job) rolls back a version that breaches its journey's
guardrails (journeys/guards.py), exact counts read where it runs: the staged version
against the live one when one is staged, else the live one against the one before."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tactful.app import receipts, stores
from tactful.app.settings import Settings
from tactful.cli.job_metrics import job_report, metrics_file_option
from tactful.cli.report import emit, json_option, say
from tactful.journeys.errors import PlaybookError
from tactful.journeys.guards import check, sides
from tactful.journeys.release_store import ReleaseStore
from tactful.journeys.releases import (
    Release,
    Staging,
    check_candidate,
    check_staged,
    complete,
    history,
    live,
    promote,
    refuse_while_staged,
    rollback,
    stage,
    staged,
    widen,
)
from tactful.journeys.staging import share_problems
from tactful.privacy.contract import Contract, load_contract, parse_duration
from tactful.privacy.suggestions import hint
from tactful.timestamps import to_us


def register(
    group: Any,
    settings_of: Callable[[argparse.Namespace], Settings],
    config_option: Callable[[argparse.ArgumentParser], None],
) -> None:
    status = group.add_parser(
        "status",
        help="each journey's live playbook (version, content hash, owner, changes) and the "
        "staged one with its share",
    )
    status.add_argument("journey", nargs="?", help="one journey (default: all)")
    promote_ = group.add_parser(
        "promote",
        help="make FILE the journey's live playbook (it must check, pass its cases and raise "
        "the version), or with --share stage it for that share of the treatment arm first; "
        "the live one is kept for a rollback; recorded in the access log",
    )
    promote_.add_argument("journey", help="the journey's name, as the contract declares it")
    promote_.add_argument(
        "file", type=Path, nargs="?", help="the new version (none: change the staged one)"
    )
    how = promote_.add_mutually_exclusive_group()
    how.add_argument(
        "--share",
        type=_share,
        help="serve FILE to this share of the treatment arm (0 < SHARE < 1), the live version "
        "to the rest; without FILE: change the staged version's share",
    )
    how.add_argument(
        "--complete", action="store_true", help="make the staged version live for everyone"
    )
    rollback_ = group.add_parser(
        "rollback",
        help="withdraw the staged version, or with none staged make the version before the "
        "live one live again; recorded in the access log",
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
    guard.add_argument("--window", default="30d", help="decisions this recent (default: 30d)")
    guard.add_argument("--dry-run", action="store_true", help="say what breaches; change nothing")
    for command in (status, promote_, rollback_, guard):
        config_option(command)
        json_option(command)
    guard.set_defaults(run=lambda args: _guard(settings_of(args), args))
    metrics_file_option(guard, "journeys_guard", success_codes=(0, 1))  # 1: rolled back
    status.set_defaults(run=lambda args: _status(settings_of(args), args))
    promote_.set_defaults(run=lambda args: _promote(settings_of(args), args))
    rollback_.set_defaults(run=lambda args: _rollback(settings_of(args), args))


def _journeys(contract: Contract, journey: str | None) -> list[str]:
    if journey is None:
        return sorted(contract.journeys)
    if journey not in contract.journeys:
        raise SystemExit(f"tactful: no journey {journey!r}; {hint(journey, contract.journeys)}")
    return [journey]


def _share(text: str) -> float:
    try:
        share = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    problems = share_problems(share)
    if problems:
        raise argparse.ArgumentTypeError(problems[0])
    return share


@contextlib.contextmanager
def _releases(settings: Settings) -> Iterator[tuple[Contract, ReleaseStore]]:
    """The contract, and where the engine keeps the journeys' versions."""
    contract = load_contract(settings.contract)
    store = stores.open_releases(settings, contract, listen=False)
    try:
        yield contract, store
    finally:
        store.close()


def _status(settings: Settings, args: argparse.Namespace) -> int:
    with _releases(settings) as (contract, store):
        shown = [_status_of(args, contract, n, store) for n in _journeys(contract, args.journey)]
    emit(args, {"journeys": shown})
    return 0


def _status_of(
    args: argparse.Namespace, contract: Contract, name: str, store: ReleaseStore
) -> dict[str, Any]:
    version = live(contract, name, store)
    kept = [v.version for v in history(contract, name, store)]
    older = ", ".join(f"v{v}" for v in kept) or "none"
    say(args, f"{name}: version {version.version} ({version.content_hash[:19]}), "
              f"owner {version.owner}; kept for rollback: {older}")  # fmt: skip
    if version.changes:
        say(args, f"  changes: {version.changes}")
    staging = staged(contract, name, store)
    shown = {"journey": name, "live": _version(version), "kept_for_rollback": kept,
             "staged": None}  # fmt: skip
    if staging is not None:
        say(args, f"  staged: version {staging.version.version} "
                  f"({staging.version.content_hash[:19]}), owner {staging.version.owner}, "
                  f"serving {staging.share:g} of the treatment arm")  # fmt: skip
        if staging.version.changes:
            say(args, f"    changes: {staging.version.changes}")
        shown["staged"] = {**_version(staging.version), "share": staging.share}
    return shown


def _version(version: Any) -> dict[str, Any]:
    return {"version": version.version, "content_hash": version.content_hash,
            "owner": version.owner, "changes": version.changes}  # fmt: skip


def _promote(settings: Settings, args: argparse.Namespace) -> int:
    with _releases(settings) as (contract, store):
        emit(args, _promote_in(settings, args, contract, store))
    return 0


def _promote_in(
    settings: Settings, args: argparse.Namespace, contract: Contract, store: ReleaseStore
) -> dict[str, Any]:
    journey, file, share = args.journey, args.file, args.share
    _journeys(contract, journey)
    if file is None and share is None and not args.complete:
        raise SystemExit(
            "tactful: journeys promote: give FILE (with --share to stage it), or, for the "
            "staged version, --share alone (to change its share) or --complete"
        )
    if file is not None and args.complete:
        raise SystemExit("tactful: journeys promote: --complete takes no FILE")
    current = staged(contract, journey, store)
    before = live(contract, journey, store)
    if file is not None:  # checked before the record: a refusal leaves none
        refuse_while_staged(contract, journey, "promote or stage another version", store)
        candidate = check_candidate(contract, journey, file, store)
        if share is None:
            _record(settings, "promote", journey, before.version, candidate.version, args.reason)
            return _said(args, "promoted", promote(contract, journey, file, store))
        _record(settings, "promote", journey, before.version, candidate.version,
                args.reason, f"staged at share {share:g}")  # fmt: skip
        return _staged(args, "staged", stage(contract, journey, file, share, store))
    elif current is None:
        raise SystemExit(f"tactful: no version of {journey} is staged; stage one with FILE --share")
    elif args.complete:
        check_staged(contract, journey, store)
        _record(settings, "promote", journey, before.version, current.version.version,
                args.reason, f"completed from share {current.share:g}")  # fmt: skip
        return _said(args, "promoted", complete(contract, journey, store))
    _record(settings, "promote", journey, before.version, current.version.version,
            args.reason, f"staged, share {current.share:g} -> {share:g}")  # fmt: skip
    return _staged(args, "staged", widen(contract, journey, share, store)[1])


def _rollback(settings: Settings, args: argparse.Namespace) -> int:
    with _releases(settings) as (contract, store):
        _journeys(contract, args.journey)
        _record_rollback(settings, contract, store, "rollback", args.journey, args.reason)
        emit(args, _said(args, "rolled back", rollback(contract, args.journey, store)))
    return 0


def _record_rollback(
    settings: Settings, contract: Contract, store: ReleaseStore, action: str, journey: str,
    reason: str,
) -> None:  # fmt: skip
    """The record of a rollback, before it: what it withdraws or restores."""
    current = live(contract, journey, store)
    try:
        withdrawn = staged(contract, journey, store)
    except PlaybookError as exc:
        _record(settings, action, journey, current.version, current.version, reason,
                f"a staging that does not read, withdrawn: {exc}")  # fmt: skip
        return
    if withdrawn is not None:
        _record(settings, action, journey, withdrawn.version.version, current.version,
                reason, f"staged at share {withdrawn.share:g}, withdrawn")  # fmt: skip
        return
    older = [v for v in history(contract, journey, store) if v.version < current.version]
    target = older[0].version if older else current.version
    _record(settings, action, journey, current.version, target, reason)


def _record(settings: Settings, action: str, journey: str, before: int, after: int,
            reason: str, how: str = "") -> None:  # fmt: skip
    change = f"version {before} -> {after}" + (f" ({how})" if how else "")
    receipts.record_in(
        settings, "journeys", action, role="admin", now=datetime.now(UTC),
        reason=f"journey {journey}: {change}: {reason}",
    )  # fmt: skip


def _staged(args: argparse.Namespace, what: str, staging: Staging) -> dict[str, Any]:
    say(args, f"{staging.journey}: {what} version {staging.version.version} "
          f"({staging.version.content_hash[:19]}) for {staging.share:g} of the treatment "
          "arm; the live version serves the rest; servers follow without a restart")  # fmt: skip
    return {"journey": staging.journey, "done": what, "staged": _version(staging.version),
            "share": staging.share}  # fmt: skip


def _said(args: argparse.Namespace, what: str, release: Release) -> dict[str, Any]:
    say(args, f"{release.journey}: {what} from version {release.before.version} to "
          f"{release.after.version} ({release.after.content_hash[:19]}); servers follow "
          "without a restart")  # fmt: skip
    return {"journey": release.journey, "done": what, "from": _version(release.before),
            "to": _version(release.after)}  # fmt: skip


def _guard(settings: Settings, args: argparse.Namespace) -> int:
    contract = load_contract(settings.contract)
    names = [n for n in _journeys(contract, args.journey) if contract.journeys[n].guards]
    now = datetime.now(UTC)
    try:
        window = parse_duration(args.window)
    except ValueError as exc:
        raise SystemExit(f"tactful: --window: {exc}") from None
    outcomes = stores.open_journey_outcomes(settings)
    releases = stores.open_releases(settings, contract, listen=False)
    rolled, report, shown = 0, job_report(args), []
    try:
        for name in names:
            spec, staging = contract.journeys[name], staged(contract, name, releases)
            # A staged version is judged against the live one (the newest before it),
            # and withdrawn on a breach; otherwise the live one against the one before.
            judged = live(contract, name, releases) if staging is None else staging.version
            decisions = outcomes.scored(name, to_us(now - window), to_us(now))
            which = "staged version" if staging is not None else "version"
            sample = sides(decisions, judged.version, min_sample=spec.guard_min_sample)
            report.guards_checked[name] = len(spec.guards) if sample else 0
            report.rollbacks[name] = 0
            breaches = check(spec.guards, decisions, judged.version,
                             min_sample=spec.guard_min_sample,
                             significance=spec.guard_significance)  # fmt: skip
            broken = [b.describe() for b in breaches] if sample else []
            judgement = {"journey": name, "staged": staging is not None,
                         "version": judged.version, "breaches": broken}  # fmt: skip
            shown.append(judgement)
            if not sample:
                judgement["outcome"] = "not_judged"
                say(args, f"{name}: {which} {judged.version} not judged yet (it and the "
                          f"version before it need {spec.guard_min_sample} treated decisions "
                          "each in the window)")  # fmt: skip
                continue
            if not breaches:
                judgement["outcome"] = "within_guardrails"
                say(args, f"{name}: {which} {judged.version} within its guardrails")
                continue
            why = "; ".join(b.describe() for b in breaches)
            if args.dry_run:
                judgement["outcome"] = "would_roll_back"
                say(args, f"{name}: would roll back {which} {judged.version}: {why}")
                continue
            _record_rollback(settings, contract, releases, "guard", name, f"guardrail: {why}")
            _said(args, "rolled back", rollback(contract, name, releases))
            say(args, f"  because {why}")
            judgement["outcome"] = "rolled_back"
            rolled += 1
            report.rollbacks[name] = 1
    finally:
        releases.close()
        outcomes.close()
    emit(args, {"journeys": shown, "rolled_back": rolled})
    return 1 if rolled else 0
