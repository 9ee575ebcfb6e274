"""Frustration: repeated failures in a window raise a level, none, mild or high.

The caller picks the window (the signal's `window`) and passes only the events
inside it, so time stays a parameter of the caller.

>>> from tactful.segments.store import JourneyEvent
>>> frustration_level([JourneyEvent("payment_failed", 0, {})] * 2)
<Frustration.HIGH: 'high'>
>>> frustration_level([JourneyEvent("form_abandoned", 0, {})])
<Frustration.MILD: 'mild'>
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from enum import StrEnum

from tactful.segments.store import JourneyEvent


class Frustration(StrEnum):
    NONE = "none"
    MILD = "mild"
    HIGH = "high"


# At this many events of a type in the window, frustration is high; one is mild.
HIGH_AT: Mapping[str, int] = {"login_failed": 3, "payment_failed": 2, "form_abandoned": 3}


def frustration_level(events: Iterable[JourneyEvent]) -> Frustration:
    """High when one kind of failure repeats (HIGH_AT), mild when any occurred."""
    counts = Counter(e.type for e in events if e.type in HIGH_AT)
    if any(counts[kind] >= at for kind, at in HIGH_AT.items()):
        return Frustration.HIGH
    return Frustration.MILD if counts else Frustration.NONE
