"""Segment rules: a small declarative form over signals, parsed, never evaluated as code.

In the contract, a segment's `rule` is an inline table:

    { signal = "orders_30d", op = ">=", value = 1 }
    { signal = "plan", op = "in", value = ["pro", "enterprise"] }
    { signal = "first_seen", op = "older_than", value = "24h" }
    { all = [ rule, … ] }   { any = [ rule, … ] }   { not = rule }

Comparisons: == != < <= > >= on numbers, == != on text and booleans, in and
not_in against a list, exists, and within / older_than a duration for the
first_seen and last_seen signals. A signal with no value makes every comparison
false except `not`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

Scalar = str | int | float | bool

NUMERIC_OPS = frozenset({"<", "<=", ">", ">="})
EQUALITY_OPS = frozenset({"==", "!="})
MEMBERSHIP_OPS = frozenset({"in", "not_in"})
AGE_OPS = frozenset({"within", "older_than"})
OPS = NUMERIC_OPS | EQUALITY_OPS | MEMBERSHIP_OPS | AGE_OPS | {"exists"}
MAX_DEPTH = 8
_DURATION = re.compile(r"([0-9]{1,7})([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@dataclass(frozen=True)
class Compare:
    signal: str
    op: str
    value: Scalar | tuple[Scalar, ...] | timedelta | None


@dataclass(frozen=True)
class AllOf:
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class AnyOf:
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Not:
    rule: Rule


Rule = Compare | AllOf | AnyOf | Not


def signals_of(rule: Rule) -> frozenset[str]:
    """Every signal a rule reads."""
    if isinstance(rule, Compare):
        return frozenset({rule.signal})
    if isinstance(rule, Not):
        return signals_of(rule.rule)
    return frozenset().union(*(signals_of(r) for r in rule.rules))


def parse_rule(
    raw: Any, where: str, kinds: Mapping[str, str], problems: list[str], depth: int = 0
) -> Rule | None:
    """The rule in `raw`, or None with every problem appended (located by `where`).

    `kinds` maps each declared signal to its kind (count, last_value, first_seen …).
    """
    if depth > MAX_DEPTH:
        problems.append(f"{where}: rules nest at most {MAX_DEPTH} deep")
        return None
    if not isinstance(raw, dict) or len(raw.keys() & {"all", "any", "not", "signal"}) != 1:
        problems.append(
            f"{where}: a rule is one of {{signal = …, op = …}}, {{all = […]}}, "
            "{any = […]}, {not = …}"
        )
        return None
    if "not" in raw:
        inner = parse_rule(raw["not"], f"{where}.not", kinds, problems, depth + 1)
        return Not(inner) if inner is not None else None
    for key, kind in (("all", AllOf), ("any", AnyOf)):
        if key in raw:
            items = raw[key]
            if not isinstance(items, list) or not items:
                problems.append(f"{where}.{key}: a non-empty list of rules")
                return None
            parsed = [
                parse_rule(r, f"{where}.{key}[{i}]", kinds, problems, depth + 1)
                for i, r in enumerate(items)
            ]
            if any(p is None for p in parsed):
                return None
            return kind(tuple(p for p in parsed if p is not None))
    return _compare(raw, where, kinds, problems)


def _compare(
    raw: Mapping[str, Any], where: str, kinds: Mapping[str, str], problems: list[str]
) -> Compare | None:
    signal, op, value = raw.get("signal"), raw.get("op"), raw.get("value")
    extra = set(raw) - {"signal", "op", "value"}
    found = len(problems)
    if extra:
        problems.append(f"{where}: unknown keys {sorted(extra)}")
    if not isinstance(signal, str) or signal not in kinds:
        problems.append(f"{where}.signal: {signal!r} is not a declared signal")
    if not isinstance(op, str) or op not in OPS:
        problems.append(f"{where}.op: {op!r} is not one of {', '.join(sorted(OPS))}")
    if len(problems) > found:
        return None
    assert isinstance(signal, str) and isinstance(op, str)
    checked = _value(op, value, kinds[signal], f"{where}.value", problems)
    return None if len(problems) > found else Compare(signal, op, checked)


def _value(
    op: str, value: Any, kind: str, where: str, problems: list[str]
) -> Scalar | tuple[Scalar, ...] | timedelta | None:
    timestamps = kind in ("first_seen", "last_seen")
    if op == "exists":
        if value is not None:
            problems.append(f"{where}: exists takes no value")
        return None
    if op in AGE_OPS:
        match = _DURATION.fullmatch(value) if isinstance(value, str) else None
        if not timestamps or not match:
            problems.append(
                f'{where}: {op} needs a first_seen or last_seen signal and a duration such as "24h"'
            )
            return None
        return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if timestamps:
        problems.append(f"{where}: compare {kind} signals with within or older_than")
        return None
    if op in MEMBERSHIP_OPS:
        if not (isinstance(value, list) and value and all(_scalar(v) for v in value)):
            problems.append(f"{where}: {op} needs a non-empty list of values")
            return None
        return tuple(value)
    if op in NUMERIC_OPS and (isinstance(value, bool) or not isinstance(value, int | float)):
        problems.append(f"{where}: {op} needs a number")
        return None
    if not _scalar(value):
        problems.append(f"{where}: needs text, a number or a boolean")
        return None
    result: Scalar = value
    return result


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)
