"""The text intent model: logistic regression over TF-IDF word n-grams (the weights
file may add character n-grams; the shipped model reads words alone, for speed).

Trained by `make model` (scikit-learn, a development dependency only) on the labelled
messages of data/text/ and written to `data/intent_model.json`: the vocabulary and idf of
each vectorizer, one row of coefficients per term, the intercepts, the labels, the
threshold below which the answer is `unknown`, and the version. Read here in pure Python:
the probabilities are scikit-learn's `predict_proba` (softmax of the linear scores), to
within rounding (tests/language/test_intent_model.py).

>>> model = load_intent_model()
>>> model.classify("I was charged twice and nobody answers, I want to cancel").intent
'canceling'
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tactful.language.errors import IntentModelError
from tactful.language.features import ANALYZERS, Vectorizer

WEIGHTS = Path(__file__).parent / "data" / "intent_model.json"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class TextIntent:
    """What the model reads in one message. Holds labels only, never the text."""

    intent: str  # one of the model's labels; `unknown` below the threshold
    confidence: float  # the most probable label's probability, in [0, 1]
    runner_up: (
        str | None
    )  # the second most probable label; None when the model did not read the text
    runner_up_confidence: float
    version: str  # the model that said so


@dataclass(frozen=True)
class IntentModel:
    version: str
    labels: tuple[str, ...]
    threshold: float  # below this probability the answer is `unknown`
    vectorizers: tuple[Vectorizer, ...]  # each with its terms' rows of coefficients
    intercepts: tuple[float, ...]
    languages: tuple[str, ...]  # the languages its training data was written in

    def probabilities(self, text: str) -> list[float]:
        """Each label's probability, in `labels` order (softmax of the linear scores)."""
        scores = list(self.intercepts)
        for vectorizer in self.vectorizers:
            found = vectorizer.scores(text)
            if found is not None:
                sums, norm = found
                scores = [s + t / norm for s, t in zip(scores, sums, strict=True)]
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        total = sum(exps)
        return [e / total for e in exps]

    def classify(self, text: str) -> TextIntent:
        """The most probable label, `unknown` below the threshold, and the runner-up: the
        most probable label other than the answer. Below the threshold that is the best
        guess that fell short, so a caller can still weigh it."""
        probabilities = self.probabilities(text)
        ranked = sorted(range(len(self.labels)), key=lambda k: -probabilities[k])
        best = ranked[0]
        confidence = probabilities[best]
        intent = self.labels[best] if confidence >= self.threshold else UNKNOWN
        second = next(k for k in ranked if self.labels[k] != intent)
        return TextIntent(
            intent=intent,
            confidence=confidence,
            runner_up=self.labels[second],
            runner_up_confidence=probabilities[second],
            version=self.version,
        )


def _vectorizer(raw: Mapping[str, Any], coefficients: Sequence[Sequence[float]]) -> Vectorizer:
    """One vectorizer of the weights file, with its terms' coefficients (one row per
    term, in the order of its terms) scaled by their idf, after their idf squared."""
    low, high = raw["ngram_range"]
    terms, idf = raw["terms"], raw["idf"]
    if raw["analyzer"] not in ANALYZERS or not len(terms) == len(idf) == len(coefficients):
        raise IntentModelError(f"malformed vectorizer {raw.get('name')!r}")
    rows = {
        str(term): (float(i) ** 2, *(float(i) * float(c) for c in row))
        for term, i, row in zip(terms, idf, coefficients, strict=True)
    }
    return Vectorizer(
        analyzer=str(raw["analyzer"]),
        ngram_range=(int(low), int(high)),
        sublinear_tf=bool(raw["sublinear_tf"]),
        rows=rows,
    )


def parse_intent_model(raw: Mapping[str, Any]) -> IntentModel:
    """The model of a weights document (`data/intent_model.json`'s content)."""
    try:
        if raw["format"] != "tactful-text-intent/1":
            raise IntentModelError(f"unknown weights format {raw['format']!r}")
        labels = tuple(str(label) for label in raw["labels"])
        coefficients = raw["coefficients"]
        if len(coefficients) != sum(len(part["terms"]) for part in raw["vectorizers"]) or any(
            len(row) != len(labels) for row in coefficients
        ):
            raise IntentModelError("the coefficients do not match the vocabulary and labels")
        vectorizers: list[Vectorizer] = []
        first = 0
        for part in raw["vectorizers"]:
            last = first + len(part["terms"])
            vectorizers.append(_vectorizer(part, coefficients[first:last]))
            first = last
        model = IntentModel(
            version=str(raw["version"]),
            labels=labels,
            threshold=float(raw["threshold"]),
            vectorizers=tuple(vectorizers),
            intercepts=tuple(float(x) for x in raw["intercepts"]),
            languages=tuple(str(x) for x in raw["languages"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise IntentModelError(f"malformed weights: {exc!r}") from exc
    if len(model.intercepts) != len(labels) or len(labels) < 2 or UNKNOWN not in labels:
        raise IntentModelError("the intercepts do not match the labels")
    return model


@cache
def load_intent_model(path: Path = WEIGHTS) -> IntentModel:
    """The model of a weights file (by default the one Tactful ships), read once."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IntentModelError(f"cannot read the weights {path}: {exc}") from exc
    return parse_intent_model(raw)
