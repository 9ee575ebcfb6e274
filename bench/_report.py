"""Reporting for the benchmarks: the machine, figures and tables, verdicts."""

from __future__ import annotations

import os
import platform
import sqlite3
import sys
from collections.abc import Sequence

import grpc

from bench._harness import NOISY_OTHER_CPU, Load

_LOAD_BEFORE = os.getloadavg()[0]  # taken at import, before this run adds its own load


def machine() -> dict[str, str | int | float | None]:
    return {
        "load_before": round(_LOAD_BEFORE, 2),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(terse=True),
    }


def describe_machine() -> str:
    m = machine()
    return (
        f"{m['cpus']} CPUs, Python {m['python']}, grpcio {m['grpcio']}, "
        f"SQLite {m['sqlite']}, {m['platform']}; load average {m['load_before']} before the "
        "run"
    )


def progress(line: str) -> None:
    """Progress goes to stderr, so that stdout holds only the figures (or the JSON line)."""
    print(line, file=sys.stderr, flush=True)


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def figures(load: Load, *, items_per_call: int = 1) -> dict[str, float | int | str | None]:
    """A run as JSON-ready figures; `items_per_call` counts events per RecordEvents batch."""
    busy = load.server_busy
    per_call = load.server_cpu_us_per_call
    return {
        "per_second": round(load.per_second * items_per_call, 1),
        "p50_ms": round(load.percentile_ms(50), 3),
        "p99_ms": round(load.percentile_ms(99), 3),
        "calls": load.calls,
        "errors": load.errors,
        "first_error": load.first_error,
        "client_cpu": round(load.client_busy, 2),
        "server_cpu": None if busy is None else round(busy, 2),
        "other_cpu": None if load.other_busy is None else round(load.other_busy, 2),
        "server_cpu_us_per_item": None if per_call is None else round(per_call / items_per_call, 1),
    }


def _maybe(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_loads(rows: Sequence[tuple[str, Load]], *, unit: str, items_per_call: int = 1) -> None:
    """One line per run: rate, latency, errors, and how busy each side was (1.0 = one core)."""
    print(
        f"{'':24}{unit:>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"{'client cpu':>12}{'server cpu':>12}{'other cpu':>11}{'server us/item':>16}"
    )
    for name, load in rows:
        per_call = load.server_cpu_us_per_call
        print(
            f"{name:24}{load.per_second * items_per_call:>10,.0f}"
            f"{load.percentile_ms(50):>9.2f}{load.percentile_ms(99):>9.2f}{load.errors:>8}"
            f"{load.client_busy:>12.2f}{_maybe(load.server_busy, '.2f'):>12}"
            f"{_maybe(load.other_busy, '.2f'):>11}"
            f"{_maybe(None if per_call is None else per_call / items_per_call, '.1f'):>16}"
        )
        if load.first_error:
            print(f"  first error: {load.first_error}")
        if load.other_busy is not None and load.other_busy > NOISY_OTHER_CPU:
            print(
                f"  other processes took {load.other_busy:.2f} cores during this run: "
                "the figures above are not representative"
            )
