"""The server's log: a line per call and a line per event, as text or JSON.

Every logger under `tactful` writes through one handler, set up by the server
(`configure`) and removed when it stops. A call's line is made from its
`CallOutcome`: time, method, principal, purpose, status code, decision (and a
denied call's reason code), latency and request id, never an identifier, a token
or an attribute value. Events (start-up, shutdown, the access log failing closed
and recovering, certificate reloads, census recounts) are the `tactful.*` loggers'
own lines.
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tactful.api.observability import CallOutcome
from tactful.timestamps import from_us

ROOT = "tactful"
calls = logging.getLogger("tactful.calls")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
_LEVELS["error"] = logging.ERROR


class JsonLines(logging.Formatter):
    """One JSON object a line: time, level, logger, and the call's fields or the message."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any]
        outcome = getattr(record, "call", None)
        if isinstance(outcome, CallOutcome):  # its time is the call's, by the server's clock
            line = {"level": record.levelname.lower(), "logger": record.name}
            line |= call_fields(outcome)
        else:
            line = _event(record.created, record.levelname.lower(), record.name,
                          record.getMessage())  # fmt: skip
            if record.exc_info:
                line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


def _event(created: float, level: str, logger: str, event: str) -> dict[str, Any]:
    return {"time": _iso(created), "level": level, "logger": logger, "event": event}


def event_line(event: str, *, now: float, level: str = "info", error: str = "") -> str:
    """A JSON log line of `tactful serve`'s own, for what it says outside the log
    (what it prints at start and stop, and why it could not start)."""
    line = _event(now, level, "tactful.serve", event)
    if error:
        line["error"] = error
    return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


@contextlib.contextmanager
def json_everywhere() -> Iterator[None]:
    """While it lasts, the lines of every logger that reach no handler (any logger's
    before `configure` and after its `close`, asyncio's, grpc's) and Python's
    warnings are JSON lines on standard error too, not the stdlib's plain text."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    handler.setLevel(logging.WARNING)
    previous = logging.lastResort
    logging.lastResort = handler
    # Warnings are logged to py.warnings, which the stdlib gives a handler that drops
    # them when it has none: it gets this one.
    warnings = logging.getLogger("py.warnings")
    warnings.addHandler(handler)
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        warnings.removeHandler(handler)
        logging.lastResort = previous


def call_fields(outcome: CallOutcome) -> dict[str, Any]:
    """What a call's log line (and its span) holds; a denied call's, its reason code."""
    fields = {
        "time": from_us(outcome.time_us).isoformat(timespec="milliseconds"),
        "event": "call",
        "method": outcome.method,
        "principal": outcome.principal,
        "purpose": outcome.purpose,
        "code": outcome.code,
        "decision": outcome.decision,
        "latency_ms": round(outcome.latency_s * 1000, 3),
        "request_id": outcome.request_id,
    }
    if outcome.reason:
        fields["reason"] = outcome.reason
    return fields


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


_TEXT = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


def log_call(outcome: CallOutcome) -> None:
    """The observer that writes a call's line (at info); a call the failure limiter
    summarized has the summary's record, not a line of its own."""
    if calls.isEnabledFor(logging.INFO) and not outcome.summarized:
        calls.info(
            "%s %s purpose=%s %s %s%s %.3f ms request_id=%s",
            outcome.method,
            outcome.principal,
            outcome.purpose or "-",
            outcome.code,
            outcome.decision,
            f" reason={outcome.reason}" if outcome.reason else "",
            outcome.latency_s * 1000,
            outcome.request_id,
            extra={"call": outcome},
        )


class LogSetup:
    """The handler `configure` installed, and how to take it out again."""

    def __init__(self, handler: logging.Handler, level: int) -> None:
        self._handler = handler
        self._logger = logging.getLogger(ROOT)
        self._previous = self._logger.level
        self._logger.addHandler(handler)
        self._logger.setLevel(level)

    def close(self) -> None:
        self._logger.removeHandler(self._handler)
        self._logger.setLevel(self._previous)
        self._handler.close()


def configure(log_format: str, level: str, file: Path | None) -> LogSetup:
    """Send every `tactful.*` logger's lines, from `level` up, to `file` or stderr."""
    handler: logging.Handler
    if file is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        file.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        # Reopened when logrotate moves the file away.
        handler = logging.handlers.WatchedFileHandler(file, encoding="utf-8")
    handler.setFormatter(JsonLines() if log_format == "json" else _TEXT)
    return LogSetup(handler, _LEVELS[level])
