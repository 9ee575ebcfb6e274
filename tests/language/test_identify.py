"""Language identification: English held-out messages are English, hand-written
customer messages in other languages are theirs."""

from __future__ import annotations

import doctest
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tactful.language import identify
from tactful.language.identify import (
    PROFILES,
    LanguageProfilesError,
    identify_language,
    load_language_profiles,
    parse_language_profiles,
)

ROOT = Path(__file__).resolve().parents[2]
# Hand-written for these tests: a customer's complaint or question, by language.
OTHER_LANGUAGES = Path(__file__).parent / "languages.tsv"


def test_doctests() -> None:
    assert doctest.testmod(identify).failed == 0


def test_held_out_english_messages_are_english() -> None:
    lines = (ROOT / "data" / "text" / "test.jsonl").read_text().splitlines()
    texts = [json.loads(line)["text"] for line in lines]
    english = sum(identify_language(t) == "en" for t in texts)
    assert english / len(texts) >= 0.995


def test_messages_in_other_languages_are_theirs() -> None:
    rows = [line.split("\t") for line in OTHER_LANGUAGES.read_text().splitlines()]
    assert len({code for code, _ in rows}) >= 25
    wrong = [(code, identify_language(text), text) for code, text in rows]
    wrong = [w for w in wrong if w[0] != w[1]]
    assert len(wrong) <= len(rows) * 0.05, wrong


@pytest.mark.parametrize("text", ["", "   ", "12345", "!!! ???", ":-)"])
def test_no_letters_is_undetermined(text: str) -> None:
    assert identify_language(text) == "und"


def test_only_the_first_characters_are_read() -> None:
    assert identify_language("I want to cancel my plan " * 10 + "Je veux annuler " * 50) == "en"


def test_the_english_words_are_those_of_the_training_messages() -> None:
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(
        "build_language_profiles", ROOT / "scripts" / "build_language_profiles.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = script
    spec.loader.exec_module(script)
    committed = json.loads(PROFILES.read_text(encoding="utf-8"))
    assert committed["words"]["en"] == script.english_words()
    assert committed["source"] == script.SOURCE and committed["margin"] == script.MARGIN


@pytest.mark.parametrize(
    "change",
    [
        {"format": "v0"},
        {"languages": ["fr"]},
        {"floors": [[0.0, 0.0]]},
        {"grams": {"ab": ["x"]}},
        {"grams": {"ab": [0, 1.0, 3]}},
        {"grams": {"ab": [51, 1.0]}},
        {"words": {}},
    ],
)
def test_malformed_profiles_are_refused(change: dict[str, Any]) -> None:
    raw = json.loads(PROFILES.read_text(encoding="utf-8"))
    with pytest.raises(LanguageProfilesError):
        parse_language_profiles({**raw, **change})


def test_unreadable_profiles_are_refused(tmp_path: Path) -> None:
    with pytest.raises(LanguageProfilesError):
        load_language_profiles(tmp_path / "absent.json")


def _script_language_by_every_character(text: str) -> str | None:
    """The script rule counted over every character, as the shortcut must agree."""
    kana = hangul = han = letters = 0
    for char in text:
        if char.isalpha():
            letters += 1
            code = ord(char)
            kana += 0x3040 <= code <= 0x30FF
            hangul += (
                0xAC00 <= code <= 0xD7AF or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F
            )
            han += 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF
    if letters == 0:
        return "und"
    if kana and (kana + han) * 2 >= letters:
        return "ja"
    if hangul * 2 >= letters:
        return "ko"
    return "zh" if han * 2 >= letters else None


@settings(max_examples=400, deadline=None)
@given(
    text=st.text(
        alphabet=st.sampled_from(
            "ab É1_ !²½・ーアあ한ᄀㄱ中文㐀\u3040\u30ff\u4e00\u9fff\uac00\ud7af"
        ),
        max_size=12,
    )
)
def test_the_script_shortcut_agrees_with_counting_every_character(text: str) -> None:
    assert identify._script_language(text) == _script_language_by_every_character(text)
