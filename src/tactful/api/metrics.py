"""Prometheus metrics, on a listener of their own (`[metrics] listen`).

Label values are names the operator chose or the API defines (method, status
code, decision, purpose, configured principal, store): never a subject, a
request id or anything else a caller sent.

    grpc_server_started_total{grpc_type,grpc_service,grpc_method}     calls begun
    grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}
                                                       calls answered, by status code
    grpc_server_handling_seconds{grpc_type,grpc_service,grpc_method,grpc_code}
                                                       arrival to record written
    grpc_server_in_flight_requests{grpc_type,grpc_service,grpc_method}
                                                       calls begun, not yet answered
    tactful_rpcs_total{method,code,decision}           calls, by outcome (and decision)
    tactful_build_info{version,python,grpc}            1
    process_*, python_*                                prometheus_client's collectors
    tactful_access_log_commit_seconds                  one durable commit (one fsync)
    tactful_access_log_batch_records                   records per commit, i.e. per fsync
    tactful_access_log_commits_total                   commits, and
    tactful_access_log_records_total                   records committed (records/fsync: ratio)
    tactful_serving                                    1 while SERVING, 0 while failed closed
    tactful_writer_queue_depth                         jobs waiting for or on the writer thread
    tactful_insights_budget_remaining{principal}       epsilon left per analyst principal
    tactful_census_age_seconds{purpose}                age of the segment-size count
    tactful_store_bytes{store}                         size of each database file, its WAL included

The grpc_server_* families are go-grpc-prometheus's (and py-grpc-prometheus's), label
values included (`grpc_code="PermissionDenied"`), so a stock gRPC dashboard reads
them; the handling histogram also carries `grpc_code`, to tell fast refusals from
slow answers. Only Tactful's own methods are counted (every one of them goes
through the edge), not the health and reflection services.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import platform
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future
from importlib import metadata
from pathlib import Path
from typing import Any

import grpc
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from tactful.api.observability import CallOutcome

log = logging.getLogger("tactful.server")
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
STORES = ("behavior", "vault", "access_log", "insights")


class Metrics:
    """The server's metrics, in a registry of its own (one per server)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        Gauge("tactful_build_info", "The running version, and Python's and grpcio's; always 1",
              ["version", "python", "grpc"], registry=r).labels(*build()).set(1)  # fmt: skip
        self._rpcs = Counter("tactful_rpcs", "Calls, by method, status code and decision",
                             ["method", "code", "decision"], registry=r)  # fmt: skip
        names = ["grpc_type", "grpc_service", "grpc_method"]
        self._started = Counter("grpc_server_started_total", "RPCs started on the server",
                                names, registry=r)  # fmt: skip
        self._handled = Counter("grpc_server_handled_total",
                                "RPCs completed on the server, regardless of success or failure",
                                [*names, "grpc_code"], registry=r)  # fmt: skip
        self._handling = Histogram("grpc_server_handling_seconds",
                                   "Response latency (seconds) of the RPCs handled: arrival to "
                                   "access record written", [*names, "grpc_code"],
                                   buckets=LATENCY_BUCKETS, registry=r)  # fmt: skip
        self._in_flight = Gauge("grpc_server_in_flight_requests",
                                "RPCs started and not yet answered", names,
                                registry=r)  # fmt: skip
        self._commit = Histogram("tactful_access_log_commit_seconds",
                                 "Duration of one durable access-log commit (one fsync)",
                                 buckets=LATENCY_BUCKETS, registry=r)  # fmt: skip
        self._batch = Histogram("tactful_access_log_batch_records",
                                "Access records per commit (per fsync)",
                                buckets=BATCH_BUCKETS, registry=r)  # fmt: skip
        self._commits = Counter("tactful_access_log_commits", "Access-log commits", registry=r)
        self._records = Counter("tactful_access_log_records", "Access records", registry=r)
        self._serving = Gauge("tactful_serving", "1 while serving, 0 while failed closed",
                              registry=r)  # fmt: skip
        self._serving.set(1)
        # Label children bound once per method (and outcome), not looked up per call.
        self._begun: dict[str, tuple[Any, Any]] = {}
        self._children: dict[tuple[str, str, str], tuple[Any, Any, Any, Any]] = {}

    def started(self, method: str) -> None:
        """The edge's word that a call to `method` arrived."""
        children = self._begun.get(method)
        if children is None:
            labels = grpc_labels(method)
            children = (self._started.labels(*labels), self._in_flight.labels(*labels))
            self._begun[method] = children
        children[0].inc()
        children[1].inc()

    def observe(self, outcome: CallOutcome) -> None:
        """The edge's observer: count the call and its latency."""
        key = (outcome.method, outcome.code, outcome.decision)
        children = self._children.get(key)
        if children is None:
            labels = (*grpc_labels(outcome.method), GRPC_CODES.get(outcome.code, outcome.code))
            children = (
                self._rpcs.labels(*key),
                self._handled.labels(*labels),
                self._handling.labels(*labels),
                self._in_flight.labels(*labels[:3]),
            )
            self._children[key] = children
        children[0].inc()
        children[1].inc()
        children[2].observe(outcome.latency_s)
        children[3].dec()

    def committed(self, records: int, seconds: float) -> None:
        """The access log's observer: one commit of `records`, in `seconds`."""
        self._commit.observe(seconds)
        self._batch.observe(records)
        self._commits.inc()
        self._records.inc(records)

    def serving(self, serving: bool) -> None:
        self._serving.set(1 if serving else 0)

    def add(self, collector: Collector) -> None:
        self.registry.register(collector)


