"""`tactful retention …`: the retention job (for cron), run on the server's machine
(authority comes from file access). A run leaves its receipt in the access log.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tactful.app import receipts
from tactful.app.domain import Domain, open_domain
from tactful.app.settings import Settings
from tactful.cli.job_metrics import job_report, metrics_file_option
from tactful.cli.progress import progress_for
from tactful.cli.report import emit, json_option, say
from tactful.lifecycle.retention import Receipt, RetentionJob
from tactful.privacy.contract import parse_duration


def register(
    commands: Any,
    settings_of: Callable[[argparse.Namespace], Settings],
    config_option: Callable[[argparse.ArgumentParser], None],
) -> None:
    retention = commands.add_parser(
        "retention", help="purge expired data (for cron)", description="The retention job."
    )
    group = retention.add_subparsers(title="retention commands", metavar="COMMAND")
    retention.set_defaults(run=lambda _args: retention.print_help() or 2)
    run = group.add_parser(
        "run", help="delete data past each purpose's retention; leaves a receipt in the access log"
    )
    run.add_argument("--dry-run", action="store_true", help="report what would go; delete nothing")
    run.add_argument("--now", help="ISO 8601 time to count retention from (default: now)")
    config_option(run)
    json_option(run)
    run.set_defaults(run=lambda args: _retention_run(settings_of(args), args))
    metrics_file_option(run, "retention_run")
    verify = group.add_parser(
        "verify", help="exit 1, naming the purpose, if anything past its retention remains"
    )
    verify.add_argument("--now", help="ISO 8601 time to count retention from (default: now)")
    config_option(verify)
    json_option(verify)
    verify.set_defaults(run=lambda args: _retention_verify(settings_of(args), args))


def now_option(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"tactful: --now {text!r} is not ISO 8601") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _job(settings: Settings, domain: Domain) -> RetentionJob:
    return RetentionJob(
        domain.contract,
        domain.subject_data,
        domain.vault,
        parse_duration(settings.identity_retention),
    )


def _retention_run(settings: Settings, args: argparse.Namespace) -> int:
    now = now_option(args.now)
    domain = open_domain(settings)
    try:
        receipt = _job(settings, domain).run(
            now=now,
            dry_run=args.dry_run,
            progress=progress_for(sys.stderr, "retention"),
        )
        job_report(args).deleted.update(
            {
                "behavior.events": receipt.events_deleted(),
                "behavior.journey_memory": sum(receipt.journey_memory.values()),
                "behavior.journey_outcomes": sum(receipt.journey_outcomes.values()),
                "vault.identities": receipt.identities,
            }
        )
        if not args.dry_run:  # dated by the clock; the run's --now is inside the receipt
            receipts.record(
                domain.access_log,
                "retention",
                "run",
                role="admin",
                now=datetime.now(UTC),
                reason=json.dumps(receipt.as_dict(), sort_keys=True),
            )
    finally:
        domain.close()
    say(args, f"retention: {_summary(receipt)}")
    emit(args, receipt.as_dict())
    return 0


def _summary(receipt: Receipt) -> str:
    """What went, counted: the events an expired identity took with it included."""
    if receipt.dry_run:
        held = ", with the events they still hold" if receipt.identities else ""
        return (
            f"would delete {receipt.events_deleted()} events and "
            f"{receipt.identities} identities{held}"
        )
    along = receipt.with_identities.get("events", 0)
    with_them = f" ({along} of them with their expired identities)" if along else ""
    return (
        f"deleted {receipt.events_deleted()} events{with_them} and {receipt.identities} "
        "identities; receipt written to the access log"
    )


def _retention_verify(settings: Settings, args: argparse.Namespace) -> int:
    domain = open_domain(settings)
    try:
        remaining = _job(settings, domain).remaining(now=now_option(args.now))
    finally:
        domain.close()
    emit(args, {"past_retention": dict(remaining)})
    for purpose, count in remaining.items():
        say(
            args,
            f"retention: purpose {purpose} holds {count} events or remembered offers"
            " past its retention",
        )
    if remaining:
        return 1
    say(args, "retention: nothing past its retention")
    return 0
