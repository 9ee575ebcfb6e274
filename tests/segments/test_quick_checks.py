"""The quick attribute checks built once per event type never pass a value the full
check refuses, and pass the usual well-typed values (or the fast path is never taken)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from tactful.privacy.contract import AttributeSpec, AttributeType, EventType
from tactful.segments.attributes import quick_checks, value_problem
from tactful.segments.store import AttributeScalar

SPECS = [
    AttributeSpec(AttributeType.STRING),
    AttributeSpec(AttributeType.STRING, max_length=3),
    AttributeSpec(AttributeType.TEXT, max_length=5),
    AttributeSpec(AttributeType.ENUM, values=frozenset({"a", "bb", "long"}), max_length=2),
    AttributeSpec(AttributeType.INT),
    AttributeSpec(AttributeType.FLOAT),
    AttributeSpec(AttributeType.BOOL),
    AttributeSpec(AttributeType.TIMESTAMP),
]
EVENT = EventType("e", "", {f"a{i}": spec for i, spec in enumerate(SPECS)})
QUICK = quick_checks(EVENT)

values = st.one_of(
    st.text(max_size=6),
    st.sampled_from(["a", "bb", "long", "c"]),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.datetimes(timezones=st.just(UTC)),
)


@given(st.sampled_from(sorted(EVENT.attributes)), values)
def test_a_quick_pass_is_a_full_pass(name: str, value: AttributeScalar) -> None:
    if QUICK[name](value):
        assert value_problem(EVENT.attributes[name], value) is None


def test_well_typed_values_pass_quickly() -> None:
    good: list[AttributeScalar] = ["any", "abc", "words", "bb", 7, 1.5, True]
    good.append(datetime(2026, 1, 1, tzinfo=UTC))
    assert all(QUICK[f"a{i}"](value) for i, value in enumerate(good))
    assert QUICK["a5"](3)  # an int where a float is declared, as the full check allows


def test_what_the_full_check_refuses_fails_quickly() -> None:
    refused: list[AttributeScalar] = ["abcd", "sixsix", "long", True, float("inf"), 1, ""]
    for i, value in enumerate(refused, start=1):
        assert value_problem(SPECS[i], value) is not None
        assert not QUICK[f"a{i}"](value)
