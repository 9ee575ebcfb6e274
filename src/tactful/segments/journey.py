"""The journey signals (intent, frustration, uncertainty, urgency, recent steps, error
codes) and the support handoff built from them.

Each is computed from the subject's recent events under one purpose, within the
window its signal declares; `Releaser` decides which of them leave.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from tactful.privacy.contract import SignalKind
from tactful.privacy.decisions import Decision
from tactful.privacy.journey_states import DEFAULT_STATES, JourneyStates
from tactful.segments.frustration import Frustration, frustration_level
from tactful.segments.intent import Inference, infer_intent
from tactful.segments.states import uncertainty_level, urgency_level
from tactful.segments.store import AttributeScalar, JourneyEvent
from tactful.timestamps import from_us

# The parts of a handoff and the signal kind each is released as.
HANDOFF_PARTS: Mapping[str, SignalKind] = {
    "intent": SignalKind.INTENT,
    "recent_steps": SignalKind.RECENT_STEPS,
    "last_error_codes": SignalKind.ERROR_CODES,
    "frustration": SignalKind.FRUSTRATION,
}
HANDOFF_KINDS = frozenset(HANDOFF_PARTS.values())  # the journey signals a handoff reads
NEXT_ACTION = "next_action"  # released only with both intent and frustration: it reveals both
ERROR_EVENTS = ("error_shown", "payment_failed")
MAX_ERROR_CODES = 5


@dataclass(frozen=True)
class Step:
    type: str
    occurred_at: datetime


@dataclass(frozen=True)
class Handoff:
    """What an agent sees on a handover; None for a part the purpose withholds."""

    decision: Decision
    subject: str  # the subject's pseudonym under the primary key, for the access log
    intent: Inference | None = None
    recent_steps: tuple[Step, ...] | None = None
    last_error_codes: tuple[str, ...] | None = None
    frustration: Frustration | None = None
    next_action: str | None = None
    withheld: tuple[str, ...] = ()


def since(events: Sequence[JourneyEvent], since_us: int) -> list[JourneyEvent]:
    """The events strictly after `since_us`, as the count signals do."""
    return [e for e in events if e.occurred_at_us > since_us]


def steps(events: Sequence[JourneyEvent]) -> tuple[Step, ...]:
    return tuple(Step(e.type, from_us(e.occurred_at_us)) for e in events)


def error_codes(events: Sequence[JourneyEvent]) -> tuple[str, ...]:
    """Distinct error codes, newest first, at most MAX_ERROR_CODES."""
    codes: dict[str, None] = {}
    for event in events:
        code = event.attributes.get("error_code")
        if event.type in ERROR_EVENTS and isinstance(code, str) and code:
            codes.setdefault(code)
    return tuple(codes)[:MAX_ERROR_CODES]


def journey_signal(
    kind: SignalKind,
    events: Sequence[JourneyEvent],
    states: JourneyStates = DEFAULT_STATES,
    *,
    segments: frozenset[str] = frozenset(),
) -> AttributeScalar | None:
    """A journey signal's value as GetSignals releases it, by the contract's `states`;
    None with no events. `segments`: the person's high-value segments, for urgency,
    whose night is read in UTC (a signal knows no time zone)."""
    if not events:
        return None
    if kind is SignalKind.INTENT:
        return str(infer_intent(events, states.intent).intent)
    if kind is SignalKind.FRUSTRATION:
        return str(frustration_level(events, states.frustration))
    if kind is SignalKind.UNCERTAINTY:
        return str(uncertainty_level(events, states.uncertainty, states.intent.page_topics))
    if kind is SignalKind.URGENCY:
        return str(urgency_level(events, states.urgency, segments=segments))
    if kind is SignalKind.RECENT_STEPS:
        return ",".join(f"{s.type}@{s.occurred_at.isoformat()}" for s in steps(events))
    return ",".join(error_codes(events)) or None
