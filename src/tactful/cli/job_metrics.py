"""`--metrics-file PATH` of the cron jobs (retention run, audit truncate, keys rekey,
journeys guard).

After a successful run the job writes node_exporter's textfile-collector format,
atomically (a temporary file, then a rename), so an alert can ask when it last
succeeded:

    tactful_job_last_success_timestamp_seconds{job}   when the run ended (Unix time)
    tactful_job_duration_seconds{job}                 how long it took
    tactful_job_rows_deleted{job,store}               what it removed, per store
    tactful_job_rows_moved{job,store}                 what it moved (keys rekey)
    tactful_job_rollbacks{job,journey}                versions it rolled back (journeys
                                                      guard: 0 or 1 per journey with guards)
    tactful_job_guards_checked{job,journey}           guards it tested (0 while the sample
                                                      is below guard_min_sample)

A failed run keeps what the file says of the last success and counts itself:

    tactful_job_failures_total{job,reason}             failed runs, by reason code
    tactful_job_last_failure_timestamp_seconds{job}    when the last failed run ended

The reason is a short code, never a value: `store_unavailable`, `schema_mismatch`,
`keyring`, `contract`, `config`, `retention_incomplete`, `access_log_unavailable`,
`usage` (a refused option), `interrupted`, `os_error`, `internal`, or the job's own
(`keys rekey`: `unreadable_subjects`). A success carries the counts over (a counter
never goes back). A dry run writes nothing. `journeys guard` exits 1 when it rolled
a version back: a success, whose metrics are written.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Collection
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from tactful.app.settings import ConfigError
from tactful.lifecycle.errors import LifecycleError, RetentionIncomplete
from tactful.privacy.access_log import AccessLogUnavailable
from tactful.privacy.errors import ContractError, KeyringError, SchemaMismatch, StoreUnavailable

FAILURES = "tactful_job_failures"  # the counter's family; its samples end in _total
LAST_FAILURE = "tactful_job_last_failure_timestamp_seconds"
# The most precise first: SchemaMismatch is no StoreUnavailable, ContractError no
# KeyringError, but the order keeps a subclass ahead of its base all the same.
_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (KeyboardInterrupt, "interrupted"),
    (StoreUnavailable, "store_unavailable"),
    (SchemaMismatch, "schema_mismatch"),
    (KeyringError, "keyring"),
    (ContractError, "contract"),
    (ConfigError, "config"),
    (AccessLogUnavailable, "access_log_unavailable"),
    (RetentionIncomplete, "retention_incomplete"),
    (LifecycleError, "lifecycle"),
    (SystemExit, "usage"),
    (OSError, "os_error"),
)


class JobReport:
    """What a job counted, for its metrics file."""

    def __init__(self) -> None:
        self.deleted: dict[str, int] = {}
        self.moved: dict[str, int] = {}
        self.rollbacks: dict[str, int] = {}  # per journey
        self.guards_checked: dict[str, int] = {}  # per journey
        self.failure = ""  # the job's own reason code when it exits unsuccessfully


def job_report(args: argparse.Namespace) -> JobReport:
    report = getattr(args, "job_report", None)
    return report if isinstance(report, JobReport) else JobReport()


def metrics_file_option(
    parser: argparse.ArgumentParser, job: str, *, success_codes: Collection[int] = (0,)
) -> None:
    """Add --metrics-file to `parser`, whose `run` default is the job; a run that exits
    with one of `success_codes` succeeded."""
    parser.add_argument(
        "--metrics-file",
        type=Path,
        metavar="PATH",
        help="write the run's metrics there in node_exporter's textfile format (e.g. "
        "/var/lib/node_exporter/textfile/tactful-JOB.prom): its last success, or a "
        "failure counted by reason",
    )
    run: Callable[[argparse.Namespace], int] = parser.get_default("run")

    def run_and_write(args: argparse.Namespace) -> int:
        args.job_report = JobReport()
        started = time.time()
        path = None if getattr(args, "dry_run", False) else args.metrics_file
        try:
            code = run(args)
        except BaseException as exc:
            if path:
                count_failure(path, job, failure_reason(exc), time.time())
            raise
        if path and code in success_codes:
            write_job_metrics(path, job, args.job_report, started, time.time())
        elif path:
            count_failure(path, job, args.job_report.failure or f"exit_{code}", time.time())
        return code

    parser.set_defaults(run=run_and_write)


def failure_reason(error: BaseException) -> str:
    """A failed run's reason code, from what it raised (never its message).

    >>> failure_reason(SchemaMismatch("behavior: version 9, expected 8"))
    'schema_mismatch'
    """
    return next((code for kind, code in _REASONS if isinstance(error, kind)), "internal")


def count_failure(path: Path, job: str, reason: str, finished: float) -> None:
    """Count one failed run of `job` in the file at `path`, keeping the rest of it."""
    kept, failures = _read(path)
    failures[(job, reason)] = failures.get((job, reason), 0) + 1
    last = GaugeMetricFamily(LAST_FAILURE, "When the job last failed", labels=["job"])
    for family in kept:
        if family.name == LAST_FAILURE:
            last.samples = [s for s in family.samples if s.labels.get("job") != job]
    last.add_metric([job], finished)
    kept = [family for family in kept if family.name != LAST_FAILURE]
    _write(path, [*kept, last], failures)


def _read(path: Path) -> tuple[list[Metric], dict[tuple[str, str], float]]:
    """The families in the file, but the failure counter; and that counter's counts.
    A file that is missing or unreadable as metrics counts as empty."""
    try:
        families = list(text_string_to_metric_families(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return [], {}
    failures = {
        (s.labels["job"], s.labels["reason"]): s.value
        for family in families
        if family.name == FAILURES
        for s in family.samples
        if s.name == f"{FAILURES}_total" and {"job", "reason"} <= s.labels.keys()
    }
    return [family for family in families if family.name != FAILURES], failures


def _write(path: Path, families: list[Metric], failures: dict[tuple[str, str], float]) -> None:
    counter = CounterMetricFamily(FAILURES, "Failed runs of the job, by reason code",
                                  labels=["job", "reason"])  # fmt: skip
    for labels, count in sorted(failures.items()):
        counter.add_metric(list(labels), count)
    registry = CollectorRegistry()
    registry.register(_Families([*families, *([counter] if failures else [])]))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families


def write_job_metrics(
    path: Path, job: str, report: JobReport, started: float, finished: float
) -> None:
    """A successful run's metrics, and the failures counted so far."""
    kept, failures = _read(path)
    registry = CollectorRegistry()
    labels = ["job"]
    Gauge("tactful_job_last_success_timestamp_seconds", "When the job last succeeded",
          labels, registry=registry).labels(job).set(finished)  # fmt: skip
    Gauge("tactful_job_duration_seconds", "How long its last successful run took",
          labels, registry=registry).labels(job).set(finished - started)  # fmt: skip
    for name, counts in (("deleted", report.deleted), ("moved", report.moved)):
        if counts:
            gauge = Gauge(f"tactful_job_rows_{name}", f"Rows {name} by its last successful run",
                          ["job", "store"], registry=registry)  # fmt: skip
            for store, count in sorted(counts.items()):
                gauge.labels(job, store).set(count)
    journeys = (
        ("rollbacks", "Versions rolled back by its last successful run", report.rollbacks),
        ("guards_checked", "Guards tested by its last successful run", report.guards_checked),
    )
    for name, description, counts in journeys:
        if counts:
            gauge = Gauge(f"tactful_job_{name}", description, ["job", "journey"],
                          registry=registry)  # fmt: skip
            for journey, count in sorted(counts.items()):
                gauge.labels(job, journey).set(count)
    last_failure = [family for family in kept if family.name == LAST_FAILURE]
    _write(path, [*registry.collect(), *last_failure], failures)
