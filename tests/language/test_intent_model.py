"""The text intent model: its pure-Python inference is scikit-learn's, and its committed
weights are what `make model` writes from the committed data."""

from __future__ import annotations

import doctest
import importlib.util
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tactful.language import features, intent_model
from tactful.language.intent_model import (
    WEIGHTS,
    IntentModelError,
    load_intent_model,
    parse_intent_model,
)
from tactful.segments.intent import Intent

ROOT = Path(__file__).resolve().parents[2]
HELD_OUT = ROOT / "data" / "text" / "test.jsonl"


def held_out_texts() -> list[str]:
    return [json.loads(line)["text"] for line in HELD_OUT.read_text().splitlines()]


def sklearn_pipeline(raw: dict[str, Any]) -> tuple[Any, Any]:
    """scikit-learn's own vectorizers and classifier, holding the committed weights."""
    np = pytest.importorskip("numpy")
    pytest.importorskip("sklearn")
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion

    parts = []
    for part in raw["vectorizers"]:
        vectorizer = TfidfVectorizer(
            analyzer=part["analyzer"],
            ngram_range=tuple(part["ngram_range"]),
            sublinear_tf=part["sublinear_tf"],
            vocabulary={term: n for n, term in enumerate(part["terms"])},
        )
        vectorizer.fit(["-"])  # a fixed vocabulary: fit only validates it
        vectorizer.idf_ = np.array(part["idf"])
        parts.append((part["name"], vectorizer))
    classifier = LogisticRegression()
    classifier.classes_ = np.array(raw["labels"])
    classifier.coef_ = np.array(raw["coefficients"]).T
    classifier.intercept_ = np.array(raw["intercepts"])
    return FeatureUnion(parts), classifier


def test_doctests() -> None:
    for module in (features, intent_model):
        assert doctest.testmod(module).failed == 0


def test_the_labels_are_the_seven_intents_and_unknown() -> None:
    assert set(load_intent_model().labels) == {str(i) for i in Intent}


def long_texts(texts: list[str], length: int = 300) -> list[str]:
    """Held-out messages joined into texts of `length` characters: most repeat a word."""
    out, current = [], ""
    for text in texts:
        current = f"{current} {text}".strip()
        if len(current) >= length:
            out.append(current[:length])
            current = ""
    return out


def largest_difference(raw: dict[str, Any], texts: list[str]) -> float:
    union, classifier = sklearn_pipeline(raw)
    expected = classifier.predict_proba(union.transform(texts))
    model = parse_intent_model(raw)
    worst = 0.0
    for text, theirs in zip(texts, expected, strict=True):
        ours = model.probabilities(text)
        worst = max(worst, *(abs(a - b) for a, b in zip(ours, theirs, strict=True)))
    return worst


def test_inference_equals_sklearns_predict_proba_on_every_held_out_message() -> None:
    raw = json.loads(WEIGHTS.read_text())
    texts = held_out_texts()
    assert largest_difference(raw, texts + long_texts(texts)) < 1e-9


def test_inference_equals_sklearns_with_sublinear_tf_too() -> None:
    """The committed model counts terms as they are; a model trained with
    `sublinear_tf` (1 + ln(count)) is read as scikit-learn reads it."""
    raw = json.loads(WEIGHTS.read_text())
    raw["vectorizers"] = [{**part, "sublinear_tf": True} for part in raw["vectorizers"]]
    texts = held_out_texts()
    assert largest_difference(raw, texts[::10] + long_texts(texts)[::5]) < 1e-9


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "a",
        "I",
        "Ünïcödé  façade\tnaïve\n\nrésumé",
        "don't can't won't - -- !!! ???",
        "日本語のテキスト",
        "x" * 3000,
        "word " * 400,
    ],
)
def test_the_analyzers_cut_odd_texts_as_sklearn_does(text: str) -> None:
    pytest.importorskip("sklearn")
    from sklearn.feature_extraction.text import TfidfVectorizer

    for analyzer, ngram_range, ours in (
        ("word", (1, 2), features.word_ngrams),
        ("word", (1, 1), features.word_ngrams),
        ("word", (2, 3), features.word_ngrams),
        ("char_wb", (2, 5), features.char_wb_ngrams),
        ("char_wb", (1, 3), features.char_wb_ngrams),
    ):
        theirs = TfidfVectorizer(analyzer=analyzer, ngram_range=ngram_range).build_analyzer()
        assert ours(text, ngram_range) == theirs(text), (analyzer, ngram_range)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_the_analyzers_cut_any_text_as_sklearn_does(text: str) -> None:
    pytest.importorskip("sklearn")
    from sklearn.feature_extraction.text import TfidfVectorizer

    for analyzer, ngram_range, ours in (
        ("word", (1, 2), features.word_ngrams),
        ("char_wb", (2, 5), features.char_wb_ngrams),
    ):
        theirs = TfidfVectorizer(analyzer=analyzer, ngram_range=ngram_range).build_analyzer()
        assert ours(text, ngram_range) == theirs(text), (analyzer, ngram_range)


