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


@dataclass(frozen=True)
class UpliftBar:
    x: float
    width: float
    bar_y: float  # the bar runs from the zero line to the difference
    bar_height: float
    low_y: float  # the 95 % interval's whisker
    high_y: float
    centre: float
    positive: bool
    label: str  # v<version>, shown under the bar
    title: str  # for the bar's <title>: the difference and its interval


@dataclass(frozen=True)
class UpliftChart:
    width: int
    height: int
    zero_y: float
    bars: tuple[UpliftBar, ...]
    extent: float  # the largest distance from zero the chart shows
    summary: str  # for aria-label


def uplift_chart(uplifts: Sequence[tuple[int, float, float, float]]) -> UpliftChart:
    """One bar per playbook version: (version, difference, low, high), the uplift of
    treatment over holdout with its 95 % interval as a whisker, to one scale around zero.

    >>> chart = uplift_chart([(1, 0.1, -0.1, 0.3), (2, -0.2, -0.3, -0.1)])
    >>> one, two = chart.bars
    >>> chart.zero_y, one.bar_height, one.positive, two.positive, one.high_y, two.low_y
    (52.0, 17.33, True, False, 0.0, 104.0)
    """
    plot = HEIGHT - AXIS
    zero = plot / 2
    extent = max((max(abs(low), abs(high), abs(d)) for _, d, low, high in uplifts), default=0.0)
    per_unit = zero / extent if extent else 0.0
    slot = WIDTH / max(len(uplifts), 1)
    bars = []
    for index, (version, difference, low, high) in enumerate(uplifts):
        width = min(slot * 0.6, 80.0)
        x = index * slot + (slot - width) / 2
        tip = zero - difference * per_unit
        bars.append(
            UpliftBar(
                x=round(x, 2),
                width=round(width, 2),
                bar_y=round(min(tip, zero), 2),
                bar_height=round(abs(tip - zero), 2),
                low_y=round(zero - low * per_unit, 2),
                high_y=round(zero - high * per_unit, 2),
                centre=round(x + width / 2, 2),
                positive=difference >= 0,
                label=f"v{version}",
                title=f"v{version}: {difference:+.3f}, 95 % interval [{low:+.3f}, {high:+.3f}]",
            )
        )
    summary = "; ".join(b.title for b in bars) or "no uplift to show"
    return UpliftChart(WIDTH, HEIGHT, round(zero, 2), tuple(bars), extent, summary)
