"""Action conditions: a small declarative form, parsed into a tree, never evaluated as code.

In a playbook, an action's `eligibility`, `applicability` and `suitability` are each
one condition, an inline table:

    { signal = "payment_failures_24h", op = ">=", value = 1 }   a signal (as segment rules)
    { segment = "active_customer" }                             the person is in a segment
    { intent = "label", op = "in", value = ["purchasing"] }     the top intent's label
    { intent = "runner_up", op = "==", value = "comparing" }    the runner-up's label
    { intent = "confidence", op = ">=", value = 0.7 }           the top intent's confidence
    { consent = true }                                          consent to the journey's purpose
    { all = [ condition, … ] }   { any = [ condition, … ] }   { not = condition }

Signal comparisons are those of `tactful.privacy.rules` (parsed by `parse_rule`).
Label tests take == != in not_in and the intent labels; confidence tests take
< <= > >= between 0 and 1. `reads` says what a condition reads, for the check that a
playbook conditions only on what its purpose releases.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tactful.privacy.rules import MAX_DEPTH, NUMERIC_OPS, Rule, parse_rule, signals_of
from tactful.segments.intent import Intent


class IntentField(StrEnum):
    LABEL = "label"  # the top intent's label
    RUNNER_UP = "runner_up"  # the second intent's label
    CONFIDENCE = "confidence"  # the top intent's confidence, 0..1
    RUNNER_UP_CONFIDENCE = "runner_up_confidence"  # the second intent's confidence, 0..1


LABEL_OPS = frozenset({"==", "!=", "in", "not_in"})
_LEAVES = ("signal", "segment", "intent", "consent")
_COMBINATORS = ("all", "any", "not")


@dataclass(frozen=True)
class SignalTest:
    rule: Rule  # a comparison over one signal, as in segment rules


@dataclass(frozen=True)
class InSegment:
    segment: str


@dataclass(frozen=True)
class IntentTest:
    field: IntentField
    op: str
    value: str | float | tuple[str, ...]


@dataclass(frozen=True)
class ConsentTest:
    granted: bool


@dataclass(frozen=True)
class AllOf:
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    condition: Condition


Condition = SignalTest | InSegment | IntentTest | ConsentTest | AllOf | AnyOf | Not


@dataclass(frozen=True)
class Reads:
    """What a condition reads: signals, segments, and whether it reads the intent."""

    signals: frozenset[str] = frozenset()
    segments: frozenset[str] = frozenset()
    intent: bool = False

    def __or__(self, other: Reads) -> Reads:
        return Reads(
            self.signals | other.signals,
            self.segments | other.segments,
            self.intent or other.intent,
        )


def reads(condition: Condition) -> Reads:
    """Every signal and segment a condition reads, and whether it reads the intent."""
    if isinstance(condition, SignalTest):
        return Reads(signals=signals_of(condition.rule))
    if isinstance(condition, InSegment):
        return Reads(segments=frozenset({condition.segment}))
    if isinstance(condition, IntentTest):
        return Reads(intent=True)
    if isinstance(condition, ConsentTest):
        return Reads()
    if isinstance(condition, Not):
        return reads(condition.condition)
    found = Reads()
    for inner in condition.conditions:
        found = found | reads(inner)
    return found


def parse_condition(
    raw: Any,
    where: str,
    signal_kinds: Mapping[str, str],
    segments: frozenset[str] | set[str],
    problems: list[str],
    depth: int = 0,
) -> Condition | None:
    """The condition in `raw`, or None with every problem appended (located by `where`).

    `signal_kinds` maps each signal the contract declares to its kind; `segments` names
    the segments it declares. Whether the purpose releases them is checked by the caller.
    """
    if depth > MAX_DEPTH:
        problems.append(f"{where}: conditions nest at most {MAX_DEPTH} deep")
        return None
    if not isinstance(raw, dict) or len(raw.keys() & {*_LEAVES, *_COMBINATORS}) != 1:
        problems.append(
            f"{where}: a condition is one of {{signal = …, op = …, value = …}}, "
            "{segment = …}, {intent = …, op = …, value = …}, {consent = …}, "
            "{all = […]}, {any = […]}, {not = …}"
        )
        return None
    if "not" in raw:
        if len(raw) != 1:
            problems.append(f"{where}: unknown keys {sorted(set(raw) - {'not'})}")
            return None
        inner = parse_condition(
            raw["not"], f"{where}.not", signal_kinds, segments, problems, depth + 1
        )
        return Not(inner) if inner is not None else None
    for key, kind in (("all", AllOf), ("any", AnyOf)):
        if key in raw:
            items = raw[key]
            if len(raw) != 1:
                problems.append(f"{where}: unknown keys {sorted(set(raw) - {key})}")
                return None
            if not isinstance(items, list) or not items:
                problems.append(f"{where}.{key}: a non-empty list of conditions")
                return None
            parsed = [
                parse_condition(
                    item, f"{where}.{key}[{i}]", signal_kinds, segments, problems, depth + 1
                )
                for i, item in enumerate(items)
            ]
            if any(p is None for p in parsed):
                return None
            return kind(tuple(p for p in parsed if p is not None))
    if "signal" in raw:
        rule = parse_rule(raw, where, signal_kinds, problems, depth)
        return SignalTest(rule) if rule is not None else None
    if "segment" in raw:
        return _segment(raw, where, segments, problems)
    if "intent" in raw:
        return _intent(raw, where, problems)
    return _consent(raw, where, problems)


def _segment(
    raw: Mapping[str, Any], where: str, segments: frozenset[str] | set[str], problems: list[str]
) -> InSegment | None:
    name = raw["segment"]
    found = len(problems)
    if set(raw) != {"segment"}:
        problems.append(f"{where}: unknown keys {sorted(set(raw) - {'segment'})}")
    if not isinstance(name, str) or name not in segments:
        problems.append(f"{where}.segment: {name!r} is not a declared segment")
    if len(problems) > found:
        return None
    assert isinstance(name, str)
    return InSegment(name)


def _intent(raw: Mapping[str, Any], where: str, problems: list[str]) -> IntentTest | None:
    field: Any = raw.get("intent")
    op: Any = raw.get("op")
    value: Any = raw.get("value")
    found = len(problems)
    extra = set(raw) - {"intent", "op", "value"}
    if extra:
        problems.append(f"{where}: unknown keys {sorted(extra)}")
    fields = ", ".join(f.value for f in IntentField)
    try:
        parsed = IntentField(field)
    except (ValueError, TypeError):
        problems.append(f"{where}.intent: {field!r} is not one of {fields}")
        return None
    if parsed in (IntentField.CONFIDENCE, IntentField.RUNNER_UP_CONFIDENCE):
        if op not in NUMERIC_OPS:
            problems.append(f"{where}.op: {op!r} is not one of {', '.join(sorted(NUMERIC_OPS))}")
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            problems.append(f"{where}.value: a confidence is a number from 0 to 1")
        if len(problems) > found:
            return None
        assert isinstance(op, str) and isinstance(value, int | float)
        return IntentTest(parsed, op, float(value))
    labels = {i.value for i in Intent}
    if op not in LABEL_OPS:
        problems.append(f"{where}.op: {op!r} is not one of {', '.join(sorted(LABEL_OPS))}")
        return None
    listed = op in ("in", "not_in")
    values: list[Any] = value if listed and isinstance(value, list) else [value]
    if (listed and not (isinstance(value, list) and value)) or not all(
        isinstance(v, str) and v in labels for v in values
    ):
        shape = "a non-empty list of intent labels" if listed else "an intent label"
        problems.append(f"{where}.value: {shape}, from {', '.join(sorted(labels))}")
        return None
    return IntentTest(parsed, op, tuple(values) if listed else value)


def _consent(raw: Mapping[str, Any], where: str, problems: list[str]) -> ConsentTest | None:
    granted = raw["consent"]
    found = len(problems)
    if set(raw) != {"consent"}:
        problems.append(f"{where}: unknown keys {sorted(set(raw) - {'consent'})}")
    if not isinstance(granted, bool):
        problems.append(
            f"{where}.consent: true (the person granted the purpose's consent) or false"
        )
    if len(problems) > found:
        return None
    assert isinstance(granted, bool)
    return ConsentTest(granted)