def test_a_message_gets_intent_confidence_runner_up_and_version() -> None:
    model = load_intent_model()
    answer = model.classify("I want to speak to a manager, nobody has answered in weeks")
    assert answer.intent == "escalating"
    assert 0 <= answer.runner_up_confidence <= answer.confidence <= 1
    assert answer.runner_up != answer.intent
    assert answer.version == model.version and answer.version.startswith("tfidf-lr-")


def test_below_the_threshold_the_answer_is_unknown() -> None:
    model = load_intent_model()
    text = "How do I export my reports to CSV?"  # its best guess is in scope
    best = max(model.probabilities(text))
    raw = json.loads(WEIGHTS.read_text())
    top = model.labels[model.probabilities(text).index(best)]
    assert top != "unknown"
    below = parse_intent_model({**raw, "threshold": best + 1e-6}).classify(text)
    # Unknown, and the best guess that fell short is the runner-up.
    assert (below.intent, below.runner_up) == ("unknown", top)
    assert below.confidence == below.runner_up_confidence == pytest.approx(best)
    above = parse_intent_model({**raw, "threshold": best - 1e-6}).classify(text)
    assert (above.intent, above.confidence) == (top, pytest.approx(best))
    assert above.runner_up != top


@pytest.mark.parametrize(
    "change",
    [
        {"format": "pickle"},
        {"labels": ["canceling"]},
        {"intercepts": [0.0]},
        {"coefficients": [[0.0]]},
        {"vectorizers": [{"name": "x", "analyzer": "char"}]},
        {"threshold": "high"},
    ],
)
def test_a_malformed_weights_file_is_refused(change: dict[str, Any]) -> None:
    raw = json.loads(WEIGHTS.read_text())
    with pytest.raises(IntentModelError):
        parse_intent_model({**raw, **change})


def test_an_unreadable_weights_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "w.json").write_text("{not json")
    with pytest.raises(IntentModelError):
        load_intent_model(tmp_path / "w.json")


def _training_script() -> Any:
    spec = importlib.util.spec_from_file_location(
        "train_text_model", ROOT / "scripts/train_text_model.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_committed_weights_are_what_make_model_writes() -> None:
    """Retrains (about 15 s): the same vocabulary, idf, labels, threshold and version, and
    coefficients equal to their 7 written digits (one last-digit step allowed, should a
    machine's floating point land a value on the other side of a rounding edge)."""
    pytest.importorskip("sklearn")
    trained = _training_script().train()
    committed = json.loads(WEIGHTS.read_text())
    for key in committed.keys() - {"coefficients", "intercepts"}:
        assert trained[key] == committed[key], key
    assert trained["intercepts"] == pytest.approx(committed["intercepts"], rel=1e-9)
    for ours, theirs in zip(trained["coefficients"], committed["coefficients"], strict=True):
        for a, b in zip(ours, theirs, strict=True):
            assert math.isclose(a, b, rel_tol=2e-6, abs_tol=1e-12), (a, b)


def test_the_threshold_keeps_a_point_above_the_in_scope_target(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """From 0.65 one more out-of-scope message is answered `unknown` (recall 2/3 -> 1)
    but one in-scope message is lost (accuracy 1.0 -> 0.9): the better mean, below the
    in-scope floor of 91 %, so the rule keeps the lowest threshold."""
    np = pytest.importorskip("numpy")
    script = _training_script()
    labels = ["canceling", "unknown"]
    in_scope = [{"intent": "canceling", "label": "x"}] * 10
    oos = [{"intent": "unknown", "label": "oos"}] * 3
    probabilities = np.array(
        [[0.99, 0.01]] * 9 + [[0.62, 0.38]] + [[0.3, 0.7]] * 2 + [[0.64, 0.36]]
    )
    assert script.choose_threshold(probabilities, labels, in_scope + oos) == 0.0
    monkeypatch.setattr(script, "MIN_IN_SCOPE_ACCURACY", 0.0)
    assert script.choose_threshold(probabilities, labels, in_scope + oos) == 0.65
