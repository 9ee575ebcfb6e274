"""`tactful serve --workers N`: N server processes on one port, and their supervisor.

One Python process serves on about one core; N worker processes, each a whole
`tactful serve` (its own pools, writer threads and access-log chain), listen on one
port with SO_REUSEPORT, and the kernel spreads the connections among them. The
supervisor, the process the operator started, holds the data folder's lock, starts
the workers (`python -m tactful.cli.worker`, the settings on their standard input),
restarts one that dies after a pause that doubles while it keeps dying young, and
stops everything rather than loop when a worker dies young `YOUNG_DEATHS` times in
a row. SIGTERM or SIGINT to the supervisor is passed on: each worker drains its
calls and closes its chain, as one `tactful serve` does.

Only an engine that many servers share can have workers (PostgreSQL): on SQLite
the access log is one chain in one file with one writer, and the behavior store has
one writer thread, both within one process.

A worker (cli/worker.py) reads its standard input to the end: when the supervisor is
gone, however it went, the worker stops as on SIGTERM, and no worker outlives it.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import FrameType

from tactful.api import logs
from tactful.app import stores
from tactful.app.settings import Settings, parse_listen

YOUNG_S = 10.0  # a worker that dies sooner than this after its start died young
YOUNG_DEATHS = 5  # deaths in a row, all young, after which the supervisor gives up
FIRST_PAUSE_S = 0.5  # before a restart; doubled per young death in a row
LONGEST_PAUSE_S = 30.0
STOP_GRACE_S = 20.0  # after SIGTERM, how long a worker may take to drain and close


def refuse_unshared(settings: Settings) -> None:
    """Stop, in one message, when the engine cannot have more than one server."""
    if settings.workers > 1 and not stores.engine_of(settings).shared_by_servers:
        raise SystemExit(
            f"tactful: --workers {settings.workers} needs a storage engine that many "
            f"servers share, and this one ({stores.describe(settings)}) has one writer "
            "process: on SQLite the access log is one chain in one file that one process "
            "appends to, and the behavior store has one writer thread. Serve with "
            "--workers 1, or move to PostgreSQL ([storage] url; see "
            "docs/operations/postgresql.md)"
        )


def worker_settings(settings: Settings, index: int) -> Settings:
    """Worker `index`'s settings: its metrics on a port of its own (the configured
    port plus its index; port 0 stays 0: a free one each)."""
    if not settings.metrics_listen:
        return settings
    host, port = parse_listen(settings.metrics_listen)
    if port == 0:
        return settings
    if port + index > 65535:
        raise SystemExit(
            f"tactful: [metrics] listen {settings.metrics_listen}: worker {index} would "
            f"serve its metrics on port {port + index}, past 65535; choose a lower port"
        )
    return replace(settings, metrics_listen=f"{host}:{port + index}")


def with_concrete_port(settings: Settings) -> Settings:
    """Port 0 means a free port: pick it here, once, so that every worker shares it."""
    host, port = parse_listen(settings.listen)
    if port != 0:
        return settings
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host.strip("[]"), 0))
        port = probe.getsockname()[1]
    return replace(settings, listen=f"{host}:{port}")


# -- the supervisor -------------------------------------------------------------------


@dataclass
class _Worker:
    index: int
    process: subprocess.Popen[bytes]
    ready_fd: int  # the read end of the pipe the worker writes one line to when serving
    started: float
    serving: bool = False
    hung_up: bool = False  # the pipe ended without the line: it died starting


@dataclass
class Supervisor:
    """Starts `settings.workers` workers and keeps them running until told to stop."""

    settings: Settings
    command: list[str] = field(default_factory=lambda: [sys.executable, "-m", "tactful.cli.worker"])
    clock: Callable[[], float] = time.monotonic
    _workers: dict[int, _Worker] = field(default_factory=dict, init=False)
    _young_deaths: dict[int, int] = field(default_factory=dict, init=False)  # in a row
    _restart_at: dict[int, float] = field(default_factory=dict, init=False)
    _stop_signal: int | None = field(default=None, init=False)

    def _say(self, line: str, *, error: bool = False) -> None:
        """A line of the supervisor's: text, or with `[log] format = "json"` a JSON line."""
        file = sys.stderr if error else sys.stdout
        if self.settings.log_format == "json":
            level = "error" if error else "info"
            line = logs.event_line(line.removeprefix("tactful: "), now=time.time(), level=level)
        print(f"{line}\n", end="", file=file, flush=True)  # one write: workers share it

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT (0), or until the workers cannot serve (1)."""
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        previous = signal.set_wakeup_fd(wake_w)
        handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            return self._supervise(wake_r)
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            signal.set_wakeup_fd(previous)
            os.close(wake_r)
            os.close(wake_w)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop_signal = signum

    def _supervise(self, wake_fd: int) -> int:
        for index in range(self.settings.workers):
            self._start(index)
        announced = False
        failure: str | None = None
        with selectors.DefaultSelector() as selector:
            selector.register(wake_fd, selectors.EVENT_READ)
            while self._stop_signal is None and failure is None:
                self._wait(selector, wake_fd)
                failure = self._reap(announced)
                self._restart_due()
                if not announced and self._all_serving():
                    announced = True
                    self._announce()
        code = self._stop_all()
        if failure is not None:
            self._say(failure, error=True)
            return 1
        return code

    def _start(self, index: int) -> None:
        ready_r, ready_w = os.pipe()
        job = pickle.dumps(Job(worker_settings(self.settings, index), index, ready_w))
        process = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, pass_fds=(ready_w,), start_new_session=True
        )  # its own session: a terminal's Ctrl-C reaches the supervisor, which passes it on
        os.close(ready_w)
        assert process.stdin is not None
        try:
            process.stdin.write(job)
            process.stdin.flush()  # and kept open: its end tells the worker to stop
        except BrokenPipeError:
            pass  # it died already: reaped as any death
        self._workers[index] = _Worker(index, process, ready_r, self.clock())

    def _wait(self, selector: selectors.BaseSelector, wake_fd: int) -> None:
        """Until a worker serves, a signal arrives, or a moment passes (deaths are
        polled: a moment is short beside a restart's pause)."""
        starting = {w.ready_fd: w for w in self._workers.values() if not (w.serving or w.hung_up)}
        for fd in starting:
            selector.register(fd, selectors.EVENT_READ)
        try:
            for key, _ in selector.select(timeout=0.2):
                if key.fd == wake_fd:
                    os.read(wake_fd, 512)  # the signal's handler has run
                elif os.read(key.fd, 64):
                    starting[key.fd].serving = True
                else:
                    starting[key.fd].hung_up = True
        finally:
            for fd in starting:
                selector.unregister(fd)

    def _reap(self, announced: bool) -> str | None:
        """Note the workers that died and when each is restarted; a message when the
        supervisor must give up instead."""
        for index, worker in list(self._workers.items()):
            code = worker.process.poll()
            if code is None:
                continue
            del self._workers[index]
            self._close(worker)
            how = _exit_status(code)
            lived = self.clock() - worker.started
            if not announced and not worker.serving:
                return (
                    f"tactful: worker {index} {how} before it served; stopping every worker "
                    "(its own lines above say why)"
                )
            young = not worker.serving or lived < YOUNG_S
            deaths = self._young_deaths.get(index, 0) + 1 if young else 0
            self._young_deaths[index] = deaths
            if deaths >= YOUNG_DEATHS:
                return (
                    f"tactful: worker {index} {how} within {YOUNG_S:g} s of its start "
                    f"{deaths} times in a row; stopping every worker rather than restart it "
                    "in a loop (its own lines above say why)"
                )
            pause = min(LONGEST_PAUSE_S, FIRST_PAUSE_S * 2**deaths)
            self._restart_at[index] = self.clock() + pause
            self._say(
                f"tactful: worker {index} (pid {worker.process.pid}) {how} after "
                f"{lived:.1f} s; restarting it in {pause:g} s"
            )
        return None

    def _restart_due(self) -> None:
        now = self.clock()
        for index, at in list(self._restart_at.items()):
            if at <= now:
                del self._restart_at[index]
                self._start(index)
                self._say(
                    f"tactful: worker {index} restarted (pid {self._workers[index].process.pid})"
                )

    def _all_serving(self) -> bool:
        return len(self._workers) == self.settings.workers and all(
            w.serving for w in self._workers.values()
        )

    def _announce(self) -> None:
        pids = ", ".join(str(self._workers[i].process.pid) for i in sorted(self._workers))
        self._say(
            f"tactful: {self.settings.workers} workers serving on {self.settings.listen} "
            f"(pids {pids}; supervisor pid {os.getpid()})"
        )

    def _stop_all(self) -> int:
        """SIGTERM to every worker, then wait for each to drain and close; SIGKILL for
        one that takes longer than STOP_GRACE_S. 0 if every one stopped cleanly."""
        if self._workers:
            self._say("tactful: stopping the workers")
        for worker in self._workers.values():
            with contextlib.suppress(ProcessLookupError):
                worker.process.send_signal(signal.SIGTERM)
        deadline = self.clock() + STOP_GRACE_S
        code = 0
        for index, worker in sorted(self._workers.items()):
            try:
                status = worker.process.wait(timeout=max(0.0, deadline - self.clock()))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                status = worker.process.wait()
                self._say(f"tactful: worker {index} did not stop within {STOP_GRACE_S:g} s; killed")
            # Killed by the SIGTERM before it served: it had nothing to drain or close.
            if status != 0 and not (status == -signal.SIGTERM and not worker.serving):
                if status != -signal.SIGKILL:
                    self._say(f"tactful: worker {index} {_exit_status(status)} as it stopped")
                code = 1
            self._close(worker)
        self._workers.clear()
        return code

    @staticmethod
    def _close(worker: _Worker) -> None:
        os.close(worker.ready_fd)
        if worker.process.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                worker.process.stdin.close()


def _exit_status(code: int) -> str:
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


@dataclass(frozen=True)
class Job:
    """What a worker is given, pickled, on its standard input."""

    settings: Settings
    index: int  # 0 to N-1
    ready_fd: int  # where it writes one line once it serves
