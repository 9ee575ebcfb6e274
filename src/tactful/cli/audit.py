"""`tactful audit …`: verify, query, export and truncate the access log."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from tactful.app import receipts, stores
from tactful.app.settings import Settings
from tactful.cli import audit_stream
from tactful.cli import output as cli_output
from tactful.cli.job_metrics import job_report, metrics_file_option
from tactful.cli.report import emit, json_option, say, wants_json
from tactful.privacy.access_log import RECORD_FIELDS, AccessQuery, AccessRecord, record_as_dict
from tactful.privacy.contract import load_contract, parse_duration
from tactful.privacy.errors import ContractError
from tactful.privacy.keyring import load_keyring
from tactful.privacy.pseudonym import Pseudonymizer
from tactful.privacy.suggestions import hint
from tactful.timestamps import duration_us, from_us, to_us

MAX_AHEAD_US = duration_us(timedelta(minutes=5))  # clock skew tolerated for `truncate --now`


def register(
    commands: Any,
    settings_of: Callable[[argparse.Namespace], Settings],
    config_option: Callable[[argparse.ArgumentParser], None],
) -> None:
    parser = commands.add_parser(
        "audit",
        help="the access log: verify, query, export, stream, truncate",
        description="The tamper-evident access log, for compliance.",
    )
    audit = parser.add_subparsers(title="audit commands", metavar="COMMAND")
    parser.set_defaults(run=lambda _args: parser.print_help() or 2)

    verify = audit.add_parser(
        "verify",
        help="recompute the chain and checkpoints; exit 1 if "
        "anything was altered, naming the first bad record",
    )
    verify.add_argument(
        "--checkpoints",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="another host's checkpoint file to check the database's epochs against "
        "(PostgreSQL, where each signing host keeps its own; repeat for every host)",
    )
    config_option(verify)
    json_option(verify)
    verify.set_defaults(run=lambda args: _verify(settings_of(args), args))

    query = audit.add_parser("query", help="records matching filters, one JSON line each")
    _filters(query)
    query.add_argument("--limit", type=int, default=100, help="at most this many (default: 100)")
    config_option(query)
    query.add_argument(
        "--json",
        action="store_true",
        help='print one JSON document, {"records": [...]}, instead of one JSON line per record',
    )
    query.set_defaults(run=lambda args: _query(settings_of(args), args))

    export = audit.add_parser("export", help="records for compliance tools or spreadsheets")
    _filters(export)
    export.add_argument(
        "--format",
        choices=("jsonl", "csv"),
        default="jsonl",
        help="one JSON line per record, or CSV with a header (default: jsonl)",
    )
    output_options(export)
    config_option(export)
    export.add_argument(
        "--json",
        action="store_true",
        help='write one JSON document, {"records": [...]}, instead of --format',
    )
    export.set_defaults(run=lambda args: _export(settings_of(args), args))

    truncate = audit.add_parser(
        "truncate",
        help="remove records older than the configured retention (default: six years) "
        "behind a signed truncation checkpoint",
    )
    truncate.add_argument("--now", help="ISO 8601 time to count retention from (default: now)")
    config_option(truncate)
    json_option(truncate)
    truncate.set_defaults(run=lambda args: _truncate(settings_of(args), args))
    metrics_file_option(truncate, "audit_truncate")
    audit_stream.register(audit, settings_of, config_option)


def output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output", type=Path, help="file to write, mode 0600 (default: standard output)"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing --output file")


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", help="ISO 8601; records at or after")
    parser.add_argument("--until", help="ISO 8601; records before")
    parser.add_argument("--principal", help="records of calls by this principal")
    parser.add_argument(
        "--purpose", help="records of calls that claimed this purpose, declared or not"
    )
    parser.add_argument("--method", help="e.g. tactful.v1.Personalization/GetSegments")
    parser.add_argument(
        "--decision", choices=("allowed", "denied"), help="only allowed, or only denied, calls"
    )
    parser.add_argument("--namespace", help="with --id: records about this subject")
    parser.add_argument("--id", dest="identifier", help="the subject's identifier")


def _open(settings: Settings) -> tuple[stores.AccessLog, Pseudonymizer]:
    keyring = load_keyring(settings.keyring_path)
    # ConfigError if the log is a file not made yet (one in a database: its schema is checked)
    log = stores.open_access_log(settings, keyring.signing, must_exist=True)
    return log, Pseudonymizer(keyring.pseudonym)


def _verify(settings: Settings, args: argparse.Namespace) -> int:
    files: list[Path] = args.checkpoints
    if files and not stores.engine_of(settings).shared_by_servers:
        raise SystemExit(
            "tactful: --checkpoints is for PostgreSQL, where each signing host keeps its own"
            f" checkpoint file; on SQLite the log has one, {settings.checkpoints_path}"
        )
    for path in files:
        if not path.is_file():
            raise SystemExit(f"tactful: --checkpoints {path}: no such file")
    log, _ = _open(settings)
    try:
        result = log.verify(files=files)
        truncated = log.truncations() if result.intact else []
        unchecked = log.unchecked_signers(files) if result.intact else []
    finally:
        log.close()
    emit(
        args,
        {
            "intact": result.intact,
            "records": result.records,
            "first_bad_record": None if result.intact else result.first_bad_sequence,
            "problem": None if result.intact else result.problem,
            "truncations": [
                {
                    "at": from_us(cut.time_us).isoformat(),
                    "first_removed": cut.first_removed,
                    "last_removed": cut.last_removed,
                }
                for cut in truncated
            ],
            "unchecked_signers": list(unchecked),
            "warnings": list(result.notices),
        },
    )
    if result.intact:
        say(args, f"intact: {result.records} records, chain and signed checkpoints check out")
        for cut in truncated:
            when = from_us(cut.time_us).isoformat()
            say(
                args,
                f"  truncated {when}: records {cut.first_removed}..{cut.last_removed} "
                f"removed (through record {cut.last_removed}), behind a signed checkpoint",
            )
        for signer in unchecked:
            say(
                args,
                f"  not checked against a checkpoint file: the epochs signed at {signer}"
                " (give that host's file with --checkpoints)",
            )
        for notice in result.notices:
            say(args, f"  warning: {notice}")
        return 0
    say(
        args,
        f"TAMPERED: first bad record {result.first_bad_sequence}: {result.problem} "
        f"({result.records} records checked before it)",
    )
    return 1


def _time(text: str | None, flag: str) -> int | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SystemExit(
            f"tactful: {flag} {text!r} is not ISO 8601, e.g. 2026-11-01T00:00:00Z"
        ) from None
    return to_us(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _selection(
    settings: Settings, args: argparse.Namespace
) -> tuple[stores.AccessLog, AccessQuery, str, str]:
    """The log, the query the filters make, the subject's pseudonym (or "") and the
    filters in words for the access record (never the raw identifier)."""
    if bool(args.namespace) != bool(args.identifier):
        raise SystemExit("tactful: give --namespace and --id together")
    if args.purpose:
        _warn_if_undeclared(settings, args.purpose)
    log, pseudonymizer = _open(settings)
    try:
        subjects = pseudonymizer.resolve(args.namespace, args.identifier) if args.namespace else ()
        query = AccessQuery(
            _time(args.since, "--since"),
            _time(args.until, "--until"),
            args.principal or "",
            args.purpose or "",
            args.method or "",
            args.decision or "",
            subjects,
        )
    except BaseException:
        log.close()
        raise
    filters = {
        name: value
        for name, value in (
            ("since", args.since),
            ("until", args.until),
            ("principal", args.principal),
            ("purpose", args.purpose),
            ("method", args.method),
            ("decision", args.decision),
            ("namespace", args.namespace),
        )
        if value
    }
    return log, query, subjects[0] if subjects else "", json.dumps(filters, sort_keys=True)


def _warn_if_undeclared(settings: Settings, purpose: str) -> None:
    """A --purpose the contract does not declare still filters (the log keeps refused
    calls' purposes, and those of purposes since removed), but is said, on stderr, with
    the declared one it was likely meant to be."""
    try:
        declared = load_contract(settings.contract).purposes
    except ContractError:
        return  # the log is read without a contract; nothing to compare with
    if purpose not in declared:
        print(
            f"tactful: warning: --purpose {purpose!r} is not declared in the contract; "
            f"{hint(purpose, declared)} (records of it are still searched)",
            file=sys.stderr,
        )


def _released(
    settings: Settings, args: argparse.Namespace, action: str, limit: int | None
) -> Iterator[AccessRecord]:
    """This command's access record, written now; then the matching records, as the log
    stood before that record (as an RPC's query does not see its own record)."""
    log, query, subject, filters = _selection(settings, args)
    try:
        receipt = receipts.record(
            log,
            "audit",
            action,
            role="compliance",
            now=datetime.now(UTC),
            subject=subject,
            reason=filters,
            reads=True,
        )
    except BaseException:
        log.close()
        raise
    return _pages(log, query, receipt, limit)


def _pages(
    log: stores.AccessLog, query: AccessQuery, before: int, limit: int | None
) -> Iterator[AccessRecord]:
    after, left = 0, limit
    try:
        while left is None or left > 0:
            size = min(10_000, left) if left is not None else 10_000
            page = log.query(query, after_sequence=after, limit=size)
            kept = [r for r in page if r.sequence < before]
            yield from kept
            if len(kept) < len(page) or len(page) < size:
                return
            after = page[-1].sequence
            left = None if left is None else left - len(page)
    finally:
        log.close()


def _query(settings: Settings, args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise SystemExit("tactful: --limit must be at least 1")
    records = _released(settings, args, "query", args.limit)
    if wants_json(args):
        emit(args, {"records": [record_as_dict(record) for record in records]})
        return 0
    for record in records:
        print(json.dumps(record_as_dict(record), ensure_ascii=False))
    return 0


def _export(settings: Settings, args: argparse.Namespace) -> int:
    if args.json and args.format != "jsonl":
        raise SystemExit("tactful: give --json or --format csv, not both")
    with cli_output.output(args.output, force=args.force) as out:
        records = _released(settings, args, "export", None)
        write = _document if args.json else _csv if args.format == "csv" else _lines
        count = write(out, records)
    if args.output:
        print(f"exported {count} records to {args.output} (mode 0600)", file=sys.stderr)
    return 0


def _lines(out: TextIO, records: Iterator[AccessRecord]) -> int:
    count = 0
    for record in records:
        out.write(json.dumps(record_as_dict(record), ensure_ascii=False) + "\n")
        count += 1
    return count


def _document(out: TextIO, records: Iterator[AccessRecord]) -> int:
    """{"records": [...]}, written record by record: a whole log never sits in memory."""
    count = 0
    out.write('{"records": [')
    for count, record in enumerate(records, 1):
        out.write(("," if count > 1 else "") + "\n  ")
        out.write(json.dumps(record_as_dict(record), ensure_ascii=False, sort_keys=True))
    out.write("\n]}\n" if count else "]}\n")
    return count


def _csv(out: TextIO, records: Iterator[AccessRecord]) -> int:
    writer = csv.DictWriter(out, RECORD_FIELDS)
    writer.writeheader()
    count = 0
    for record in records:
        count += 1
        writer.writerow(
            {
                **record_as_dict(record),
                "requested": ",".join(record.entry.requested),
                "released": ",".join(record.entry.released),
                "subjects": ",".join(record.entry.subjects),
            }
        )
    return count


def _truncate(settings: Settings, args: argparse.Namespace) -> int:
    clock = to_us(datetime.now(UTC))
    now = _time(args.now, "--now") if args.now else clock
    assert now is not None
    if now - clock > MAX_AHEAD_US:
        raise SystemExit(
            f"tactful: --now {args.now} is ahead of this machine's clock; retention is "
            "counted back from now or an earlier time, never a later one"
        )
    retention = parse_duration(settings.access_log_retention)
    cutoff = now - duration_us(retention)
    log, _ = _open(settings)
    try:
        removed = log.truncate_before(cutoff, now_us=clock)  # signed when it happens
        job_report(args).deleted["access_log.records"] = removed
        reason = {
            "removed": removed,
            "older_than": from_us(cutoff).isoformat(),
            "retention": settings.access_log_retention,
        }
        receipts.record(
            log,
            "audit",
            "truncate",
            role="compliance",
            now=datetime.now(UTC),
            reason=json.dumps(reason, sort_keys=True),
        )
    finally:
        log.close()
    say(
        args,
        f"removed {removed} records older than {settings.access_log_retention}, behind a "
        "signed truncation checkpoint",
    )
    emit(args, reason)
    return 0
