"""Calls and denials per day as an SVG bar chart, drawn on the server: no script, no
other host, and nothing a Content-Security-Policy without inline script refuses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tactful.console.sources import DailyCount

WIDTH, HEIGHT, AXIS = 560, 120, 16


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    calls_y: float
    calls_height: float
    denials_y: float
    denials_height: float
    label: str  # for the bar's <title>: the day and its counts


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    peak: int
    first_day: str
    last_day: str
    calls: int
    denials: int


def daily_chart(counts: Sequence[DailyCount]) -> Chart:
    """Bars for each day: its calls, and the denials among them, to one scale.

    >>> from datetime import date
    >>> days = [DailyCount(date(2026, 11, 1), 4, 1), DailyCount(date(2026, 11, 2), 0, 0)]
    >>> first, second = daily_chart(days).bars
    >>> first.calls_height, first.denials_height, second.calls_height
    (104.0, 26.0, 0.0)
    """
    peak = max((c.calls for c in counts), default=0)
    plot = HEIGHT - AXIS
    slot = WIDTH / max(len(counts), 1)
    bars = []
    for index, count in enumerate(counts):
        calls = plot * count.calls / peak if peak else 0.0
        denials = plot * count.denials / peak if peak else 0.0
        bars.append(
            Bar(
                x=round(index * slot + slot * 0.1, 2),
                width=round(slot * 0.8, 2),
                calls_y=round(plot - calls, 2),
                calls_height=round(calls, 2),
                denials_y=round(plot - denials, 2),
                denials_height=round(denials, 2),
                label=f"{count.day.isoformat()}: {count.calls} calls, {count.denials} denied",
            )
        )
    return Chart(
        WIDTH,
        HEIGHT,
        tuple(bars),
        peak,
        counts[0].day.isoformat() if counts else "",
        counts[-1].day.isoformat() if counts else "",
        sum(c.calls for c in counts),
        sum(c.denials for c in counts),
    )
