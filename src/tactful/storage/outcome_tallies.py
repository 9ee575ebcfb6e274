"""The scorecard's tallies (journeys/tallies.py) in one statement, so that a million
decisions are summed where they are kept and a few dozen rows reach Python: the same
SQL on every engine but for a few words of its dialect.

The statement, in three steps:
1. chosen: each person's latest decision on the journey in the window (by time, then
   by decision id: the order `scored` reads them in), the dialect's way;
2. person: each chosen decision with its outcomes merged, per field the latest value
   reported (a decision with one outcome or none takes it as it is; one with several
   looks each field up, latest first);
3. per (version, arm, action, rung): the people, and the sum of each value asked for,
   each person's value clamped as the domain declares it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tactful.journeys.tallies import Clamped, Counted, PersonValue, Reported, Tally
from tactful.storage.outcome_rows import REPORT_FIELDS

_WORD = re.compile(r"[a-z_]+")


@dataclass(frozen=True)
class Dialect:
    chosen: str  # SELECT decision_id, playbook_version, arm, action, rung: step 1
    floor: Callable[[str], str]  # the largest whole number not above a non-negative value
    one: Callable[[str], str]  # the aggregate that keeps a group's one value of a field
    outcomes: str  # the outcome table, aliased x, read by decision id


def statement(dialect: Dialect, values: Sequence[PersonValue]) -> str:
    """The statement's text; its parameters are `journey`, `since` and `until`."""
    fields = sorted({f for v in values for f in _fields(v)}, key=REPORT_FIELDS.index)
    merged = "".join(f", {_merged(dialect, f)} AS {f}" for f in fields)
    sums = "".join(f", SUM({_value(dialect, v)})" for v in values)
    return (
        f"WITH chosen AS MATERIALIZED ({dialect.chosen}),"
        " person AS ("
        f" SELECT c.playbook_version, c.arm, c.action, c.rung{merged} FROM chosen c"
        " LEFT JOIN journey_outcomes o ON o.decision_id = c.decision_id"
        " GROUP BY c.decision_id, c.playbook_version, c.arm, c.action, c.rung)"
        f" SELECT playbook_version, arm, action, rung, COUNT(*){sums} FROM person"
        " GROUP BY playbook_version, arm, action, rung"
    )


def tallies(rows: Sequence[Sequence[Any]]) -> list[Tally]:
    """The statement's rows as tallies."""
    return [
        Tally(v, arm, action, rung, n, tuple(map(int, sums)))
        for v, arm, action, rung, n, *sums in rows
    ]


def _fields(value: PersonValue) -> list[str]:
    if isinstance(value, Counted):
        named = [f for f, _ in (*value.all_of, *value.none_of)]
    else:
        named = [value.field]
    for name in named:
        if name not in REPORT_FIELDS:
            raise ValueError(f"{name!r} is not an outcome field")
    return named


def _merged(dialect: Dialect, field: str) -> str:
    latest = (
        f"SELECT x.{field} FROM {dialect.outcomes} WHERE x.decision_id = c.decision_id"
        f" AND x.{field} IS NOT NULL ORDER BY x.recorded_at_us DESC, x.id DESC LIMIT 1"
    )
    return f"CASE WHEN COUNT(o.id) <= 1 THEN {dialect.one(field)} ELSE ({latest}) END"


def _value(dialect: Dialect, value: PersonValue) -> str:
    if isinstance(value, Reported):
        return f"CASE WHEN {value.field} IS NOT NULL THEN 1 ELSE 0 END"
    if isinstance(value, Counted):
        has = [f"{f} = {_literal(v)}" for f, v in value.all_of]
        has += [f"NOT COALESCE({f} = {_literal(v)}, FALSE)" for f, v in value.none_of]
        return f"CASE WHEN {' AND '.join(has) or 'TRUE'} THEN 1 ELSE 0 END"
    return _clamped(dialect, value)


def _clamped(dialect: Dialect, value: Clamped) -> str:
    """Python's round (half to even) and the clamp, exactly: inside (low, high) the value
    is positive, so its fraction is exact in floating point."""
    f, low, high = value.field, int(value.low), int(value.high)
    if not 0 <= low <= high:
        raise ValueError(f"{value!r}: a clamp needs 0 <= low <= high")
    whole = dialect.floor(f)
    odd = f"{whole} - 2 * ({whole} / 2) = 1"  # whole numbers divide whole; no `%` in psycopg
    up = f"{f} - {whole} > 0.5 OR ({f} - {whole} = 0.5 AND {odd})"
    return (
        f"CAST(CASE WHEN {f} IS NULL THEN 0 WHEN {f} <= {low} THEN {low}"
        f" WHEN {f} >= {high} THEN {high} WHEN {up} THEN {whole} + 1 ELSE {whole} END"
        " AS integer)"
    )


def _literal(value: bool | str) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if not _WORD.fullmatch(value):
        raise ValueError(f"{value!r} is not a value an outcome field holds")
    return f"'{value}'"
