"""The text intent model: logistic regression over TF-IDF word and character n-grams.

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
from dataclasses import dataclass, field
from functools import cache
from operator import itemgetter, mul
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
    vectorizers: tuple[Vectorizer, ...]  # their columns follow each other
    coefficients: Sequence[Sequence[float]]  # one row per column, one value per label
    intercepts: tuple[float, ...]
    languages: tuple[str, ...]  # the languages its training data was written in
    _by_label: tuple[tuple[float, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The coefficients label by label, each over every column, for `probabilities`.
        by_label = tuple(zip(*self.coefficients, strict=True))
        object.__setattr__(self, "_by_label", by_label)

    def probabilities(self, text: str) -> list[float]:
        """Each label's probability, in `labels` order (softmax of the linear scores)."""
        scores = list(self.intercepts)
        for vectorizer in self.vectorizers:
            columns, values, norm = vectorizer.weights(text)
            if not norm:
                continue
            # One gather and one dot product per label, both looping in C.
            gather = itemgetter(*columns, columns[0])  # always a tuple, even of one
            for k, by_label in enumerate(self._by_label):
                scores[k] += sum(map(mul, values, gather(by_label))) / norm
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


def _vectorizer(raw: Mapping[str, Any], first: int) -> Vectorizer:
    low, high = raw["ngram_range"]
    if raw["analyzer"] not in ANALYZERS or len(raw["terms"]) != len(raw["idf"]):
        raise IntentModelError(f"malformed vectorizer {raw.get('name')!r}")
    return Vectorizer(
        analyzer=str(raw["analyzer"]),
        ngram_range=(int(low), int(high)),
        sublinear_tf=bool(raw["sublinear_tf"]),
        known={str(term): first + n for n, term in enumerate(raw["terms"])},
        idf={first + n: float(idf) for n, idf in enumerate(raw["idf"])},
    )


def parse_intent_model(raw: Mapping[str, Any]) -> IntentModel:
    """The model of a weights document (`data/intent_model.json`'s content)."""
    try:
        if raw["format"] != "tactful-text-intent/1":
            raise IntentModelError(f"unknown weights format {raw['format']!r}")
        vectorizers: list[Vectorizer] = []
        for part in raw["vectorizers"]:
            vectorizers.append(_vectorizer(part, sum(len(v.known) for v in vectorizers)))
        labels = tuple(str(label) for label in raw["labels"])
        coefficients = [tuple(float(x) for x in row) for row in raw["coefficients"]]
        model = IntentModel(
            version=str(raw["version"]),
            labels=labels,
            threshold=float(raw["threshold"]),
            vectorizers=tuple(vectorizers),
            coefficients=coefficients,
            intercepts=tuple(float(x) for x in raw["intercepts"]),
            languages=tuple(str(x) for x in raw["languages"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise IntentModelError(f"malformed weights: {exc!r}") from exc
    columns = sum(len(v.known) for v in vectorizers)
    if len(coefficients) != columns or any(len(r) != len(labels) for r in coefficients):
        raise IntentModelError("the coefficients do not match the vocabulary and labels")
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
