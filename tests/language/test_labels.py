"""derive_labels: the one call a caller makes; labels only, never the text."""

from __future__ import annotations

import dataclasses
import doctest

import pytest

from tactful.language import labels as module
from tactful.language.intent_model import load_intent_model
from tactful.language.labels import TextLabels, classifier_version, derive_labels
from tactful.segments.intent import Intent


def test_doctests() -> None:
    assert doctest.testmod(module).failed == 0


@pytest.mark.parametrize(
    ("text", "intent", "sentiment"),
    [
        ("My card was declined again, this is terrible", "reporting_issue", "negative"),
        ("What's the difference between the basic and the pro plan?", "comparing", "neutral"),
        ("I want to speak to a manager right now", "escalating", None),
        ("Please renew my annual subscription", "renewing", None),
        ("Great, thanks! I would like to order a new card", "purchasing", "positive"),
        ("what is the weather like in paris tomorrow", "unknown", None),
    ],
)  # fmt: skip
def test_a_message_gets_its_intent_and_sentiment(
    text: str, intent: str, sentiment: str | None
) -> None:
    labels = derive_labels(text)
    assert labels.intent == intent
    assert labels.language == "en"
    if sentiment is not None:
        assert labels.sentiment == sentiment
    assert labels.intent in {str(i) for i in Intent}


def test_another_language_is_unknown_with_its_language() -> None:
    labels = derive_labels("Ich möchte mein Abonnement kündigen, niemand antwortet mir")
    assert (labels.intent, labels.confidence, labels.runner_up) == ("unknown", 0.0, None)
    assert labels.language == "de"
    assert (labels.sentiment, labels.sentiment_score) == ("neutral", 0.0)


def test_the_labels_hold_no_text() -> None:
    text = "canary-7f3a: I want to cancel my plan"
    labels = derive_labels(text)
    for field in dataclasses.fields(TextLabels):
        value = getattr(labels, field.name)
        assert not (isinstance(value, str) and ("canary" in value or "cancel my" in value))
    assert "canary" not in repr(labels)


def test_the_version_names_each_model() -> None:
    version = derive_labels("hello").version
    assert version == classifier_version()
    assert version.startswith(load_intent_model().version + "/vader-3.3.2/")
