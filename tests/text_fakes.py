"""A deterministic stand-in for the text classifier: keyword rules, and a record of
how often it was asked (never of what)."""

from __future__ import annotations

from tactful.segments.text_labels import TextLabels

FAKE_VERSION = "fake-keywords-1"
RULES = (
    ("cancel", "canceling"),
    ("broken", "reporting_issue"),
    ("price", "comparing"),
    ("renew", "renewing"),
)


class FakeClassifier:
    """The first two rule words found give the intent (0.9, or 0.6 with a runner-up at
    0.3); "hate" makes the sentiment -0.9, "thanks" +0.8; "bonjour" is French, which it
    has no intents for."""

    def __init__(self) -> None:
        self.calls = 0

    def classify(self, text: str) -> TextLabels:
        self.calls += 1
        lowered = text.casefold()
        if "bonjour" in lowered:
            return TextLabels("unknown", 0.0, None, 0.0, "neutral", 0.0, "fr", FAKE_VERSION)
        found = [intent for word, intent in RULES if word in lowered][:2]
        score = -0.9 if "hate" in lowered else 0.8 if "thanks" in lowered else 0.0
        sentiment = "negative" if score < 0 else "positive" if score > 0 else "neutral"
        if not found:
            return TextLabels("unknown", 0.0, None, 0.0, sentiment, score, "en", FAKE_VERSION)
        if len(found) == 1:
            return TextLabels(found[0], 0.9, None, 0.0, sentiment, score, "en", FAKE_VERSION)
        return TextLabels(found[0], 0.6, found[1], 0.3, sentiment, score, "en", FAKE_VERSION)


class FailingClassifier:
    """Fails, putting the text in its message, as a careless model might."""

    def classify(self, text: str) -> TextLabels:
        raise ValueError(f"cannot classify {text!r}")
