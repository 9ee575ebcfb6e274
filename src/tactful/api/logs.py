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
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from json.encoder import encode_basestring
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
            return _call_line(record.levelname.lower(), record.name, outcome)
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
        "time": _milliseconds(outcome.time_us),
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


def _call_line(level: str, logger: str, outcome: CallOutcome) -> str:
    """`call_fields` as a JSON line, written out directly: the same keys, order and
    values as `json.dumps` of them, without a dict per call (names are escaped as JSON
    strings; times, codes and ids are ASCII by construction)."""
    reason = f',"reason":{encode_basestring(outcome.reason)}' if outcome.reason else ""
    return (
        f'{{"level":{encode_basestring(level)},"logger":{encode_basestring(logger)},'
        f'"time":"{_milliseconds(outcome.time_us)}","event":"call",'
        f'"method":{encode_basestring(outcome.method)},'
        f'"principal":{encode_basestring(outcome.principal)},'
        f'"purpose":{encode_basestring(outcome.purpose)},'
        f'"code":{encode_basestring(outcome.code)},'
        f'"decision":{encode_basestring(outcome.decision)},'
        f'"latency_ms":{round(outcome.latency_s * 1000, 3)!r},'
        f'"request_id":{encode_basestring(outcome.request_id)}{reason}}}'
    )


class _Second:
    """The ISO 8601 form of one second, kept while calls arrive within it: a call's
    time is formatted once per second, not once per call. One tuple, replaced whole:
    a thread that reads it sees a second and its own text, never one with another's."""

    last: tuple[int | None, str] = (None, "")


def _milliseconds(time_us: int) -> str:
    """`from_us(time_us).isoformat(timespec="milliseconds")`, the second's part cached.

    >>> _milliseconds(1765150915123456), _milliseconds(-1)
    ('2025-12-07T23:41:55.123+00:00', '1969-12-31T23:59:59.999+00:00')
    """
    seconds, us = divmod(time_us, 1_000_000)
    kept, text = _Second.last
    if kept != seconds:
        text = from_us(seconds * 1_000_000).isoformat(timespec="seconds")[:-6]
        _Second.last = (seconds, text)
    return f"{text}.{us // 1000:03d}+00:00"


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


_TEXT = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


def log_call(outcome: CallOutcome) -> None:
    """The observer that writes a call's line (at info); a call the failure limiter
    summarized has the summary's record, not a line of its own."""
    if calls.isEnabledFor(logging.INFO) and not outcome.summarized:
        calls.handle(_CallRecord(outcome))


_LOGGING_STARTED: float = getattr(logging, "_startTime", time.time())


class _CallRecord(logging.LogRecord):
    """A call's log record, made without the stdlib's per-record work its line never
    uses: no search of the stack for the caller (`findCaller`), whose place is always
    `log_call`'s. Every attribute a formatter may name is there, as `Logger.info`
    would set it (in the instance's own dict: `%`-style formats read only that)."""

    _STATIC: dict[str, Any] = {
        "name": calls.name,
        "levelno": logging.INFO,
        "levelname": logging.getLevelName(logging.INFO),
        "pathname": __file__,
        "filename": os.path.basename(__file__),
        "module": __name__.rpartition(".")[2],
        "lineno": 0,
        "funcName": "log_call",
        "exc_info": None,
        "exc_text": None,
        "stack_info": None,
        "msg": "%s %s purpose=%s %s %s%s %.3f ms request_id=%s",
        "taskName": None,
    }

    def __init__(self, outcome: CallOutcome) -> None:
        self.__dict__.update(self._STATIC)
        now_ns = time.time_ns()
        self.created = now_ns / 1e9
        self.msecs = (now_ns % 1_000_000_000) // 1_000_000 + 0.0
        self.relativeCreated = (self.created - _LOGGING_STARTED) * 1000
        self.thread = threading.get_ident()
        self.threadName = threading.current_thread().name
        self.process = os.getpid()
        processes = sys.modules.get("multiprocessing")
        self.processName = processes.current_process().name if processes else "MainProcess"
        self.call = outcome
        self.args = (
            outcome.method,
            outcome.principal,
            outcome.purpose or "-",
            outcome.code,
            outcome.decision,
            f" reason={outcome.reason}" if outcome.reason else "",
            outcome.latency_s * 1000,
            outcome.request_id,
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
