"""Intent: what a person's recent events suggest they are trying to do.

A transparent scoring model. Each recent event becomes one feature (its page's
topic, or its event type); each feature adds fixed weights to some intents
(`WEIGHTS`). The intent is the highest score; its confidence is its share of all
the scores. Below `THRESHOLD` the answer is `unknown`, and the recommended next
action is the safe one: ask.

>>> from tactful.segments.store import JourneyEvent
>>> infer_intent([JourneyEvent("page_viewed", 0, {"path": "/account/cancel"})])
Inference(intent=<Intent.CANCELING: 'canceling'>, confidence=1.0)
>>> infer_intent([]).intent
<Intent.UNKNOWN: 'unknown'>
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from tactful.segments.frustration import Frustration
from tactful.segments.store import JourneyEvent


class Intent(StrEnum):
    RESEARCHING = "researching"
    COMPARING = "comparing"
    PURCHASING = "purchasing"
    RENEWING = "renewing"
    CANCELING = "canceling"
    REPORTING_ISSUE = "reporting_issue"
    ESCALATING = "escalating"
    UNKNOWN = "unknown"


THRESHOLD = 0.5  # below this share of the total score, the answer is unknown

_I = Intent  # short, so the weights table reads as a table
# Page topics by path prefix; the longest matching prefix wins.
PAGE_TOPICS: Mapping[str, str] = {
    "/docs": "docs",
    "/guides": "docs",
    "/features": "docs",
    "/blog": "docs",
    "/pricing": "pricing",
    "/compare": "compare",
    "/vs": "compare",
    "/cart": "checkout",
    "/checkout": "checkout",
    "/billing": "billing",
    "/billing/renew": "renew",
    "/renew": "renew",
    "/cancel": "cancel",
    "/account/cancel": "cancel",
    "/help": "help",
    "/status": "help",
    "/support": "help",
    "/contact": "contact",
    "/help/contact": "contact",
}

# What each feature says about each intent. Set by hand, reading the training part
# of segments/data/intent_examples.jsonl; `python -m tactful.segments.intent_eval` scores it.
WEIGHTS: Mapping[str, Mapping[Intent, float]] = {
    "page:docs": {_I.RESEARCHING: 1.0},
    "page:pricing": {_I.RESEARCHING: 0.3, _I.COMPARING: 0.6, _I.PURCHASING: 0.5, _I.RENEWING: 0.2},
    "page:compare": {_I.COMPARING: 1.5},
    "page:checkout": {_I.PURCHASING: 1.5},
    "page:billing": {_I.RENEWING: 0.6, _I.CANCELING: 0.3, _I.REPORTING_ISSUE: 0.2},
    "page:renew": {_I.RENEWING: 2.0},
    "page:cancel": {_I.CANCELING: 2.0},
    "page:help": {_I.REPORTING_ISSUE: 0.9, _I.RESEARCHING: 0.1, _I.ESCALATING: 0.2},
    "page:contact": {_I.ESCALATING: 1.5},
    "event:cart_updated": {_I.PURCHASING: 1.0},
    "event:checkout_started": {_I.PURCHASING: 1.5},
    "event:order_completed": {_I.PURCHASING: 1.0},
    "event:subscription_changed": {_I.RENEWING: 1.0},
    "event:subscription_canceled": {_I.CANCELING: 2.0},
    "event:error_shown": {_I.REPORTING_ISSUE: 1.0, _I.ESCALATING: 0.2},
    "event:payment_failed": {_I.REPORTING_ISSUE: 0.6, _I.PURCHASING: 0.4, _I.ESCALATING: 0.2},
    "event:login_failed": {_I.REPORTING_ISSUE: 0.6, _I.ESCALATING: 0.3},
    "event:form_abandoned": {_I.REPORTING_ISSUE: 0.2, _I.ESCALATING: 0.6},
    "event:support_ticket_opened": {_I.ESCALATING: 1.5, _I.REPORTING_ISSUE: 0.5},
}


@dataclass(frozen=True)
class Inference:
    intent: Intent
    confidence: float  # the intent's share of the total score, in [0, 1]


def feature(event: JourneyEvent) -> str:
    """The one feature an event contributes: its page topic or its type."""
    if event.type == "page_viewed":
        path = str(event.attributes.get("path", ""))
        prefixes = [p for p in PAGE_TOPICS if path == p or path.startswith(p + "/")]
        return f"page:{PAGE_TOPICS[max(prefixes, key=len)]}" if prefixes else "page:other"
    if event.type == "subscription_changed" and event.attributes.get("canceled") is True:
        return "event:subscription_canceled"
    return f"event:{event.type}"


def scores(events: Iterable[JourneyEvent]) -> dict[Intent, float]:
    """The summed weights of every event's feature, per intent."""
    totals: dict[Intent, float] = {}
    for event in events:
        for intent, weight in WEIGHTS.get(feature(event), {}).items():
            totals[intent] = totals.get(intent, 0.0) + weight
    return totals


def infer_intent(events: Iterable[JourneyEvent], threshold: float = THRESHOLD) -> Inference:
    """The most likely intent and its confidence; unknown below `threshold`."""
    totals = scores(events)
    total = sum(totals.values())
    if total <= 0:
        return Inference(Intent.UNKNOWN, 0.0)
    # Ties go to the intent declared first, so the answer never depends on event order.
    best = max(Intent, key=lambda i: (totals.get(i, 0.0), -list(Intent).index(i)))
    confidence = round(totals[best] / total, 3)
    return Inference(best if confidence >= threshold else Intent.UNKNOWN, confidence)


NEXT_ACTIONS: Mapping[Intent, str] = {
    Intent.RESEARCHING: "share_documentation",
    Intent.COMPARING: "share_comparison",
    Intent.PURCHASING: "offer_checkout_help",
    Intent.RENEWING: "confirm_renewal",
    Intent.CANCELING: "offer_retention_options",
    Intent.REPORTING_ISSUE: "open_ticket_with_context",
    Intent.ESCALATING: "hand_to_senior_agent",
    Intent.UNKNOWN: "ask_clarifying_question",
}


def next_action(intent: Intent, frustration: Frustration) -> str:
    """What the agent should do first: a highly frustrated person goes to a senior
    agent whatever they want; otherwise the intent decides.

    >>> next_action(Intent.PURCHASING, Frustration.HIGH)
    'hand_to_senior_agent'
    >>> next_action(Intent.UNKNOWN, Frustration.MILD)
    'ask_clarifying_question'
    """
    if frustration is Frustration.HIGH:
        return NEXT_ACTIONS[Intent.ESCALATING]
    return NEXT_ACTIONS[intent]
