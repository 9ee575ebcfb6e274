"""The soak's figures: what each window completed, the samples at its ends, and the tables.

A window's sample holds the CPU used so far by the server, the load generator, the
database (PostgreSQL's processes; none for SQLite) and the whole machine, the server's
RSS, and the sizes of the stores (SQLite's files, or PostgreSQL's databases and WAL).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench._harness import NOISY_OTHER_CPU
from bench._report import describe_machine, machine, verdict

TARGET_RATIO = 0.9
METHODS = ("RecordEvents", "GetSegments", "GetSignals")
MB = 1_000_000


@dataclass(frozen=True)
class Sample:
    """CPU used so far (server, this load generator, the database, the whole machine),
    the server's RSS, and the stores' sizes in bytes by name."""

    server_cpu_s: float | None
    client_cpu_s: float
    database_cpu_s: float | None
    machine_cpu_s: float | None
    rss_bytes: int | None
    sizes: dict[str, int]


@dataclass
class Window:
    """What completed in one window of `--window` seconds, and the server at its end."""

    start_s: float
    seconds: float = 0.0
    calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METHODS, 0))
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    end: Sample | None = None  # the server, the stores and the machine at its end

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    @property
    def per_second(self) -> float:
        return self.total / self.seconds if self.seconds else 0.0

    def percentile_ms(self, percent: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))]


@dataclass
class Soak:
    engine: str
    sizes: tuple[str, ...]  # the names of the stores' sizes, in the order printed
    windows: list[Window]
    seconds: float
    first_error: str | None = None
    stopped_by: str = "time"  # or "calls"
    client_cpu_s: float = 0.0
    at_start: Sample | None = None
    errors_by_kind: dict[str, int] = field(default_factory=dict)  # "method STATUS": calls

    @property
    def has_database(self) -> bool:
        return self.engine != "sqlite"


def merge(windows: Sequence[Window], *, per: int) -> list[Window]:
    """Consecutive windows, `per` at a time (30 s windows into minutes)."""
    merged = []
    for i in range(0, len(windows), per):
        group = windows[i : i + per]
        whole = Window(start_s=group[0].start_s)
        for w in group:
            whole.seconds += w.seconds
            whole.errors += w.errors
            whole.latencies_ms += w.latencies_ms
            for method, n in w.calls.items():
                whole.calls[method] += n
        whole.end = group[-1].end
        merged.append(whole)
    # A last minute much shorter than the others says little: drop it.
    if len(merged) > 1 and merged[-1].seconds < merged[0].seconds / 2:
        merged.pop()
    return merged


def ratio(windows: Sequence[Window]) -> float | None:
    if len(windows) < 2 or not windows[0].per_second:
        return None
    return windows[-1].per_second / windows[0].per_second


@dataclass(frozen=True)
class Busy:
    """Cores' worth of CPU used during a window: the server, the database, everything else."""

    server: float | None
    database: float | None
    other: float | None


def busy(windows: Sequence[Window], index: int, at_start: Sample | None) -> Busy:
    """What the server, the database and everything but them and this load generator
    used during window `index` (from the samples at its ends)."""
    now, window = windows[index].end, windows[index]
    before = windows[index - 1].end if index else at_start
    if now is None or before is None or not window.seconds:
        return Busy(None, None, None)
    server = _spent(before.server_cpu_s, now.server_cpu_s)
    database = _spent(before.database_cpu_s, now.database_cpu_s)
    machine_s = _spent(before.machine_cpu_s, now.machine_cpu_s)
    other = None
    if server is not None and machine_s is not None:
        client = now.client_cpu_s - before.client_cpu_s
        other = max(0.0, machine_s - server - client - (database or 0.0))
    return Busy(*(None if s is None else s / window.seconds for s in (server, database, other)))


def _spent(before: float | None, now: float | None) -> float | None:
    return None if before is None or now is None else now - before


def _us_per_op(window: Window, cores: float | None) -> float | None:
    """CPU per completed call: what an operation costs, whoever limited the rate."""
    if cores is None or not window.per_second:
        return None
    return cores / window.per_second * 1e6


def _mb(window: Window, name: str) -> float | None:
    return None if window.end is None else window.end.sizes.get(name, 0) / MB


def _rss_mb(window: Window) -> float | None:
    if window.end is None or window.end.rss_bytes is None:
        return None
    return window.end.rss_bytes / MB


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def window_figures(soak: Soak, windows: Sequence[Window], batch: int) -> list[dict[str, object]]:
    figures: list[dict[str, object]] = []
    for i, w in enumerate(windows):
        used = busy(windows, i, soak.at_start)
        per_s = {m: round(n / w.seconds, 1) if w.seconds else 0.0 for m, n in w.calls.items()}
        figures.append(
            {
                "start_s": round(w.start_s, 1),
                "seconds": round(w.seconds, 1),
                "ops_per_s": round(w.per_second, 1),
                "per_second": per_s,
                "events_per_s": round(per_s["RecordEvents"] * batch, 1),
                "errors": w.errors,
                "p50_ms": round(w.percentile_ms(50), 2),
                "p99_ms": round(w.percentile_ms(99), 2),
                "server_cpu": _round(used.server, 2),
                "server_cpu_us_per_op": _round(_us_per_op(w, used.server), 1),
                "database_cpu": _round(used.database, 2),
                "database_cpu_us_per_op": _round(_us_per_op(w, used.database), 1),
                "other_cpu": _round(used.other, 2),
                "rss_mb": _round(_rss_mb(w), 1),
                "sizes_mb": {n: _round(_mb(w, n), 2) for n in soak.sizes},
            }
        )
    return figures


