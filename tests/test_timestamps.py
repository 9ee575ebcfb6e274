"""The one conversion between datetimes and stored microseconds: exact, both ways."""

from __future__ import annotations

import ast
import doctest
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import tactful.timestamps
from tactful.timestamps import EPOCH, SECOND_US, duration_us, from_us, to_us

# Every microsecond a datetime can hold, in any fixed offset.
AWARE = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=12, minutes=30))]
    ),
)
US = st.integers(to_us(datetime(1, 1, 2, tzinfo=UTC)), to_us(datetime(9999, 12, 31, tzinfo=UTC)))


def test_doctests() -> None:
    result = doctest.testmod(tactful.timestamps)
    assert result.attempted > 0 and result.failed == 0


@given(AWARE)
@example(datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC))
@example(datetime(9999, 12, 30, 23, 59, 59, 999_999, tzinfo=UTC))
def test_a_datetime_comes_back_as_the_same_instant(moment: datetime) -> None:
    back = from_us(to_us(moment))
    assert back == moment
    assert back.tzinfo is UTC


@given(US)
@example(-25756988594259004)  # 1153: datetime.fromtimestamp(us / 1e6) is a microsecond late
@example(74859888159788115)  # 4342: the same
def test_microseconds_come_back_unchanged(us: int) -> None:
    assert to_us(from_us(us)) == us


# Room for the step: up to 10**12 µs (11.6 days) after the start.
BEFORE_THE_END = st.integers(
    to_us(datetime(1, 1, 2, tzinfo=UTC)), to_us(datetime(9999, 12, 1, tzinfo=UTC))
)


@given(BEFORE_THE_END, st.integers(-(10**12), 10**12))
def test_order_and_differences_are_kept(us: int, step: int) -> None:
    later = from_us(us) + timedelta(microseconds=abs(step))
    assert to_us(later) - us == abs(step) == duration_us(later - from_us(us))


@given(st.datetimes())
def test_a_naive_datetime_is_refused(moment: datetime) -> None:
    with pytest.raises(TypeError, match="needs a time zone"):
        to_us(moment)


def test_something_that_is_not_a_datetime_is_refused_as_it_is() -> None:
    with pytest.raises(TypeError, match="unsupported operand"):
        to_us(1.5)  # type: ignore[arg-type]


@given(st.timedeltas())
@example(timedelta(days=3251, seconds=54223, microseconds=118858))
def test_a_duration_is_its_whole_microseconds(span: timedelta) -> None:
    us = duration_us(span)
    assert us == (span.days * 86_400 + span.seconds) * SECOND_US + span.microseconds
    assert timedelta(microseconds=us) == span


def test_the_float_forms_it_replaces_were_off_far_from_1970() -> None:
    """What the copies written by hand gave: right for today's times, wrong here."""
    before_1970 = datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC)
    assert int(before_1970.timestamp()) * 1_000_000 + before_1970.microsecond == 500_000
    assert to_us(before_1970) == -500_000
    last = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    late = int(last.timestamp()) * 1_000_000 + last.microsecond
    assert late - to_us(last) == SECOND_US  # a whole second late
    assert datetime.fromtimestamp(74859888159788115 / 1_000_000, tz=UTC) != from_us(
        74859888159788115
    )
    span = timedelta(days=3251, seconds=54223, microseconds=118858)
    assert int(span.total_seconds() * 1_000_000) == duration_us(span) - 1


def test_the_epoch_is_zero() -> None:
    assert to_us(EPOCH) == 0 and from_us(0) == EPOCH


def imported_by(source: str) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            modules.add("." if node.level else (node.module or "").split(".")[0])
    return modules


def test_it_is_a_leaf_every_layer_may_import() -> None:
    """Only the standard library: were it to import a layer, that layer could not use it."""
    source = Path(tactful.timestamps.__file__).read_text()
    assert imported_by(source) <= sys.stdlib_module_names
    for offending in ("from tactful.privacy import errors", "from . import errors", "import grpc"):
        assert not imported_by(source + offending) <= sys.stdlib_module_names, offending
