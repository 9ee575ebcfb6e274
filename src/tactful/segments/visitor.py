"""The first coarse segments: new and returning visitors, from first-seen time."""

from __future__ import annotations

from datetime import timedelta

from tactful.segments.store import Activity
from tactful.timestamps import duration_us

NEW_VISITOR_WINDOW_US = duration_us(timedelta(hours=24))


def visitor_segments(activity: Activity | None, *, now_us: int) -> frozenset[str]:
    """`new_visitor` if first seen within the last 24 hours, else `returning_visitor`.

    A subject with no events is in neither.

    >>> sorted(visitor_segments(Activity(0, 0, 1), now_us=NEW_VISITOR_WINDOW_US))
    ['new_visitor']
    >>> sorted(visitor_segments(Activity(0, 0, 1), now_us=NEW_VISITOR_WINDOW_US + 1))
    ['returning_visitor']
    """
    if activity is None:
        return frozenset()
    if now_us - activity.first_seen_us <= NEW_VISITOR_WINDOW_US:
        return frozenset({"new_visitor"})
    return frozenset({"returning_visitor"})
