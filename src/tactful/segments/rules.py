"""Evaluating segment rules (privacy/rules.py) against a subject's signal values."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from tactful.privacy.rules import AllOf, AnyOf, Compare, Not, Rule
from tactful.segments.store import AttributeScalar

Values = Mapping[str, AttributeScalar | None]


def matches(rule: Rule, values: Values, *, now: datetime) -> bool:
    """Whether a subject with these signal values is in the segment.

    >>> from tactful.privacy.rules import Compare
    >>> matches(Compare("orders_30d", ">=", 1), {"orders_30d": 2}, now=datetime.now())
    True
    """
    if isinstance(rule, AllOf):
        return all(matches(r, values, now=now) for r in rule.rules)
    if isinstance(rule, AnyOf):
        return any(matches(r, values, now=now) for r in rule.rules)
    if isinstance(rule, Not):
        return not matches(rule.rule, values, now=now)
    return _compare(rule, values.get(rule.signal), now)


def _compare(rule: Compare, value: AttributeScalar | None, now: datetime) -> bool:
    if value is None:
        return False
    op, expected = rule.op, rule.value
    if op == "exists":
        return True
    if isinstance(expected, timedelta):
        if not isinstance(value, datetime):
            return False
        age = now - value
        return age <= expected if op == "within" else age > expected
    if op == "in":
        return isinstance(expected, tuple) and value in expected
    if op == "not_in":
        return isinstance(expected, tuple) and value not in expected
    if op == "==":
        return bool(value == expected)
    if op == "!=":
        return bool(value != expected)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    assert isinstance(expected, int | float)
    return {
        "<": value < expected,
        "<=": value <= expected,
        ">": value > expected,
        ">=": value >= expected,
    }[op]
