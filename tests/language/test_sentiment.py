"""Sentiment: the port gives VADER 3.3.2's compound scores (golden vectors computed with
the original vaderSentiment package), and VADER's cut-offs make the label."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import pytest

from tactful.language import sentiment as module
from tactful.language.sentiment import Lexicon, compound, load_lexicon, sentiment

VECTORS = Path(__file__).parent / "vader_vectors.json"


def test_doctests() -> None:
    assert doctest.testmod(module).failed == 0


def test_compound_scores_equal_the_original_vaders() -> None:
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))
    assert len(vectors) > 400
    lexicon = load_lexicon()
    wrong = [(v["text"], v["compound"], compound(v["text"], lexicon)) for v in vectors]
    assert [w for w in wrong if w[1] != w[2]] == []


@pytest.mark.parametrize(
    ("score", "label"),
    [(0.05, "positive"), (0.0499, "neutral"), (-0.0499, "neutral"), (-0.05, "negative")],
)
def test_the_label_follows_vaders_cut_offs(
    score: float, label: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(module, "compound", lambda text, lexicon: score)
    assert sentiment("anything") == module.Sentiment(label, score)


def test_the_lexicon_ships_whole() -> None:
    lexicon = load_lexicon()
    assert len(lexicon.valences) == 7506 and lexicon.valences["horrible"] == -2.5
    assert lexicon.emojis["😡"] == "pouting face"


def test_an_ascii_text_is_searched_for_emoji_only_when_the_lexicon_has_an_ascii_one() -> None:
    shipped = load_lexicon()
    assert not shipped.has_emoji("I was charged twice :( and nobody answers <3")
    assert shipped.has_emoji("I was charged twice 😠")
    ascii_emoji = Lexicon(valences={"love": 3.2}, emojis={"%": "love"})
    assert ascii_emoji.has_emoji("100%")
    assert compound("100%", ascii_emoji) > 0
