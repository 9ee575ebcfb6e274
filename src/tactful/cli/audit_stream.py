"""`tactful audit stream` (the access log, streamed to a file, syslog or a socket) and
`tactful audit verify-export` (a copy checked on its own, and against the store)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tactful.app import receipts, stores
from tactful.app.log_follower import Follower
from tactful.app.log_sinks import FileSink, open_sink
from tactful.app.settings import Settings
from tactful.cli.report import emit, json_option, say
from tactful.privacy.access_log_export_verify import CopyVerdict, compare_with_store, verify_copy
from tactful.privacy.keyring import Keys, load_keyring

TARGETS = (
    "file:PATH (or a path), syslog:udp://HOST:PORT, syslog:tcp://HOST:PORT, "
    "syslog:/dev/log, tcp://HOST:PORT"
)


def register(
    audit: Any,
    settings_of: Callable[[argparse.Namespace], Settings],
    config_option: Callable[[argparse.ArgumentParser], None],
) -> None:
    stream = audit.add_parser(
        "stream",
        help="follow the access log: every record and signed checkpoint as a JSON line "
        "to a file, syslog or a socket, resuming where it stopped",
        description="Follow the access log and write every record, and every signed "
        "checkpoint line, as one JSON line, in order, to a file, syslog or a TCP socket. "
        "Run it as a process of its own beside the servers: it only reads. It resumes "
        "from its cursor after a restart and writes a record at least once: after a "
        "crash the last batch may be written again (never to a file, whose last lines it "
        "reads at start). SIGHUP reopens a file (after logrotate's create), SIGTERM stops.",
    )
    stream.add_argument("--to", required=True, metavar="TARGET", help=f"where: {TARGETS}")
    stream.add_argument(
        "--cursor",
        type=Path,
        metavar="FILE",
        help="where the last exported position is kept, one cursor per target; required for "
        "syslog and sockets (default: for a file, FILE.cursor)",
    )
    stream.add_argument(
        "--batch", type=int, default=1000, help="records read per chain per step (default: 1000)"
    )
    stream.add_argument(
        "--interval",
        type=float,
        default=1.0,
        help="seconds between looks once caught up (default: 1)",
    )
    stream.add_argument(
        "--once", action="store_true", help="export what the log holds now, then exit"
    )
    stream.add_argument(
        "--metrics-file",
        type=Path,
        metavar="PATH",
        help="after every step write the lag (tactful_access_log_export_lag_records, "
        "_lag_seconds) there in node_exporter's textfile format",
    )
    json_option(stream)
    config_option(stream)
    stream.set_defaults(run=lambda args: _stream(settings_of(args), args))

    check = audit.add_parser(
        "verify-export",
        help="check an exported copy's chain and checkpoint lines; with --against-store "
        "also its MACs and signatures, and that it matches the access log",
        description="Check a copy written by `tactful audit stream`: every record links "
        "to the one before it in its chain and its hash covers its content, every "
        "checkpoint line's pins hold; exact repeats (at-least-once delivery) are counted, "
        "not errors. Exit 1 naming the first bad line.",
    )
    check.add_argument("file", type=Path, metavar="FILE", help="the exported copy (JSON lines)")
    check.add_argument(
        "--against-store",
        action="store_true",
        help="with the keyring and the access log of --config: check every MAC and "
        "signature, verify the log, and compare every record of the copy with it",
    )
    json_option(check)
    config_option(check)
    check.set_defaults(run=lambda args: _verify_export(settings_of, args))


def _stream(settings: Settings, args: argparse.Namespace) -> int:
    if args.batch < 1:
        raise SystemExit("tactful: --batch must be at least 1")
    if args.interval <= 0:
        raise SystemExit("tactful: --interval must be more than 0 seconds")
    sink = open_sink(args.to)
    cursor = args.cursor
    if cursor is None and isinstance(sink, FileSink):
        cursor = sink.path.with_name(sink.path.name + ".cursor")
    if cursor is None:
        sink.close()
        raise SystemExit(f"tactful: --to {args.to} needs --cursor FILE (where it resumes)")
    keyring = load_keyring(settings.keyring_path)
    _leave_record(settings, keyring.signing, args.to)
    # Opened again to follow only: it appends nothing, so on PostgreSQL it holds no
    # chain of its own whose closing record would come after what it exported.
    log = stores.open_access_log(settings, keyring.signing, must_exist=True)
    try:
        follower = Follower(log, sink, cursor, batch=args.batch, metrics_file=args.metrics_file)
        if args.once:
            while follower.step() >= args.batch:
                pass
        else:
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            signal.signal(signal.SIGHUP, lambda *_: sink.reopen())
            follower.run(stop, interval_s=args.interval)
    finally:
        sink.close()
        log.close()
    print(f"exported {follower.exported} records to {args.to}", file=sys.stderr)
    emit(args, {"to": args.to, "cursor": str(cursor), "exported": follower.exported})
    return 0


def _leave_record(settings: Settings, keys: Keys, target: str) -> None:
    log = stores.open_access_log(settings, keys, must_exist=True)
    try:
        now = datetime.now(UTC)
        reason = f"to {target}"
        receipts.record(
            log, "audit", "stream", role="compliance", now=now, reason=reason, reads=True
        )
    finally:
        log.close()


def _lines(path: Path) -> Callable[[], Iterator[str]]:
    def read() -> Iterator[str]:
        with path.open(encoding="utf-8", errors="surrogateescape") as file:
            yield from file

    return read


def _verify_export(settings_of: Callable[[argparse.Namespace], Settings], args: Any) -> int:
    if not args.file.is_file():
        raise SystemExit(f"tactful: {args.file}: no such file")
    lines = _lines(args.file)
    if not args.against_store:
        verdict = verify_copy(lines)
        emit(args, _document(verdict))
        return _report(args, verdict)
    settings = settings_of(args)
    keyring = load_keyring(settings.keyring_path)
    verdict = verify_copy(lines, keyring.signing)
    code = _report(args, verdict)
    if code:
        emit(args, _document(verdict))
        return code
    log = stores.open_access_log(settings, keyring.signing, must_exist=True)
    try:
        original = log.verify()
        compared = compare_with_store(lines(), log) if original.intact else None
    finally:
        log.close()
    document = _document(verdict)
    if not original.intact:
        say(
            args,
            f"the access log itself is TAMPERED: first bad record {original.first_bad_sequence}:"
            f" {original.problem} (run `tactful audit verify`)",
        )
        emit(args, document | {"store": {"intact": False, "problem": original.problem}})
        return 1
    assert compared is not None
    store = {"intact": True, "matches": not compared.problem, "problem": compared.problem}
    store |= {"matched": compared.matched, "truncated": compared.truncated}
    emit(args, document | {"store": store | {"behind": compared.behind}})
    if compared.problem:
        say(args, f"DIFFERS from the access log: {compared.problem}")
        return 1
    say(args, f"matches the access log: {compared.matched} records as the log holds them")
    if compared.truncated:
        say(args, f"  {compared.truncated} records are no longer in the log (truncated since)")
    if compared.behind:
        say(args, f"  the log holds {compared.behind} records the copy does not (yet)")
    return 0


def _document(verdict: CopyVerdict) -> dict[str, Any]:
    chains = {c: {"first": first, "last": last} for c, (first, last) in verdict.chains.items()}
    return {
        "intact": verdict.intact,
        "records": verdict.records,
        "line": verdict.line,
        "problem": verdict.problem,
        "duplicates": verdict.duplicates,
        "checkpoints": verdict.checkpoints,
        "chains": chains,
        "notices": verdict.notices,
    }


def _report(args: argparse.Namespace, verdict: CopyVerdict) -> int:
    if not verdict.intact:
        where = f"line {verdict.line}: " if verdict.line and "line" not in verdict.problem else ""
        say(args, f"TAMPERED: {where}{verdict.problem} ({verdict.records} records read before it)")
        return 1
    say(
        args,
        f"intact: {verdict.records} records in {len(verdict.chains)} chain(s), "
        f"{verdict.checkpoints} checkpoint lines",
    )
    if verdict.duplicates:
        say(args, f"  {verdict.duplicates} lines repeat one before (at-least-once delivery)")
    for notice in verdict.notices:
        say(args, f"  note: {notice}")
    return 0
