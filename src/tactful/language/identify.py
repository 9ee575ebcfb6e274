"""Which language a text is written in: an ISO 639-1 code, or "und" when it has no
letters to tell by.

Three steps, each explainable:

1. Chinese, Japanese and Korean by their scripts: kana makes Japanese, hangul Korean,
   Chinese characters alone Chinese.
2. A message whose words are mostly (60 %) words of the intent model's English training
   messages is English: the quick answer for the messages the model can read.
3. Otherwise naive Bayes over the character 1-, 2- and 3-grams of each word padded with
   spaces, with langdetect's per-language profiles of Wikipedia text (51 languages,
   Apache-2.0; `data/LICENSES.md`); another language than English must beat English by
   a margin per n-gram, since short messages leave room for doubt and English is what
   the intent model reads.

`scripts/build_language_profiles.py` writes `data/language_profiles.json` from
langdetect's source distribution.

>>> identify_language("I want to cancel my subscription")
'en'
>>> identify_language("Quiero cancelar mi suscripción, nadie responde")
'es'
>>> identify_language("ログインできません")
'ja'
>>> identify_language("12345 !!!")
'und'
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tactful.language.errors import LanguageProfilesError

PROFILES = Path(__file__).parent / "data" / "language_profiles.json"
UNDETERMINED = "und"
MAX_CHARS = 300  # the first characters tell the language; the rest only costs time
ENGLISH_SHARE = 0.6
_TOKEN = re.compile(r"\w\w+")  # the intent model's tokens (features.py)


@dataclass(frozen=True)
class LanguageProfiles:
    languages: tuple[str, ...]
    margin: float  # per n-gram, how much another language must beat English by
    floors: tuple[tuple[float, float, float], ...]  # per language, an unseen n-gram's score
    grams: Mapping[str, Sequence[tuple[int, float]]]  # n-gram -> (language, score above floor)
    english_words: frozenset[str]

    def scores(self, words: Sequence[str]) -> list[float]:
        """Each language's log likelihood of the words' n-grams."""
        letters = sum(len(w) for w in words)
        counts = (letters, letters + len(words), letters)  # 1-, 2- and 3-grams
        scores = [sum(c * f for c, f in zip(counts, fl, strict=True)) for fl in self.floors]
        found: Counter[str] = Counter()
        for word in words:
            padded = f" {word} "
            found.update(word)
            found.update([padded[i : i + 2] for i in range(len(padded) - 1)])
            found.update([padded[i : i + 3] for i in range(len(padded) - 2)])
        get = self.grams.get
        for gram, times in found.items():
            for language, above_floor in get(gram, ()):
                scores[language] += times * above_floor
        return scores


_CJK = re.compile(
    "[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]"
)


def _script_language(text: str) -> str | None:
    if _CJK.search(text) is None:  # most texts: no kana, hangul or Chinese character
        return None if any(map(str.isalpha, text)) else UNDETERMINED
    kana = hangul = han = letters = 0
    for char in text:
        if not char.isalpha():
            continue
        letters += 1
        code = ord(char)
        if 0x3040 <= code <= 0x30FF:
            kana += 1
        elif 0xAC00 <= code <= 0xD7AF or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F:
            hangul += 1
        elif 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF:
            han += 1
    if letters == 0:
        return UNDETERMINED
    if kana and (kana + han) * 2 >= letters:
        return "ja"
    if hangul * 2 >= letters:
        return "ko"
    if han * 2 >= letters:
        return "zh"
    return None


def identify_language(text: str, profiles: LanguageProfiles | None = None) -> str:
    """The text's language (ISO 639-1), or "und" when it has no letters."""
    profiles = profiles or load_language_profiles()
    text = text[:MAX_CHARS].lower()
    by_script = _script_language(text)
    if by_script is not None:
        return by_script
    tokens = _TOKEN.findall(text)
    known = sum(map(profiles.english_words.__contains__, tokens))
    if tokens and known >= ENGLISH_SHARE * len(tokens):
        return "en"
    words = "".join(c if c.isalpha() else " " for c in text).split()
    scores = profiles.scores(words)
    english = profiles.languages.index("en")
    best = max(range(len(scores)), key=scores.__getitem__)
    grams = 3 * sum(len(w) for w in words) + len(words)
    if best != english and scores[best] - scores[english] < profiles.margin * grams:
        return "en"
    return profiles.languages[best]


def _pairs(flat: Sequence[float]) -> tuple[tuple[int, float], ...]:
    """[language, score, language, score, ...] as the file keeps it -> pairs."""
    if len(flat) % 2:
        raise ValueError("an n-gram's entries come in pairs")
    return tuple((int(flat[k]), float(flat[k + 1])) for k in range(0, len(flat), 2))


def parse_language_profiles(raw: Mapping[str, Any]) -> LanguageProfiles:
    try:
        if raw["format"] != "tactful-language-profiles/1":
            raise LanguageProfilesError(f"unknown profiles format {raw['format']!r}")
        languages = tuple(str(code) for code in raw["languages"])
        floors = tuple((float(a), float(b), float(c)) for a, b, c in raw["floors"])
        profiles = LanguageProfiles(
            languages=languages,
            margin=float(raw["margin"]),
            floors=floors,
            grams={str(g): _pairs(v) for g, v in raw["grams"].items()},
            english_words=frozenset(str(w) for w in raw["words"]["en"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LanguageProfilesError(f"malformed profiles: {exc!r}") from exc
    if "en" not in languages or len(floors) != len(languages):
        raise LanguageProfilesError("the profiles must cover English, one floor per language")
    if any(not 0 <= n < len(languages) for e in profiles.grams.values() for n, _ in e):
        raise LanguageProfilesError("an n-gram names a language the profiles lack")
    return profiles


@cache
def load_language_profiles(path: Path = PROFILES) -> LanguageProfiles:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LanguageProfilesError(f"cannot read the profiles {path}: {exc}") from exc
    return parse_language_profiles(raw)
