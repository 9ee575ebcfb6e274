"""The log, the metrics and the spans of one server, built from its Settings.

The composition root asks this one object for the edge's observer, the access
log's commit observer and the writer it should count, and `start`s it once the
server is up; closing it (last, after every store) logs the shutdown and takes
the log handler out again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from tactful.api import logs
from tactful.api.metrics import CountingExecutor, Metrics, MetricsListener, StateCollector
from tactful.api.observability import CallOutcome, Observer, fan_out, ignore
from tactful.api.tracing import Tracing, propagated_fields
from tactful.app.settings import ConfigError, Settings, parse_listen

log = logging.getLogger("tactful.server")


class Telemetry:
    def __init__(self, settings: Settings, *, span_exporter: Any = None) -> None:
        self._settings = settings
        self._span_exporter = span_exporter
        self.metrics = Metrics() if settings.metrics_listen else None
        self._writer: CountingExecutor | None = None
        self._observe: Observer = ignore
        self._closers: list[Any] = []
        self._serving = True

    def observe(self, outcome: CallOutcome) -> None:
        """The edge's observer (nothing is told until `start`)."""
        self._observe(outcome)

    @property
    def on_start(self) -> Callable[[str], None]:
        """The edge's word that a call arrived: counted if metrics are on."""
        return self.metrics.started if self.metrics else _nothing

    @property
    def trace_fields(self) -> frozenset[str]:
        """The metadata keys a span's parent is read from; none while tracing is off."""
        return propagated_fields() if self._settings.tracing_enabled else frozenset()

    @property
    def on_commit(self) -> Callable[[int, float], None] | None:
        return self.metrics.committed if self.metrics else None

    def serving(self, serving: bool) -> None:
        """The health state: the access log failed closed, or recovered."""
        if serving == self._serving:
            return
        self._serving = serving
        if self.metrics:
            self.metrics.serving(serving)
        if serving:
            log.warning("access log writable again: SERVING")
        else:
            log.error("access log failing: NOT_SERVING, every call answers UNAVAILABLE")

    def count_writer(self, executor: Executor) -> Executor:
        self._writer = CountingExecutor(executor)
        return self._writer

    def start(
        self,
        address: str,
        *,
        spent: Callable[[str], float],
        counted_at: Callable[[], dict[str, int]],
        now_us: Callable[[], int],
    ) -> list[str]:
        """Install the log handler, the tracer and the metrics listener; the notices
        for the operator."""
        try:
            return self._start(address, spent, counted_at, now_us)
        except BaseException:
            self.close()
            raise

    def _start(
        self,
        address: str,
        spent: Callable[[str], float],
        counted_at: Callable[[], dict[str, int]],
        now_us: Callable[[], int],
    ) -> list[str]:
        settings = self._settings
        self._closers.append(logs.configure(settings.log_format, settings.log_level,
                                            settings.log_file))  # fmt: skip
        observers: list[Observer] = [logs.log_call]
        notices: list[str] = []
        if settings.tracing_enabled:
            tracing = Tracing(settings.tracing_endpoint, self._span_exporter, address=address)
            self._closers.append(tracing)
            observers.append(tracing.observe)
            notices.append(f"tracing: spans exported to {settings.tracing_endpoint}")
        if self.metrics is not None:
            notices += self._start_metrics(self.metrics, spent, counted_at, now_us)
            observers.append(self.metrics.observe)
        self._observe = fan_out(observers)
        log.info("serving on %s (data in %s)", address, settings.data_dir)
        return notices

    def _start_metrics(
        self,
        metrics: Metrics,
        spent: Callable[[str], float],
        counted_at: Callable[[], dict[str, int]],
        now_us: Callable[[], int],
    ) -> list[str]:
        settings, writer = self._settings, self._writer
        analysts = sorted(p.name for p in settings.principals if "analyst" in p.roles)

        def budgets() -> dict[str, float]:
            # The ledger is the writer thread's: read it there, between writes.
            def read() -> dict[str, float]:
                return {n: max(0.0, settings.insights_budget - spent(n)) for n in analysts}

            return writer.submit(read).result(timeout=5) if writer else read()

        def census_ages() -> dict[str, float]:
            now = now_us()
            return {p: max(0.0, (now - at) / 1e6) for p, at in counted_at().items()}

        metrics.add(
            StateCollector(
                settings.data_dir, lambda: writer.depth if writer else 0, budgets, census_ages
            )
        )
        host, port = parse_listen(settings.metrics_listen)
        try:
            listener = MetricsListener(metrics, host.strip("[]"), port)
        except OSError as exc:
            if not settings.development:
                raise ConfigError(
                    f"metrics.listen: cannot listen on {settings.metrics_listen}: "
                    f"{exc.strerror or exc}"
                ) from None
            return [f"metrics: cannot listen on {settings.metrics_listen} ({exc.strerror}); off"]
        self._closers.append(listener)
        return [f"metrics on http://{listener.address}/metrics"]

    def close(self) -> None:
        self._observe = ignore
        log.info("stopped")
        for closer in reversed(self._closers):
            closer.close()
        self._closers = []


def _nothing(_method: str) -> None:
    """Metrics are off: a call's arrival is not counted."""
