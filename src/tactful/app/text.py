"""The text classifier the server labels text attributes with: the one place it is
chosen (`open_classifier`), wired into ingest by app/domain.py.

It is the language room's model (language/labels.py `derive_labels`: TF-IDF and
logistic regression for the intent, VADER for the sentiment, character n-gram
profiles for the language; docs/guide/text.md), read from the weights committed with
the package. Everything else depends only on the `TextClassifier` Protocol
(segments/text_labels.py).
"""

from __future__ import annotations

from tactful.language.labels import derive_labels
from tactful.segments.text_labels import TextClassifier, TextLabels


class ModelClassifier:
    """`derive_labels`, answered as ingest's TextLabels. Keeps nothing of the text."""

    def classify(self, text: str) -> TextLabels:
        found = derive_labels(text)
        return TextLabels(
            found.intent,
            found.confidence,
            found.runner_up,
            found.runner_up_confidence,
            found.sentiment,
            found.sentiment_score,
            found.language,
            found.version,
        )


def open_classifier() -> TextClassifier:
    """The server's text classifier: the committed model, its weights loaded now (about
    a second) rather than on the first text a person sends."""
    classifier = ModelClassifier()
    classifier.classify("")  # loads the weights, the lexicon and the language profiles
    return classifier
