"""The server's text classifier is the language room's committed model, answering
labels in the vocabulary the contract keeps."""

from __future__ import annotations

import pytest

from tactful.app.text import open_classifier
from tactful.language.labels import classifier_version
from tactful.privacy.text_attributes import INTENT_LABELS, SENTIMENTS


@pytest.mark.parametrize(
    ("text", "intent", "sentiment", "language"),
    [
        ("I want to cancel my subscription", "canceling", None, "en"),
        ("I was charged twice and nobody answers, this is terrible", None, "negative", "en"),
        ("Je voudrais annuler mon abonnement", "unknown", "neutral", "fr"),
    ],
)
def test_the_model_labels_a_few_messages(
    text: str, intent: str | None, sentiment: str | None, language: str
) -> None:
    labels = open_classifier().classify(text)
    if intent is not None:
        assert labels.intent == intent
    if sentiment is not None:
        assert labels.sentiment == sentiment
    assert labels.language == language
    assert labels.intent in INTENT_LABELS and labels.sentiment in SENTIMENTS
    assert 0 <= labels.runner_up_confidence <= labels.confidence <= 1
    assert -1 <= labels.sentiment_score <= 1
    assert labels.classifier == classifier_version()
