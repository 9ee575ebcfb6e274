"""`tactful subjects …`: data-subject requests (export, erasure), run on the server's
machine (authority comes from file access).

Each leaves its receipt in the access log, by pseudonym only, like an RPC would.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tactful.app import receipts
from tactful.app.domain import open_domain
from tactful.app.settings import Settings
from tactful.cli import audit as cli_audit
from tactful.cli import output as cli_output
from tactful.cli.report import emit, json_option, say
from tactful.privacy.decisions import Actor, Decision
from tactful.privacy.errors import StoreUnavailable
from tactful.privacy.pending_records import PendingRecord
from tactful.timestamps import to_us


def register(
    commands: Any,
    settings_of: Callable[[argparse.Namespace], Settings],
    config_option: Callable[[argparse.ArgumentParser], None],
) -> None:
    subjects = commands.add_parser(
        "subjects",
        help="export or erase one person (DSRs)",
        description="Data-subject requests: access and erasure.",
    )
    group = subjects.add_subparsers(title="subjects commands", metavar="COMMAND")
    subjects.set_defaults(run=lambda _args: subjects.print_help() or 2)
    erase = group.add_parser("erase", help="crypto-shred one person and delete their data")
    _subject_options(erase)
    erase.add_argument(
        "--suppress",
        action="store_true",
        help="keep a keyed tombstone that blocks collecting them again",
    )
    config_option(erase)
    json_option(erase)
    erase.set_defaults(run=lambda args: _erase(settings_of(args), args))
    export = group.add_parser("export", help="everything held about one person, as JSON")
    _subject_options(export)
    cli_audit.output_options(export)
    config_option(export)
    export.add_argument(
        "--json", action="store_true", help="accepted for uniformity: the export is always JSON"
    )
    export.set_defaults(run=lambda args: _export(settings_of(args), args))


def _subject_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--namespace", required=True, help="the identifier's namespace: email, customer_id, …"
    )
    parser.add_argument(
        "--id", required=True, dest="identifier", help="the person's identifier in that namespace"
    )


def _operator() -> Actor:
    return Actor(receipts.operator(), frozenset({"privacy_ops"}), frozenset())


def _erase(settings: Settings, args: argparse.Namespace) -> int:
    domain = open_domain(settings)
    now, request_id = datetime.now(UTC), uuid.uuid4().hex

    def owed(decision: Decision, pseudonym: str) -> PendingRecord:
        # Kept with the erasure's first write: if the receipt below is never written (the
        # log fails, the command is killed), the next server's recovery writes it.
        return PendingRecord(
            receipts.receipt(
                "subjects", "erase", role="privacy_ops", now=now, subject=pseudonym,
                reason=json.dumps({"suppressed": args.suppress}), request_id=request_id,
            )
        )  # fmt: skip

    try:
        erasure = domain.subjects.erase(
            _operator(), args.namespace, args.identifier, suppress=args.suppress, now=now,
            owed=owed,
        )  # fmt: skip
        reason = json.dumps({"deleted": erasure.deleted, "suppressed": args.suppress})
        receipts.record(
            domain.access_log,
            "subjects",
            "erase",
            role="privacy_ops",
            now=now,
            subject=erasure.subject,
            reason=reason,
            request_id=request_id,
        )
        with contextlib.suppress(StoreUnavailable):  # else the next recovery finds it recorded
            domain.store.drop_pending_records([(request_id, to_us(now))])
    finally:
        domain.close()
    for store, count in sorted(erasure.deleted.items()):
        say(args, f"{store}: {count} deleted")
    say(
        args,
        f"erased {erasure.subject}"
        + (" and suppressed further collection" if args.suppress else ""),
    )
    emit(
        args,
        {"subject": erasure.subject, "deleted": dict(erasure.deleted), "suppressed": args.suppress},
    )
    return 0


def _export(settings: Settings, args: argparse.Namespace) -> int:
    domain = open_domain(settings)
    now = datetime.now(UTC)
    try:
        export = domain.subjects.export(_operator(), args.namespace, args.identifier, now=now)
        text = json.dumps(export.document, ensure_ascii=False, indent=2, default=str) + "\n"
        with cli_output.output(args.output, force=args.force) as out:
            receipts.record(
                domain.access_log,
                "subjects",
                "export",
                role="privacy_ops",
                now=now,
                subject=export.subject,
                reason="export",
                reads=True,
            )
            out.write(text)
    finally:
        domain.close()
    if args.output:
        events = len(export.document["events"])
        print(f"exported {events} events to {args.output} (mode 0600)", file=sys.stderr)
    return 0
