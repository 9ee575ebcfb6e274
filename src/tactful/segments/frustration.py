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
    """High when one kind of failure repeats (`rule.high_at`), mild when any occurred.
    A strongly negative message (its sentiment score below `rule.negative_text_below`)
    is a failure too, high at `rule.negative_text_high_at` of them."""
    high_at = rule.high_at
    if rule.text_sentiments:
        events = list(events)
    counts = Counter(e.type for e in events if e.type in high_at)
    negative = negative_texts(events, rule) if rule.text_sentiments else 0
    if negative >= rule.negative_text_high_at or any(
        counts[kind] >= at for kind, at in high_at.items()
    ):
        return Level.HIGH
    return Level.MILD if counts or negative else Level.NONE


def negative_texts(events: Iterable[JourneyEvent], rule: FrustrationRule) -> int:
    """How many of the events' text attributes scored below `rule.negative_text_below`.

    >>> from tactful.privacy.journey_states import FrustrationRule
    >>> rule = FrustrationRule(text_sentiments={"support_message": ("message",)})
    >>> said = [JourneyEvent("support_message", t, {"message_sentiment_score": score})
    ...         for t, score in enumerate([-0.7, -0.2])]
    >>> negative_texts(said, rule)
    1
    """
    found = 0
    for event in events:
        for name in rule.text_sentiments.get(event.type, ()):
            score = event.attributes.get(f"{name}_sentiment_score")
            if isinstance(score, int | float) and score < rule.negative_text_below:
                found += 1
    return found
