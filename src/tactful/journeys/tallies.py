"""What the scorecard reads of a journey: each person counted once, and what they
contribute, summed per (playbook version, arm, action, rung) where their decision was.

The scorecard declares what each person contributes as values (`PersonValue`), never
as code, so that a store can sum them where the rows are (storage/outcome_tallies.py
turns them into SQL) instead of handing a million decisions to Python. `tally` is the
rule itself, over decisions already in Python: the one every store must agree with.

Which decision counts: a person's latest in the window (by time, then by decision id,
the order the stores read them in), with every outcome reported on it merged (per
field, the latest value reported).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice
from operator import attrgetter, gt
from typing import Protocol

from tactful.journeys.outcomes import OutcomeReport, ScoredDecision


@dataclass(frozen=True)
class Counted:
    """1 if the person's report has every (field, value) of `all_of` and none of
    `none_of` (a field not reported has no value), else 0."""

    all_of: tuple[tuple[str, bool | str], ...]
    none_of: tuple[tuple[str, bool | str], ...] = ()


@dataclass(frozen=True)
class Reported:
    """1 if the person's report has `field`, else 0."""

    field: str


@dataclass(frozen=True)
class Clamped:
    """The person's `field` rounded to a whole number (half to even, as Python's round)
    and clamped to [low, high]; 0 if not reported. 0 <= low <= high."""

    field: str
    low: int
    high: int


PersonValue = Counted | Reported | Clamped


@dataclass(frozen=True)
class Tally:
    """The people whose counted decision is in one (version, arm, action, rung), and per
    value asked for, in order, the sum of what each contributes."""

    playbook_version: int
    arm: str
    action: str
    rung: str
    people: int
    sums: tuple[int, ...]


class TallySource(Protocol):
    def tallied(
        self, journey: str, since_us: int, until_us: int, values: Sequence[PersonValue]
    ) -> list[Tally]:
        """The tallies of `journey`'s decisions made in [since_us, until_us), as `tally`
        makes them from `scored`; in any order, one per (version, arm, action, rung)."""
        ...


class ScoredSource(Protocol):
    def scored(self, journey: str, since_us: int, until_us: int) -> list[ScoredDecision]:
        """Every decision on `journey` made in [since_us, until_us), with its outcomes;
        fastest in time order."""
        ...


class TalliedRows:
    """A TallySource over a source of scored decisions: `tally` of what it reads."""

    def __init__(self, source: ScoredSource) -> None:
        self._source = source

    def tallied(
        self, journey: str, since_us: int, until_us: int, values: Sequence[PersonValue]
    ) -> list[Tally]:
        return tally(self._source.scored(journey, since_us, until_us), values)


_DECIDED_AT = attrgetter("decided_at_us")
_PSEUDONYM = attrgetter("pseudonym")
_KEY = attrgetter("playbook_version", "arm", "action", "rung")


def tally(rows: Sequence[ScoredDecision], values: Sequence[PersonValue]) -> list[Tally]:
    """The tallies of `rows` (decisions in the order a store reads them: time, then
    decision id; else sorted by time, ties kept in the order given)."""
    grouped: dict[tuple[int, str, str, str], list[OutcomeReport]] = {}
    for row in latest_per_person(rows):
        grouped.setdefault(_KEY(row), []).append(row.report)
    return [
        Tally(*key, len(reports), tuple(total(v, reports) for v in values))
        for key, reports in grouped.items()
    ]


def total(value: PersonValue, reports: Sequence[OutcomeReport]) -> int:
    """What people with `reports` contribute to `value`, summed (in C loops where it
    can: the simulator tallies thousands of people thousands of times)."""
    if isinstance(value, Counted) and len(value.all_of) == 1 and not value.none_of:
        ((field, wanted),) = value.all_of
        return list(map(attrgetter(field), reports)).count(wanted)
    if isinstance(value, Counted):
        return sum(value_of(value, r) for r in reports)
    found = list(map(attrgetter(value.field), reports))
    if isinstance(value, Reported):
        return len(found) - found.count(None)
    low, high = value.low, value.high
    return sum(min(high, max(low, round(v))) for v in found if v is not None)


def latest_per_person(rows: Sequence[ScoredDecision]) -> list[ScoredDecision]:
    """Each person's latest decision: the last of theirs in time order. (In C loops:
    rows already in time order skip the sort.)"""
    times = list(map(_DECIDED_AT, rows))
    if any(map(gt, times, islice(times, 1, None))):
        rows = [rows[i] for i in sorted(range(len(rows)), key=times.__getitem__)]
    return list(dict(zip(map(_PSEUDONYM, rows), rows, strict=True)).values())


def value_of(value: PersonValue, report: OutcomeReport) -> int:
    """What one person with `report` contributes to `value`."""
    if isinstance(value, Counted):
        has = all(getattr(report, f) == v for f, v in value.all_of)
        return int(has and not any(getattr(report, f) == v for f, v in value.none_of))
    found = getattr(report, value.field)
    if isinstance(value, Reported):
        return int(found is not None)
    if found is None:
        return 0
    rounded: int = round(found)
    return min(value.high, max(value.low, rounded))