def report(args: argparse.Namespace, soak: Soak) -> dict[str, object]:
    minutes = merge(soak.windows, per=max(1, round(60 / args.window)))
    by_minute, by_window = ratio(minutes), ratio(soak.windows)
    return {
        "benchmark": "soak",
        "engine": soak.engine,
        "minutes": args.minutes,
        "seconds": round(soak.seconds, 1),
        "stopped_by": soak.stopped_by,
        "concurrency": args.concurrency,
        "subjects": args.subjects,
        "batch": args.batch,
        "calls": sum(w.total for w in soak.windows),
        "errors": sum(w.errors for w in soak.windows),
        "first_error": soak.first_error,
        "errors_by_kind": soak.errors_by_kind,
        "client_cpu": round(soak.client_cpu_s / soak.seconds, 2) if soak.seconds else None,
        "per_minute": window_figures(soak, minutes, args.batch),
        "per_window": window_figures(soak, soak.windows, args.batch),
        "window_s": args.window,
        "ratio_last_first_minute": _round(by_minute, 3),
        "ratio_last_first_window": _round(by_window, 3),
        "rss_first_last_minute_mb": [_round(_rss_mb(minutes[i]), 1) for i in (0, -1)]
        if minutes
        else None,
        "target_ratio": TARGET_RATIO,
        "met": None if by_minute is None else by_minute >= TARGET_RATIO,
        "machine": machine(),
    }


def print_report(args: argparse.Namespace, soak: Soak) -> None:
    minutes = merge(soak.windows, per=max(1, round(60 / args.window)))
    calls = sum(w.total for w in soak.windows)
    print(
        f"Soak on {soak.engine}: {soak.seconds / 60:.1f} min (stopped by {soak.stopped_by}), "
        f"{args.concurrency} callers, {args.subjects:,} consented subjects; each caller in "
        f"turn: RecordEvents ({args.batch} events), GetSegments, GetSignals, GetSegments, "
        "GetSignals"
    )
    print(f"machine: {describe_machine()}")
    print(
        f"{calls:,} calls, {sum(w.errors for w in soak.windows)} errors; load generator "
        f"{soak.client_cpu_s / soak.seconds if soak.seconds else 0:.2f} cores"
    )
    if soak.errors_by_kind:
        kinds = ", ".join(f"{kind} {n:,}" for kind, n in soak.errors_by_kind.items())
        print(f"  failed calls by method and status: {kinds}")
    if soak.first_error:
        print(f"  first error: {soak.first_error}")
    print("\nper minute:")
    _print_windows(soak, minutes, args.batch)
    print(f"\nper {args.window:g} s:")
    _print_windows(soak, soak.windows, args.batch)
    print()
    by_minute, by_window = ratio(minutes), ratio(soak.windows)
    if by_minute is None:
        print("last/first minute: - (the run is shorter than two minutes)")
    else:
        print(
            f"last/first minute: {by_minute:.2f} "
            f"(target >= {TARGET_RATIO}: {verdict(by_minute >= TARGET_RATIO)})"
        )
    if by_window is not None:
        print(f"last/first {args.window:g} s: {by_window:.2f}")
    if minutes:
        first, last = _rss_mb(minutes[0]), _rss_mb(minutes[-1])
        print(f"server RSS, end of the first and the last minute: {_maybe(first, '.0f')} "
              f"and {_maybe(last, '.0f')} MB")  # fmt: skip


def _print_windows(soak: Soak, windows: Sequence[Window], batch: int) -> None:
    """One line per window; sizes are at its end. `db cpu` is PostgreSQL's processes;
    `other` is everything else on the machine (1.00 = one core): above NOISY_OTHER_CPU,
    the window is not representative."""
    database = f"{'db cpu':>8}{'µs/op':>7}" if soak.has_database else ""
    sizes = "".join(f"{name + ' MB':>{len(name) + 5}}" for name in soak.sizes)
    print(
        f"{'from s':>7}{'ops/s':>8}{'events/s':>10}{'seg/s':>7}{'sig/s':>7}{'p99 ms':>8}"
        f"{'errors':>7}{'srv cpu':>8}{'µs/op':>7}{database}{'other':>7}{'RSS MB':>7}{sizes}"
    )
    noisy_any = False
    for i, w in enumerate(windows):
        rate = {m: n / w.seconds if w.seconds else 0.0 for m, n in w.calls.items()}
        used = busy(windows, i, soak.at_start)
        noisy = used.other is not None and used.other > NOISY_OTHER_CPU
        noisy_any = noisy_any or noisy
        database = (
            f"{_maybe(used.database, '.2f'):>8}{_maybe(_us_per_op(w, used.database), '.0f'):>7}"
            if soak.has_database
            else ""
        )
        sizes = "".join(f"{_maybe(_mb(w, n), '.1f'):>{len(n) + 5}}" for n in soak.sizes)
        print(
            f"{w.start_s:>7.0f}{w.per_second:>8.0f}{rate['RecordEvents'] * batch:>10,.0f}"
            f"{rate['GetSegments']:>7.0f}{rate['GetSignals']:>7.0f}"
            f"{w.percentile_ms(99):>8.1f}{w.errors:>7}"
            f"{_maybe(used.server, '.2f'):>8}{_maybe(_us_per_op(w, used.server), '.0f'):>7}"
            f"{database}{_maybe(used.other, '.2f'):>7}{_maybe(_rss_mb(w), '.0f'):>7}"
            f"{sizes}{' *' if noisy else ''}"
        )
    if noisy_any:
        print(
            f"  * other processes took more than {NOISY_OTHER_CPU} cores in this window:"
            " not representative"
        )


def _maybe(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)
