"""Intent: what a person's recent events suggest they are trying to do.

A transparent scoring model, declared in the contract's `[intent]` (`IntentModel`;
today's model is the default). Each recent event becomes one feature (its page's
topic, or its event type); each feature adds fixed weights to some intents. An
event whose text was labelled at ingest adds `text_weight` × the label's confidence
to its intent (and to its runner-up by the runner-up's). The
intent is the highest score; its confidence is its share of all the scores; the
runner-up is the second-highest, by the same rule. Below the threshold the answer is
`unknown`, and the recommended next action is the safe one: ask.

>>> from tactful.segments.store import JourneyEvent
>>> inference = infer_intent([JourneyEvent("page_viewed", 0, {"path": "/account/cancel"})])
>>> inference.intent, inference.confidence, inference.runner_up
(<Intent.CANCELING: 'canceling'>, 1.0, None)
>>> infer_intent([]).intent
<Intent.UNKNOWN: 'unknown'>
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from tactful.privacy.journey_states import IntentModel
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


# Today's model, the contract's default (`[intent]`); kept here for the doctests and
# the evaluation, which score the model Tactful ships.
DEFAULT_MODEL = IntentModel()
THRESHOLD = DEFAULT_MODEL.threshold  # below this share of the total score: unknown
PAGE_TOPICS: Mapping[str, str] = DEFAULT_MODEL.page_topics  # by path prefix, longest wins
WEIGHTS: Mapping[str, Mapping[str, float]] = DEFAULT_MODEL.weights  # feature -> intent -> weight


@dataclass(frozen=True)
class Inference:
    intent: Intent
    confidence: float  # the intent's share of the total score, in [0, 1]
    runner_up: Intent | None = None  # the second-highest intent; None if fewer than two scored
    runner_up_confidence: float = 0.0  # its share of the total score, in [0, 1]


def feature(event: JourneyEvent, page_topics: Mapping[str, str] = PAGE_TOPICS) -> str:
    """The one feature an event contributes: its page topic or its type."""
    if event.type == "page_viewed":
        topic = page_topic(str(event.attributes.get("path", "")), page_topics)
        return "page:other" if topic is None else f"page:{topic}"
    if event.type == "subscription_changed" and event.attributes.get("canceled") is True:
        return "event:subscription_canceled"
    return f"event:{event.type}"


def page_topic(path: str, page_topics: Mapping[str, str]) -> str | None:
    """The topic of the longest prefix of `path` in `page_topics` that is all of it or
    ends where a "/" of it begins; None when there is none. A lookup per "/" of the
    path, not a scan of every topic.

    >>> page_topic("/pricing/teams", {"/pricing": "plans", "/pricing/teams": "team"})
    'team'
    >>> page_topic("/pricingx", {"/pricing": "plans"}) is None
    True
    """
    prefix = path
    while True:
        topic = page_topics.get(prefix)
        if topic is not None:
            return topic
        cut = prefix.rfind("/")
        if cut < 0:
            return None
        prefix = prefix[:cut]


def scores(events: Iterable[JourneyEvent], model: IntentModel = DEFAULT_MODEL) -> dict[str, float]:
    """The summed weights of every event's feature, per intent (keyed by its name, which
    an `Intent` looks up as well), and of the intents its text attributes were labelled
    with (`model.text_weight` × each label's confidence)."""
    totals: dict[str, float] = {}
    texts = model.text_intents
    for event in events:
        for intent, weight in model.weights.get(feature(event, model.page_topics), {}).items():
            totals[intent] = totals.get(intent, 0.0) + weight
        if texts and event.type in texts:
            for intent, weight in text_weights(event, texts[event.type], model.text_weight):
                totals[intent] = totals.get(intent, 0.0) + weight
    return totals


def text_weights(
    event: JourneyEvent, names: Iterable[str], text_weight: float
) -> list[tuple[str, float]]:
    """What the intent labels of an event's text attributes `names` add: the label and
    its runner-up, each by its confidence; nothing for unknown.

    >>> said = JourneyEvent("support_message", 0, {"message_intent": "canceling",
    ...     "message_intent_confidence": 0.5, "message_intent_runner_up": "renewing",
    ...     "message_intent_runner_up_confidence": 0.25})
    >>> text_weights(said, ["message"], 3.0)
    [('canceling', 1.5), ('renewing', 0.75)]
    """
    added = []
    for name in names:
        for label, confidence in (
            (f"{name}_intent", f"{name}_intent_confidence"),
            (f"{name}_intent_runner_up", f"{name}_intent_runner_up_confidence"),
        ):
            intent, share = event.attributes.get(label), event.attributes.get(confidence)
            if intent in _NAMES and isinstance(share, int | float) and share > 0:
                added.append((str(intent), text_weight * float(share)))
    return added


def infer_intent(events: Iterable[JourneyEvent], model: IntentModel = DEFAULT_MODEL) -> Inference:
    """The most likely intent and its confidence, unknown below `model.threshold`, and
    the runner-up by the same rule."""
    totals = scores(events, model)
    total = sum(totals.values())
    if total <= 0:
        return Inference(Intent.UNKNOWN, 0.0)
    # Ties go to the intent declared first, so the answer never depends on event order.
    scored = sorted((i for i in _SCORED if totals.get(i, 0.0) > 0), key=lambda i: -totals[i])
    best = scored[0]
    confidence = round(totals[best] / total, 3)
    intent = best if confidence >= model.threshold else Intent.UNKNOWN
    if len(scored) < 2:
        return Inference(intent, confidence)
    second = scored[1]
    return Inference(intent, confidence, second, round(totals[second] / total, 3))


_SCORED = tuple(i for i in Intent if i is not Intent.UNKNOWN)  # in declared order
_NAMES = frozenset(i.value for i in _SCORED)


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
