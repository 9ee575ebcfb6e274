"""The text classifier the server labels text attributes with: the one place it is
chosen (`open_classifier`), wired into ingest by app/domain.py.

A placeholder until the model lands: a few keyword rules, deterministic and offline,
so the text attribute works end to end. Everything else depends only on the
`TextClassifier` Protocol (segments/text_labels.py), so replacing this factory's body
is the whole of plugging the model in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from tactful.segments.text_labels import TextClassifier, TextLabels

PLACEHOLDER_VERSION = "keywords-placeholder-1"

# Each intent's keywords (English only): one hit is a guess, two are a fair answer.
_INTENT_WORDS: Mapping[str, tuple[str, ...]] = {
    "canceling": ("cancel", "unsubscribe", "close my account", "stop my subscription"),
    "reporting_issue": ("error", "broken", "not working", "doesn't work", "charged twice", "bug"),
    "escalating": ("manager", "complaint", "nobody answers", "speak to a person", "human"),
    "renewing": ("renew", "renewal", "extend"),
    "purchasing": ("buy", "purchase", "upgrade", "checkout"),
    "comparing": ("compare", "difference between", "versus", " vs "),
    "researching": ("how do i", "how to", "documentation", "does it support"),
}
_NEGATIVE = ("angry", "terrible", "awful", "nobody answers", "charged twice", "worst", "ridiculous")
_POSITIVE = ("thanks", "thank you", "great", "love", "perfect")
_ENGLISH = re.compile(r"\b(the|and|i|my|to|is|it|was|you|not|a)\b")


class KeywordClassifier:
    """Counts keyword hits: the intent with most hits, its share of all hits as its
    confidence; sentiment from a handful of words; English when common English words
    appear, else undetermined (and then unknown, as the model will answer)."""

    def classify(self, text: str) -> TextLabels:
        lowered = f" {text.casefold()} "
        english = len(_ENGLISH.findall(lowered)) >= 2
        hits = {i: sum(w in lowered for w in words) for i, words in _INTENT_WORDS.items()}
        ranked = sorted((i for i, n in hits.items() if n and english), key=lambda i: -hits[i])
        total = sum(hits[i] for i in ranked)
        intent, confidence = ("unknown", 0.0)
        runner_up, runner_up_confidence = (None, 0.0)
        if ranked:
            intent, confidence = (
                ranked[0],
                min(0.95, 0.45 + 0.25 * hits[ranked[0]]) * (hits[ranked[0]] / total),
            )
        if len(ranked) > 1:
            runner_up = ranked[1]
            runner_up_confidence = min(0.95, 0.45 + 0.25 * hits[ranked[1]]) * (
                hits[ranked[1]] / total
            )
        score = sum(w in lowered for w in _POSITIVE) - sum(w in lowered for w in _NEGATIVE)
        score_clamped = max(-1.0, min(1.0, score / 2))
        sentiment = "negative" if score < 0 else "positive" if score > 0 else "neutral"
        return TextLabels(
            intent,
            round(confidence, 3),
            runner_up,
            round(runner_up_confidence, 3),
            sentiment,
            score_clamped,
            "en" if english else "und",
            PLACEHOLDER_VERSION,
        )


def open_classifier() -> TextClassifier:
    """The server's text classifier (placeholder until the model lands)."""
    return KeywordClassifier()
