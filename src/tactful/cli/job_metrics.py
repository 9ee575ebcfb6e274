"""`--metrics-file PATH` of the cron jobs (retention run, audit truncate, keys rekey).

After a successful run the job writes node_exporter's textfile-collector format,
atomically (a temporary file, then a rename), so an alert can ask when it last
succeeded:

    tactful_job_last_success_timestamp_seconds{job}   when the run ended (Unix time)
    tactful_job_duration_seconds{job}                 how long it took
    tactful_job_rows_deleted{job,store}               what it removed, per store
    tactful_job_rows_moved{job,store}                 what it moved (keys rekey)

A failed run leaves the file as it was: the last success stays the last success.
A dry run writes nothing.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile


class JobReport:
    """What a job counted, for its metrics file."""

    def __init__(self) -> None:
        self.deleted: dict[str, int] = {}
        self.moved: dict[str, int] = {}


def job_report(args: argparse.Namespace) -> JobReport:
    report = getattr(args, "job_report", None)
    return report if isinstance(report, JobReport) else JobReport()


def metrics_file_option(parser: argparse.ArgumentParser, job: str) -> None:
    """Add --metrics-file to `parser`, whose `run` default is the job."""
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
        if code == 0 and args.metrics_file and not getattr(args, "dry_run", False):
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
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)
