"""Frustration: repeated failures in a window raise a level, none, mild or high.

The caller picks the window (the signal's `window`) and passes only the events
inside it, so time stays a parameter of the caller. The failures and their
thresholds come from the contract's `[states.frustration]` (`FrustrationRule`).

>>> from tactful.segments.store import JourneyEvent
>>> frustration_level([JourneyEvent("payment_failed", 0, {})] * 2)
<Level.HIGH: 'high'>
>>> frustration_level([JourneyEvent("form_abandoned", 0, {})])
<Level.MILD: 'mild'>
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from enum import StrEnum

from tactful.privacy.journey_states import DEFAULT_HIGH_AT, FrustrationRule
from tactful.segments.store import JourneyEvent


class Level(StrEnum):
    """How strongly a journey state (frustration, uncertainty, urgency) holds."""

    NONE = "none"
    MILD = "mild"
    HIGH = "high"


Frustration = Level  # the name the handoff and the journeys have always used

# At this many events of a type in the window, frustration is high; one is mild.
HIGH_AT: Mapping[str, int] = DEFAULT_HIGH_AT
DEFAULT_RULE = FrustrationRule()


def frustration_level(
    events: Iterable[JourneyEvent], rule: FrustrationRule = DEFAULT_RULE
) -> Level:
    """High when one kind of failure repeats (`rule.high_at`), mild when any occurred."""
    high_at = rule.high_at
    counts = Counter(e.type for e in events if e.type in high_at)
    if any(counts[kind] >= at for kind, at in high_at.items()):
        return Level.HIGH
    return Level.MILD if counts else Level.NONE