# go-grpc-prometheus's label values: Go's names of the status codes.
GRPC_CODES = {
    code.name: "".join(word.capitalize() for word in code.name.split("_"))
    for code in grpc.StatusCode
} | {"OK": "OK", "CANCELLED": "Canceled"}


def grpc_labels(method: str) -> tuple[str, str, str]:
    """grpc_type, grpc_service and grpc_method of `method` (every Tactful method is unary).

    >>> grpc_labels("tactful.v1.Personalization/GetSegments")
    ('unary', 'tactful.v1.Personalization', 'GetSegments')
    """
    service, _, name = method.rpartition("/")
    return "unary", service, name


def build() -> tuple[str, str, str]:
    """tactful_build_info's labels: this version, Python's and grpcio's."""
    return metadata.version("tactful"), platform.python_version(), grpc.__version__


class StateCollector(Collector):
    """Gauges read when scraped: queue depth, budgets, census ages, store sizes."""

    def __init__(
        self,
        data_dir: Path,
        writer_depth: Callable[[], int],
        budgets: Callable[[], Mapping[str, float]],
        census_ages: Callable[[], Mapping[str, float]],
    ) -> None:
        self._data_dir = data_dir
        self._writer_depth = writer_depth
        self._budgets = budgets
        self._census_ages = census_ages

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())  # values are read at scrape time only

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "tactful_writer_queue_depth", "Jobs waiting for or running on the writer thread"
        )
        depth.add_metric([], self._writer_depth())
        yield depth
        yield _labelled(
            "tactful_insights_budget_remaining",
            "Epsilon each analyst principal has left",
            "principal",
            _or_nothing(self._budgets, "insights budgets"),
        )
        yield _labelled(
            "tactful_census_age_seconds",
            "Age of each purpose's segment-size count (min_segment_size)",
            "purpose",
            self._census_ages(),
        )
        yield _labelled(
            "tactful_store_bytes",
            "Size of each database file, its write-ahead log included",
            "store",
            {store: _size(self._data_dir, store) for store in STORES},
        )


def _labelled(name: str, text: str, label: str, values: Mapping[str, float]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, text, labels=[label])
    for value_label, value in sorted(values.items()):
        family.add_metric([value_label], value)
    return family


def _or_nothing(read: Callable[[], Mapping[str, float]], what: str) -> Mapping[str, float]:
    try:
        return read()
    except Exception as exc:  # a scrape never fails the server
        log.warning("metrics: %s could not be read: %s", what, exc)
        return {}


def _size(data_dir: Path, store: str) -> int:
    total = 0
    for suffix in ("", "-wal"):
        with contextlib.suppress(FileNotFoundError):
            total += (data_dir / f"{store}.db{suffix}").stat().st_size
    return total


class CountingExecutor(Executor):
    """An executor that knows how many jobs it holds (waiting or running).

    Each counter is advanced by one thread only (submit on the loop, done on the
    worker), so no lock is needed."""

    def __init__(self, inner: Executor) -> None:
        self._inner = inner
        self._submitted = itertools.count()
        self._finished = itertools.count()
        self._in, self._out = 0, 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self._in = next(self._submitted) + 1
        future = self._inner.submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: Future[Any]) -> None:
        self._out = next(self._finished) + 1

    @property
    def depth(self) -> int:
        return max(0, self._in - self._out)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._inner.shutdown(wait=wait, cancel_futures=cancel_futures)


class MetricsListener:
    """The HTTP listener Prometheus scrapes; `address` is the one actually bound."""

    def __init__(self, metrics: Metrics, host: str, port: int) -> None:
        self._server, self._thread = start_http_server(port, addr=host, registry=metrics.registry)
        self.address = f"{host}:{self._server.server_port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
