"""The CPU budget's columns, and its table and JSON (bench/cpu_budget.py measures them)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench._harness import Load
from bench._phases import PHASE_NAMES, Key, Window, attribute
from bench._report import describe_machine, machine

COLUMNS = ("echo", "GetSegments", "RecordEvents", "NextAction", "RecordOutcome")


@dataclass(frozen=True)
class Column:
    """One method's budget: the unprofiled total and the profiled run's split of it."""

    items_per_call: int  # events per RecordEvents call; 1 for the others
    plain: Load  # unprofiled
    profiled: Load
    window: Window

    def budget_us(self) -> dict[str, float] | None:
        """µs per item by phase, summing to the unprofiled total; None without a total."""
        split = self._split()
        if split is None:
            return None
        phases, _, native, scale = split
        budget = {name: phases.get(name, 0.0) * scale for name in PHASE_NAMES}
        budget["native"] += native
        return budget

    def _split(self) -> tuple[dict[str, float], dict[Key, float], float, float] | None:
        """The profile's phases and `other`'s functions (seconds in the window), the native
        µs per item, and the factor from a phase's seconds to its µs per item."""
        total, cost = self.total_us(), self.profiler_cost_per_call_s()
        if total is None or cost is None:
            return None
        native = min(total, self._per_profiled_item(self.window.native_s))
        phases, others = attribute(self.window.entries, cost_per_call_s=cost)
        kept = sum(phases.values())
        return phases, others, native, (total - native) / kept if kept else 0.0

    def profiler_cost_per_call_s(self) -> float | None:
        """What the profiler added per function call it saw: the profiled Python time
        beyond the unprofiled total (less native), over the calls profiled."""
        total = self.total_us()
        if total is None or not self.profiled.calls or not self.window.calls:
            return None
        native = min(total, self._per_profiled_item(self.window.native_s))
        items = self.profiled.calls * self.items_per_call
        seen_s = sum(attribute(self.window.entries)[0].values())
        return max(0.0, (seen_s - (total - native) * items / 1e6) / self.window.calls)

    def total_us(self) -> float | None:
        return self.per_item(self.plain.server_cpu_s, self.plain.calls)

    def profiled_over_plain(self) -> float | None:
        """How much more CPU per call the server used while profiled."""
        total = self.total_us()
        profiled = self._per_profiled_item(self.window.cpu_s)
        return profiled / total if total and profiled else None

    def largest_other(self, count: int = 3) -> list[tuple[str, float]]:
        """The functions `other` holds the most of, in µs per item (scaled like the rest)."""
        split = self._split()
        if split is None:
            return []
        _, others, _, scale = split
        ranked = sorted(others.items(), key=lambda item: -item[1])[:count]
        return [(f"{Path(f).name}:{line}({name})", s * scale) for (f, line, name), s in ranked]

    def per_item(self, seconds: float | None, calls: int) -> float | None:
        if seconds is None or not calls:
            return None
        return seconds / calls / self.items_per_call * 1e6

    def _per_profiled_item(self, seconds: float) -> float:
        return self.per_item(seconds, self.profiled.calls) or 0.0


def report(args: argparse.Namespace, runs: dict[str, dict[str, Column]]) -> dict[str, object]:
    return {
        "benchmark": "cpu_budget",
        "seconds": args.seconds,
        "concurrency": args.concurrency,
        "batch": args.batch,
        "observability": not args.quiet,
        "phases": list(PHASE_NAMES),
        "engines": {
            engine: {name: _column_figures(column) for name, column in columns.items()}
            for engine, columns in runs.items()
        },
        "machine": machine(),
    }


def _column_figures(column: Column) -> dict[str, object]:
    budget = column.budget_us()
    overhead = column.profiled_over_plain()
    return {
        "per": "event" if column.items_per_call > 1 else "call",
        "items_per_call": column.items_per_call,
        "total_us": _round(column.total_us()),
        "phases_us": None if budget is None else {k: round(v, 1) for k, v in budget.items()},
        "profiled_over_unprofiled": _round(overhead),
        "profiler_cost_per_call_us": _round(_us_of(column.profiler_cost_per_call_s())),
        "calls": column.plain.calls,
        "profiled_calls": column.profiled.calls,
        "errors": column.plain.errors + column.profiled.errors,
        "first_error": column.plain.first_error or column.profiled.first_error,
        "other_largest_us": [[name, round(us, 1)] for name, us in column.largest_other()],
    }


def print_budget(args: argparse.Namespace, runs: dict[str, dict[str, Column]]) -> None:
    print(f"CPU budget per call: µs of server CPU (share of the total); RecordEvents per event "
          f"in batches of {args.batch}; {args.seconds:g} s per method, concurrency "
          f"{args.concurrency}; metrics and JSON log {'off' if args.quiet else 'on'}")  # fmt: skip
    print(f"machine: {describe_machine()}")
    for engine, columns in runs.items():
        print(f"\n{engine}")
        for label, cells in _rows([columns[c] for c in COLUMNS]):
            print(f"{label:22}" + "".join(f"{cell:>17}" for cell in cells))
        for name in COLUMNS:
            _print_notes(name, columns[name])


def _rows(columns: Sequence[Column]) -> Iterator[tuple[str, list[str]]]:
    yield "phase", ["echo", "GetSegments", "RecordEvents/ev", "NextAction", "RecordOutcome"]
    budgets = [c.budget_us() for c in columns]
    totals = [c.total_us() for c in columns]
    for phase in PHASE_NAMES:
        yield (
            phase,
            [_cell(b[phase] if b else None, t) for b, t in zip(budgets, totals, strict=True)],
        )
    yield "total (unprofiled)", [_us(t) for t in totals]
    echo = totals[0]
    yield "× the echo", [f"{t / echo:.2f}" if t and echo else "-" for t in totals]
    overheads = [c.profiled_over_plain() for c in columns]
    yield "profiled / unprofiled", [f"{o:.1f} ×" if o else "-" for o in overheads]
    yield "calls (unprof./prof.)", [f"{c.plain.calls}/{c.profiled.calls}" for c in columns]


def _print_notes(name: str, column: Column) -> None:
    errors = column.plain.errors + column.profiled.errors
    if errors:
        first = column.plain.first_error or column.profiled.first_error
        print(f"  {name}: {errors} errors; the first: {first}")
    largest = ", ".join(f"{f} {us:.0f}" for f, us in column.largest_other() if us >= 1)
    if largest and name != "echo":
        print(f"  {name}, the largest in other (µs): {largest}")


def _cell(us: float | None, total: float | None) -> str:
    if us is None or not total:
        return "-"
    return f"{us:,.0f} ({us / total:.0%})"


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _us_of(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e6


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
