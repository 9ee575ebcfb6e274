"""Journey states: intent, frustration, uncertainty and urgency, read from one window
of a person's recent events by the rules the contract declares (`JourneyStates`).

Pure: the caller picks the window and passes the events inside it (newest first, as
the store hands them over), the time of reading, the person's segments and UTC offset.
Each state is a `Level` (none, mild, high), as frustration has always been.

>>> from tactful.privacy.journey_states import DEFAULT_STATES
>>> from tactful.segments.store import JourneyEvent
>>> views = [JourneyEvent("page_viewed", t, {"path": p})
...          for t, p in enumerate(["/pricing", "/compare", "/pricing", "/compare"])]
>>> read_states(DEFAULT_STATES, views[::-1], now_us=10).uncertainty
<Level.HIGH: 'high'>
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import time

from tactful.privacy.journey_states import JourneyStates, UncertaintyRule, UrgencyRule
from tactful.segments.frustration import Level, frustration_level
from tactful.segments.intent import Inference, feature, infer_intent
from tactful.segments.store import JourneyEvent

_MINUTE_US = 60_000_000
_DAY_MINUTES = 24 * 60


@dataclass(frozen=True)
class StateReading:
    intent: Inference
    frustration: Level
    uncertainty: Level
    urgency: Level


def read_states(
    states: JourneyStates,
    events: Sequence[JourneyEvent],
    *,
    now_us: int,
    segments: frozenset[str] = frozenset(),
    utc_offset_minutes: int | None = None,
) -> StateReading:
    """Every journey state of one window of events; events after `now_us` are not read.
    `segments`: the person's segments, for urgency's high-value accounts;
    `utc_offset_minutes`: the person's offset east of UTC (None: UTC), for its night."""
    events = [e for e in events if e.occurred_at_us <= now_us]
    return StateReading(
        infer_intent(events, states.intent),
        frustration_level(events, states.frustration),
        uncertainty_level(events, states.uncertainty, states.intent.page_topics),
        urgency_level(
            events,
            states.urgency,
            segments=segments,
            utc_offset_minutes=utc_offset_minutes,
        ),
    )


def uncertainty_level(
    events: Sequence[JourneyEvent], rule: UncertaintyRule, page_topics: Mapping[str, str]
) -> Level:
    """High at `rule.switches` switches between pages of `rule.topics` (mild at one),
    or when an abandon event follows a view of one of them."""
    switches = 0
    last_topic: str | None = None
    for event in _oldest_first(events):
        if event.type in rule.abandon_events and last_topic is not None:
            return Level.HIGH
        topic = _topic(event, page_topics)
        if topic not in rule.topics:
            continue
        if last_topic is not None and topic != last_topic:
            switches += 1
        last_topic = topic
    if switches >= rule.switches:
        return Level.HIGH
    return Level.MILD if switches else Level.NONE


def urgency_level(
    events: Sequence[JourneyEvent],
    rule: UrgencyRule,
    *,
    segments: frozenset[str] = frozenset(),
    utc_offset_minutes: int | None = None,
) -> Level:
    """High at `rule.repeated_at` contacts (mild at one), or at one contact made at
    night in the person's time by a member of a high-value segment."""
    contacts = [e for e in events if e.type in rule.contact_events]
    if not contacts:
        return Level.NONE
    if len(contacts) >= rule.repeated_at:
        return Level.HIGH
    if segments & rule.high_value_segments and any(
        at_night(e.occurred_at_us, rule, utc_offset_minutes) for e in contacts
    ):
        return Level.HIGH
    return Level.MILD


def at_night(at_us: int, rule: UrgencyRule, utc_offset_minutes: int | None) -> bool:
    """Whether `at_us` falls from `rule.night_start` to `rule.night_end` (wrapping past
    midnight) at the given offset east of UTC (None: UTC).

    >>> from tactful.privacy.journey_states import UrgencyRule
    >>> at_night(23 * 3600 * 1_000_000, UrgencyRule(), None)
    True
    >>> at_night(23 * 3600 * 1_000_000, UrgencyRule(), -120)  # 21:00 two hours west
    False
    """
    minute = (at_us // _MINUTE_US + (utc_offset_minutes or 0)) % _DAY_MINUTES
    clock = time(minute // 60, minute % 60)
    if rule.night_start <= rule.night_end:
        return rule.night_start <= clock < rule.night_end
    return clock >= rule.night_start or clock < rule.night_end


def _oldest_first(events: Sequence[JourneyEvent]) -> list[JourneyEvent]:
    # The store hands events over newest first; reversing first keeps ties in order.
    return sorted(reversed(events), key=lambda e: e.occurred_at_us)


def _topic(event: JourneyEvent, page_topics: Mapping[str, str]) -> str | None:
    if event.type != "page_viewed":
        return None
    found = feature(event, page_topics)
    return found.removeprefix("page:")
