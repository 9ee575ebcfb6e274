"""Sentiment: the port gives VADER 3.3.2's compound scores (golden vectors computed with
the original vaderSentiment package), and VADER's cut-offs make the label."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import pytest

from tactful.language import sentiment as module
from tactful.language.sentiment import compound, load_lexicon, sentiment

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
