"""Checking event attributes against the catalog and the purpose's policy."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from tactful.privacy.contract import (
    AttributeSpec,
    AttributeType,
    EventType,
    Purpose,
    UndeclaredAttributes,
)
from tactful.privacy.errors import Violation
from tactful.segments.store import AttributeScalar


@dataclass
class CheckedAttributes:
    kept: dict[str, AttributeScalar] = field(default_factory=dict)
    dropped: int = 0
    violations: list[Violation] = field(default_factory=list)


def check_attributes(
    where: str, event: EventType, purpose: Purpose, attributes: Mapping[str, AttributeScalar]
) -> CheckedAttributes:
    """Keep declared, well-typed attributes; drop or refuse undeclared ones per the purpose."""
    checked = CheckedAttributes()
    for name, value in attributes.items():
        spec = event.attributes.get(name)
        if spec is None:
            if purpose.undeclared_attributes is UndeclaredAttributes.DROP:
                checked.dropped += 1
            else:
                checked.violations.append(
                    Violation(
                        f"{where}.attributes.{name}",
                        f"not declared for purpose {purpose.name} (event {event.name})",
                    )
                )
            continue
        problem = value_problem(spec, value)
        if problem:
            checked.violations.append(Violation(f"{where}.attributes.{name}", problem))
        else:
            checked.kept[name] = value
    return checked


_EXPECTED: dict[AttributeType, tuple[type, ...]] = {
    AttributeType.INT: (int,),
    AttributeType.FLOAT: (float, int),
    AttributeType.BOOL: (bool,),
    AttributeType.TIMESTAMP: (datetime,),
}
_TEXTUAL = (AttributeType.STRING, AttributeType.ENUM, AttributeType.TEXT)


def value_problem(spec: AttributeSpec, value: AttributeScalar) -> str | None:
    """What is wrong with `value` for `spec`, or None."""
    kind = spec.type
    # Never echo a text value: a person's words must not reach an error reply or a log.
    if kind in _TEXTUAL:
        if not isinstance(value, str):
            return f"must be a {kind} (string_value), got {_kind_of(value)}"
        if spec.max_length is not None and len(value) > spec.max_length:
            return f"is {len(value)} characters; at most {spec.max_length}"
        if kind is AttributeType.ENUM and value not in spec.values:
            # Not repeated either: a client that sends a person's words here by mistake
            # must not have them copied into an error reply or a log.
            return f"is not one of {', '.join(sorted(spec.values))}"
        return None
    bool_where_number = isinstance(value, bool) and kind is not AttributeType.BOOL
    if bool_where_number or not isinstance(value, _EXPECTED[kind]):
        return f"must be {kind}, got {_kind_of(value)}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, got {value}"
    return None


Accepts = Callable[[AttributeScalar], bool]


def quick_checks(event: EventType) -> dict[str, Accepts]:
    """Per declared attribute of `event`, a test built once that passes only values
    `value_problem` accepts, at a fraction of its cost per event. A value it fails may
    still be fine (it is stricter: exact types): `check_attributes` then decides, and
    names the problem."""
    return {name: _accepts(spec) for name, spec in event.attributes.items()}


def _accepts(spec: AttributeSpec) -> Accepts:
    kind, longest, values = spec.type, spec.max_length, spec.values
    if kind is AttributeType.ENUM:
        return lambda v: type(v) is str and v in values and (longest is None or len(v) <= longest)
    if kind in _TEXTUAL:
        if longest is None:
            return lambda v: type(v) is str
        return lambda v: type(v) is str and len(v) <= longest
    if kind is AttributeType.FLOAT:
        return lambda v: type(v) is int or (type(v) is float and math.isfinite(v))
    exact = {AttributeType.INT: int, AttributeType.BOOL: bool, AttributeType.TIMESTAMP: datetime}
    wanted = exact[kind]
    return lambda v: type(v) is wanted


def _kind_of(value: AttributeScalar) -> str:
    return {bool: "bool", int: "int", float: "float", str: "string"}.get(type(value), "timestamp")
