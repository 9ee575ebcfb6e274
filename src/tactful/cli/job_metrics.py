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

A failed run leaves the file as it was: the last success stays the last success.
A dry run writes nothing. `journeys guard` exits 1 when it rolled a version back: a
success, whose metrics are written.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Collection
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile


class JobReport:
    """What a job counted, for its metrics file."""

    def __init__(self) -> None:
        self.deleted: dict[str, int] = {}
        self.moved: dict[str, int] = {}
        self.rollbacks: dict[str, int] = {}  # per journey
        self.guards_checked: dict[str, int] = {}  # per journey


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
        help="after a successful run, write its metrics there in node_exporter's "
        "textfile format (e.g. /var/lib/node_exporter/textfile/tactful-JOB.prom)",
    )
    run: Callable[[argparse.Namespace], int] = parser.get_default("run")

    def run_and_write(args: argparse.Namespace) -> int:
        args.job_report = JobReport()
        started = time.time()
        code = run(args)
        if code in success_codes and args.metrics_file and not getattr(args, "dry_run", False):
            write_job_metrics(args.metrics_file, job, args.job_report, started, time.time())
        return code

    parser.set_defaults(run=run_and_write)


def write_job_metrics(
    path: Path, job: str, report: JobReport, started: float, finished: float
) -> None:
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
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)
