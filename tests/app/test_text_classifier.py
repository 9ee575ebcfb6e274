"""The server's text classifier (a placeholder until the model lands) answers labels in
the vocabulary the contract keeps."""

from __future__ import annotations

import pytest

from tactful.app.text import PLACEHOLDER_VERSION, open_classifier
from tactful.privacy.text_attributes import INTENT_LABELS, SENTIMENTS


@pytest.mark.parametrize(
    ("text", "intent", "sentiment", "language"),
    [
        ("I want to cancel my subscription", "canceling", "neutral", "en"),
        ("The export is broken and it was terrible", "reporting_issue", "negative", "en"),
        ("Thanks, how do I renew it?", "renewing", "positive", "en"),
        ("Je voudrais annuler mon abonnement", "unknown", "neutral", "und"),
        ("", "unknown", "neutral", "und"),
    ],
)
def test_the_placeholder_labels_a_few_messages(
    text: str, intent: str, sentiment: str, language: str
) -> None:
    labels = open_classifier().classify(text)
    assert (labels.intent, labels.sentiment, labels.language) == (intent, sentiment, language)
    assert labels.intent in INTENT_LABELS and labels.sentiment in SENTIMENTS
    assert 0 <= labels.runner_up_confidence <= labels.confidence <= 1
    assert -1 <= labels.sentiment_score <= 1
    assert labels.classifier == PLACEHOLDER_VERSION
