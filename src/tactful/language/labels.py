"""The labels of a text: what a caller keeps instead of the text itself.

>>> labels = derive_labels("I was charged twice and nobody answers, I want to cancel")
>>> labels.intent, labels.sentiment, labels.language
('canceling', 'negative', 'en')
>>> derive_labels("Quiero cancelar mi suscripción, nadie me responde").intent
'unknown'
"""

from __future__ import annotations

from dataclasses import dataclass

from tactful.language.identify import UNDETERMINED, identify_language, load_language_profiles
from tactful.language.intent_model import UNKNOWN, load_intent_model
from tactful.language.sentiment import sentiment

SENTIMENT_VERSION = "vader-3.3.2"
LANGUAGE_VERSION = "langdetect-1.0.9-profiles"


@dataclass(frozen=True)
class TextLabels:
    """Everything derived from one text, and nothing of the text itself."""

    intent: str  # the seven intents or `unknown`
    confidence: float
    runner_up: str | None
    runner_up_confidence: float
    sentiment: str  # negative, neutral or positive
    sentiment_score: float  # VADER's compound score, in [-1, 1]
    language: str  # ISO 639-1, or "und"
    version: str  # the classifier's: intent model / sentiment / language identifier


def classifier_version() -> str:
    return f"{load_intent_model().version}/{SENTIMENT_VERSION}/{LANGUAGE_VERSION}"


def derive_labels(text: str) -> TextLabels:
    """Intent, sentiment and language of a text, computed in memory. A language the
    intent model was not trained on gives `unknown` with no runner-up and a neutral
    sentiment: neither model can read it, and the caller's fallback takes over."""
    model = load_intent_model()
    language = identify_language(text, load_language_profiles())
    version = classifier_version()
    if language != UNDETERMINED and language not in model.languages:
        # Nor is VADER's lexicon: its few hits in another language would mislead.
        return TextLabels(UNKNOWN, 0.0, None, 0.0, "neutral", 0.0, language, version)
    read = model.classify(text)
    felt = sentiment(text)
    return TextLabels(
        intent=read.intent,
        confidence=read.confidence,
        runner_up=read.runner_up,
        runner_up_confidence=read.runner_up_confidence,
        sentiment=felt.label,
        sentiment_score=felt.score,
        language=language,
        version=version,
    )
