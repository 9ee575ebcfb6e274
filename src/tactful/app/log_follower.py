"""The follower that streams the access log to a sink (`tactful audit stream`): a
process of its own that only reads the store, so the service never waits for it.

Each step writes the next batch (privacy/access_log_export.py `next_batch`) and then,
only after the sink took it, saves the cursor atomically (a temporary file, fsync,
rename): a crash between the two writes that batch again (at least once); none skips
a record. A file sink's last lines are read at start, so after such a crash nothing
is written twice there either.

Its lag, after every step, in node_exporter's textfile format (`--metrics-file`):

    tactful_access_log_export_lag_records          records in the store not yet exported
    tactful_access_log_export_lag_seconds          how old the oldest of them is (0: none)
    tactful_access_log_export_records              records exported since it started
    tactful_access_log_export_last_success_timestamp_seconds   the last step that worked
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

from tactful.app.log_sinks import FileSink, Sink
from tactful.privacy.access_log_export import (
    Cursor,
    FollowedLog,
    backlog,
    next_batch,
    resume_from_tail,
)
from tactful.privacy.errors import StoreUnavailable

log = logging.getLogger("tactful.audit_stream")
_MAX_BACKOFF_S = 30.0


def load_cursor(path: Path) -> Cursor:
    """The saved cursor; a new one (from the first record) where none was saved."""
    try:
        return Cursor.from_json(path.read_text())
    except FileNotFoundError:
        return Cursor()


def save_cursor(path: Path, cursor: Cursor) -> None:
    """Replace the cursor file atomically and durably."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, cursor.to_json().encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class Follower:
    """Streams `store` to `sink` from the cursor saved at `cursor_path`."""

    def __init__(
        self,
        store: FollowedLog,
        sink: Sink,
        cursor_path: Path,
        *,
        batch: int = 1000,
        metrics_file: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._sink = sink
        self._cursor_path = cursor_path
        self._batch = batch
        self._metrics_file = metrics_file
        self._clock = clock
        self.exported = 0
        self.cursor = load_cursor(cursor_path)
        if isinstance(sink, FileSink):
            resumed = resume_from_tail(
                self.cursor, sink.tail(), store.signed_lines(after=self.cursor.signed)
            )
            if resumed != self.cursor:
                save_cursor(cursor_path, resumed)
                self.cursor = resumed

    def step(self) -> int:
        """Write the next batch and save the cursor past it; the records written."""
        batch = next_batch(self._store, self.cursor, limit=self._batch)
        if batch.lines:
            self._sink.write(batch.lines)
            save_cursor(self._cursor_path, batch.after)
            self.cursor = batch.after
            self.exported += batch.records
        if self._metrics_file is not None:
            self._write_metrics()
        return batch.records

    def run(self, stop: threading.Event, *, interval_s: float = 1.0) -> None:
        """Step until `stop` is set: at once while records wait, else every `interval_s`;
        after a failure (the sink unreachable, the database away) with a growing pause."""
        failures = 0
        while not stop.is_set():
            try:
                written = self.step()
            except (OSError, StoreUnavailable) as exc:  # the sink, or the database, away
                failures += 1
                pause = min(_MAX_BACKOFF_S, 0.5 * 2 ** min(failures, 8))
                log.warning("audit stream: %s; trying again in %.1f s", exc, pause)
                stop.wait(pause)
                continue
            failures = 0
            if written < self._batch:
                stop.wait(interval_s)

    def _write_metrics(self) -> None:
        count, oldest_us = backlog(self._store, self.cursor)
        now = self._clock()
        registry = CollectorRegistry()
        gauges = (
            ("lag_records", "Access records in the store not yet exported", count),
            (
                "lag_seconds",
                "Age of the oldest access record not yet exported (0: none)",
                max(0.0, now - oldest_us / 1e6) if oldest_us else 0.0,
            ),
            ("records", "Access records exported since the follower started", self.exported),
            ("last_success_timestamp_seconds", "When the follower last stepped", now),
        )
        for name, description, value in gauges:
            Gauge(f"tactful_access_log_export_{name}", description, registry=registry).set(value)
        assert self._metrics_file is not None
        self._metrics_file.parent.mkdir(parents=True, exist_ok=True)
        write_to_textfile(str(self._metrics_file), registry)
