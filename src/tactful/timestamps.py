"""Time as Tactful keeps it: integer microseconds since the Unix epoch, UTC.

Every stored time (events, consent, the access log, pending records, checkpoints)
is such an integer; the clock and the wire speak `datetime`. This module is the
one place that converts between them. It imports nothing of Tactful, so every
layer may import it.

The arithmetic is on integers only. The float forms written by hand before
(`int(moment.timestamp() * 1_000_000)`, `datetime.fromtimestamp(us / 1e6)`,
`int(span.total_seconds() * 1_000_000)`) agree for the times Tactful stores today,
but are off by a microsecond or a second far from 1970 (and
`int(moment.timestamp())` is a second late before 1970).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SECOND_US = 1_000_000
_MICROSECOND = timedelta(microseconds=1)


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime; a naive one is refused
    (its zone would be a guess).

    >>> to_us(datetime(2026, 1, 1, tzinfo=UTC))
    1767225600000000
    >>> to_us(datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC))
    -500000
    >>> to_us(datetime(2026, 1, 1))
    Traceback (most recent call last):
    ...
    TypeError: a time to store needs a time zone; 2026-01-01 00:00:00 has none
    """
    try:
        return (moment - EPOCH) // _MICROSECOND
    except TypeError:
        if isinstance(moment, datetime) and moment.utcoffset() is None:
            raise TypeError(f"a time to store needs a time zone; {moment} has none") from None
        raise


def from_us(us: int) -> datetime:
    """The UTC datetime `us` microseconds after the epoch.

    >>> from_us(1767225600000001)
    datetime.datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=datetime.timezone.utc)
    >>> from_us(to_us(datetime(2026, 12, 7, 11, 42, tzinfo=UTC))).isoformat()
    '2026-12-07T11:42:00+00:00'
    """
    return EPOCH + _MICROSECOND * us


def duration_us(span: timedelta) -> int:
    """Whole microseconds in `span` (a timedelta holds nothing finer).

    >>> duration_us(timedelta(minutes=5))
    300000000
    >>> duration_us(timedelta(seconds=0.5))
    500000
    >>> duration_us(-timedelta(microseconds=1))
    -1
    """
    return span // _MICROSECOND
