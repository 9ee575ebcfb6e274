"""What a text classifier answers, and what of it is kept.

Ingest hands each text attribute's value to a `TextClassifier` (wired by
app/text.py) and keeps only the labels the contract derives, under the names
privacy/text_attributes.py gives them. The text itself is dropped in memory, before
anything is stored.

>>> labels = TextLabels("canceling", 0.8, "reporting_issue", 0.1, "negative", -0.6, "en", "kw-1")
>>> kept_labels("message", frozenset({Derived.SENTIMENT}), labels)  # doctest: +NORMALIZE_WHITESPACE
{'message_sentiment': 'negative', 'message_sentiment_score': -0.6,
 'message_classifier': 'kw-1'}
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from tactful.privacy.text_attributes import INTENT_LABELS, SENTIMENTS, Derived
from tactful.segments.store import AttributeScalar


@dataclass(frozen=True)
class TextLabels:
    """One text's labels; never the text."""

    intent: str  # one of segments.intent.Intent's values, "unknown" included
    confidence: float  # in [0, 1]
    runner_up: str | None  # the second most likely intent; None if there is none
    runner_up_confidence: float  # in [0, 1]; 0 without a runner-up
    sentiment: str  # negative, neutral or positive
    sentiment_score: float  # in [-1, 1]
    language: str  # an ISO 639-1 code such as "en", or "und" when undetermined
    classifier: str  # the classifier's name and version


class TextClassifier(Protocol):
    """Labels a person's words. Called on ingest's preparing thread, for every text
    attribute of a batch that checks; it must not keep, log or send the text."""

    def classify(self, text: str) -> TextLabels: ...


class TextNotClassified(Exception):
    """The classifier failed on a text attribute (named, never echoed): nothing of the
    batch is stored. Not a PrivacyError: the server logs it, as any fault of its own,
    so an operator sees a classifier that fails; its message names the attribute only."""


def kept_labels(
    name: str, derive: Iterable[Derived], labels: TextLabels
) -> dict[str, AttributeScalar]:
    """The attributes kept instead of text attribute `name`: the labels `derive` asks
    for and the classifier's version. A label outside its vocabulary is kept as
    unknown (intent) or neutral (sentiment); numbers are clamped to their ranges."""
    wanted = set(derive)
    kept: dict[str, AttributeScalar] = {}
    if Derived.INTENT in wanted:
        kept[f"{name}_intent"] = labels.intent if labels.intent in INTENT_LABELS else "unknown"
        kept[f"{name}_intent_confidence"] = _clamp(labels.confidence, 0.0)
        if labels.runner_up in INTENT_LABELS:
            kept[f"{name}_intent_runner_up"] = labels.runner_up
            kept[f"{name}_intent_runner_up_confidence"] = _clamp(labels.runner_up_confidence, 0.0)
    if Derived.SENTIMENT in wanted:
        sentiment = labels.sentiment if labels.sentiment in SENTIMENTS else "neutral"
        kept[f"{name}_sentiment"] = sentiment
        kept[f"{name}_sentiment_score"] = _clamp(labels.sentiment_score, -1.0)
    if Derived.LANGUAGE in wanted:
        kept[f"{name}_language"] = labels.language[:64]
    kept[f"{name}_classifier"] = labels.classifier[:64]
    return kept


def _clamp(value: float, low: float) -> float:
    if value != value:  # NaN
        return 0.0
    return round(min(max(float(value), low), 1.0), 3)
