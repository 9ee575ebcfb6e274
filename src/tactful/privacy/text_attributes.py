"""Text attributes: a person's words, classified at ingest and never kept.

A contract declares one as ``attributes.message = { type = "text", max_length = 2000,
derive = ["intent", "sentiment", "language"] }``. The text is replaced in memory by
its labels before anything is stored; what is kept, for an attribute NAME, is named
here, one suffix per label, and nothing else:

>>> sorted(kept_names("message", frozenset({Derived.LANGUAGE})))
['message_classifier', 'message_language']
>>> sorted(kept_names("message", frozenset({Derived.INTENT})))  # doctest: +NORMALIZE_WHITESPACE
['message_classifier', 'message_intent', 'message_intent_confidence',
 'message_intent_runner_up', 'message_intent_runner_up_confidence']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, Protocol

from tactful.privacy.journey_states import INTENTS


class Derived(StrEnum):
    """What a text attribute may derive."""

    INTENT = "intent"
    SENTIMENT = "sentiment"
    LANGUAGE = "language"


class Kept(StrEnum):
    """The kinds of value kept for a text attribute (contract.AttributeType's names)."""

    INTENT = "intent"  # one of the seven intents, or unknown
    SENTIMENT = "sentiment"  # negative, neutral or positive
    TEXT = "string"  # a short label: a language code, the classifier's version
    NUMBER = "float"


# The suffix of each kept attribute and its kind, by what is derived; the classifier's
# version is always kept, so a label can be told apart from a later model's.
SUFFIXES: Mapping[Derived | None, tuple[tuple[str, Kept], ...]] = {
    Derived.INTENT: (
        ("_intent", Kept.INTENT),
        ("_intent_confidence", Kept.NUMBER),
        ("_intent_runner_up", Kept.INTENT),
        ("_intent_runner_up_confidence", Kept.NUMBER),
    ),
    Derived.SENTIMENT: (("_sentiment", Kept.SENTIMENT), ("_sentiment_score", Kept.NUMBER)),
    Derived.LANGUAGE: (("_language", Kept.TEXT),),
    None: (("_classifier", Kept.TEXT),),
}
SENTIMENTS = ("negative", "neutral", "positive")
INTENT_LABELS = (*INTENTS, "unknown")


def kept_names(name: str, derive: Iterable[Derived]) -> dict[str, Kept]:
    """The attributes kept instead of text attribute `name`, with their kinds."""
    wanted = [*(d for d in Derived if d in set(derive)), None]
    return {name + suffix: kind for d in wanted for suffix, kind in SUFFIXES[d]}


class Checks(Protocol):
    """How the contract's loader collects problems (contract._Checker)."""

    def problem(self, where: str, what: str) -> None: ...


def parse_derive(checks: Checks, where: str, raw: Any) -> frozenset[Derived]:
    """A text attribute's `derive`: a non-empty list of intent, sentiment, language."""
    allowed = ", ".join(d.value for d in Derived)
    place = f"{where}.derive"
    if not (isinstance(raw, list) and raw and all(isinstance(v, str) for v in raw)):
        checks.problem(
            place, f'text needs a non-empty list of what to derive: {allowed} (e.g. ["intent"])'
        )
        return frozenset()
    found = set()
    for index, value in enumerate(raw):
        if value not in set(Derived):
            checks.problem(f"{place}[{index}]", f"{value!r} is not one of {allowed}")
        elif value in found:
            checks.problem(f"{place}[{index}]", f"{value!r} is listed twice")
        else:
            found.add(Derived(value))
    return frozenset(found)
