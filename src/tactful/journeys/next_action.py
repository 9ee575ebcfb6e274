"""NextAction's question and answer as values: what the engine is asked (journey,
channel, step, what became of the last decision) and what it answers (the decision,
its id, its explanation, the access record's view of it, what to remember), and the
handoff's journey parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tactful.journeys import decide
from tactful.journeys.memory import OfferResult, Remembered
from tactful.privacy.decisions import Decision as AccessDecision
from tactful.segments.journey import Handoff


@dataclass(frozen=True)
class Previous:
    """What became of the last decision, reported with the next question."""

    decision_id: str
    result: OfferResult


@dataclass(frozen=True)
class Ask:
    """NextAction's question: where the person is on which journey."""

    journey: str
    channel: str = ""  # "web", "chat", "email", "agent_console" …: the frontend's word
    step: str = ""  # the page or step the person is on
    previous: Previous | None = None


@dataclass(frozen=True)
class JourneyDecision:
    """NextAction's answer and what its access record says."""

    access: AccessDecision  # requested: the journey and data categories; released: the action
    subject: str  # the subject's pseudonym under the primary key, for the access log
    decision_id: str
    journey: str
    purpose: str
    decision: decide.Decision
    explanation: str  # plain language for the person: categories of data, never values
    offer: Remembered | None = None  # what `JourneyEngine.remember` keeps
    settles: Remembered | None = None  # the earlier offer, with what became of it


@dataclass(frozen=True)
class Attempt:
    """A step already attempted on a journey: an action offered, and what became of it."""

    decision_id: str
    journey: str
    action: str
    kind: str
    rung: str
    offered_at: datetime
    result: OfferResult


@dataclass(frozen=True)
class JourneyHandoff:
    """GetHandoffContext: the handoff as before, with the journey's parts. `attempts` is
    None when the purpose has no journey; `recommended` is the engine's recommendation
    for that journey (not an offer: nothing is remembered), None when there is none."""

    handoff: Handoff
    attempts: tuple[Attempt, ...] | None = None
    recommended: JourneyDecision | None = None
