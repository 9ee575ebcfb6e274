"""Sentiment: negative, neutral or positive, with VADER's compound score in [-1, 1].

A port of VADER 3.3.2 (vaderSentiment's `SentimentIntensityAnalyzer.polarity_scores`,
C.J. Hutto, MIT licence; `data/LICENSES.md`), rule for rule, reading its lexicon and its
emoji lexicon as shipped (`data/vader_lexicon.txt`, `data/vader_emoji_lexicon.txt`).
tests/language/test_sentiment.py compares its scores with the original's on golden
vectors. Hutto, C.J. & Gilbert, E.E. (2014). VADER: A Parsimonious Rule-based Model for
Sentiment Analysis of Social Media Text. ICWSM-14.

The label uses VADER's own cut-offs: compound >= 0.05 is positive, <= -0.05 negative.

>>> sentiment("I was charged twice and nobody answers, this is awful").label
'negative'
>>> sentiment("Thanks, that was really helpful!").label
'positive'
>>> sentiment("Where is my invoice").label
'neutral'
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import repeat
from pathlib import Path

DATA = Path(__file__).parent / "data"
POSITIVE_FROM = 0.05  # VADER's cut-offs on the compound score
NEGATIVE_FROM = -0.05

B_INCR = 0.293  # booster words, ALL CAPS, negation: VADER's empirically derived constants
B_DECR = -0.293
C_INCR = 0.733
N_SCALAR = -0.74

NEGATE = frozenset([
    "aint", "arent", "cannot", "cant", "couldnt", "darent", "didnt", "doesnt", "ain't",
    "aren't", "can't", "couldn't", "daren't", "didn't", "doesn't", "dont", "hadnt",
    "hasnt", "havent", "isnt", "mightnt", "mustnt", "neither", "don't", "hadn't",
    "hasn't", "haven't", "isn't", "mightn't", "mustn't", "neednt", "needn't", "never",
    "none", "nope", "nor", "not", "nothing", "nowhere", "oughtnt", "shant", "shouldnt",
    "uhuh", "wasnt", "werent", "oughtn't", "shan't", "shouldn't", "uh-uh", "wasn't",
    "weren't", "without", "wont", "wouldnt", "won't", "wouldn't", "rarely", "seldom",
    "despite",
])  # fmt: skip
_BOOSTERS = [
    "absolutely", "amazingly", "awfully", "completely", "considerable", "considerably",
    "decidedly", "deeply", "effing", "enormous", "enormously", "entirely", "especially",
    "exceptional", "exceptionally", "extreme", "extremely", "fabulously", "flipping",
    "flippin", "frackin", "fracking", "fricking", "frickin", "frigging", "friggin",
    "fully", "fuckin", "fucking", "fuggin", "fugging", "greatly", "hella", "highly",
    "hugely", "incredible", "incredibly", "intensely", "major", "majorly", "more",
    "most", "particularly", "purely", "quite", "really", "remarkably", "so",
    "substantially", "thoroughly", "total", "totally", "tremendous", "tremendously",
    "uber", "unbelievably", "unusually", "utter", "utterly", "very",
]  # fmt: skip
_DAMPENERS = [
    "almost", "barely", "hardly", "just enough", "kind of", "kinda", "kindof", "kind-of",
    "less", "little", "marginal", "marginally", "occasional", "occasionally", "partly",
    "scarce", "scarcely", "slight", "slightly", "somewhat", "sort of", "sorta", "sortof",
    "sort-of",
]  # fmt: skip
BOOSTER_DICT: Mapping[str, float] = {
    **dict.fromkeys(_BOOSTERS, B_INCR),
    **dict.fromkeys(_DAMPENERS, B_DECR),
}
SPECIAL_CASES: Mapping[str, float] = {
    "the shit": 3, "the bomb": 3, "bad ass": 1.5, "badass": 1.5, "bus stop": 0.0,
    "yeah right": -2, "kiss of death": -1.5, "to die for": 3, "beating heart": 3.5,
}  # fmt: skip


@dataclass(frozen=True)
class Sentiment:
    label: str  # "negative", "neutral" or "positive"
    score: float  # VADER's compound score, in [-1, 1]


@dataclass(frozen=True)
class Lexicon:
    valences: Mapping[str, float]  # word -> mean valence rating
    emojis: Mapping[str, str]  # emoji -> its words
    _ascii_emoji: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ascii_emoji = any(len(e) == 1 and e.isascii() for e in self.emojis)
        object.__setattr__(self, "_ascii_emoji", ascii_emoji)

    def has_emoji(self, text: str) -> bool:
        """Whether VADER, reading character by character, would replace an emoji. An
        ASCII text (most) is settled at once: no emoji of the lexicon is ASCII."""
        if text.isascii() and not self._ascii_emoji:
            return False
        return not self.emojis.keys().isdisjoint(text)


@cache
def load_lexicon(folder: Path = DATA) -> Lexicon:
    valences: dict[str, float] = {}
    for line in (folder / "vader_lexicon.txt").read_text(encoding="utf-8").splitlines():
        if line:
            word, measure = line.strip().split("\t")[0:2]
            valences[word] = float(measure)
    emojis: dict[str, str] = {}
    for line in (folder / "vader_emoji_lexicon.txt").read_text(encoding="utf-8").splitlines():
        if line:
            emoji, description = line.strip().split("\t")[0:2]
            emojis[emoji] = description
    return Lexicon(valences, emojis)


def sentiment(text: str, lexicon: Lexicon | None = None) -> Sentiment:
    """The text's sentiment, by VADER's compound score."""
    score = compound(text, lexicon or load_lexicon())
    if score >= POSITIVE_FROM:
        return Sentiment("positive", score)
    if score <= NEGATIVE_FROM:
        return Sentiment("negative", score)
    return Sentiment("neutral", score)


def compound(text: str, lexicon: Lexicon) -> float:
    """VADER's compound score (`polarity_scores(text)["compound"]`)."""
    if lexicon.has_emoji(text):  # most texts have none: one search, in C
        text = _emojis_as_words(text, lexicon.emojis)
    text = text.strip()
    words = _words(text.split())
    lowered = [w.lower() for w in words]
    is_cap_diff = _allcap_differential(words)
    valences = lexicon.valences
    sentiments: list[float] = []
    for i, item in enumerate(lowered):
        # Most words have no valence: 0, whatever comes before (tested first, cheapest).
        if (
            item not in valences
            or item in BOOSTER_DICT
            or (item == "kind" and i < len(words) - 1 and lowered[i + 1] == "of")
        ):
            sentiments.append(0.0)
        else:
            sentiments.append(_valence(words, lowered, i, is_cap_diff, valences))
    sentiments = _but_check(lowered, sentiments)
    if not sentiments:
        return 0.0
    total = float(sum(sentiments))
    emphasis = _punctuation_emphasis(text)
    if total > 0:
        total += emphasis
    elif total < 0:
        total -= emphasis
    return round(_normalize(total), 4)


def _emojis_as_words(text: str, emojis: Mapping[str, str]) -> str:
    out: list[str] = []
    previous_space = True
    for char in text:
        if char in emojis:
            if not previous_space:
                out.append(" ")
            out.append(emojis[char])
            previous_space = False
        else:
            out.append(char)
            previous_space = char == " "
    return "".join(out)


def _words(tokens: list[str]) -> list[str]:
    """Each token without its leading and trailing punctuation, unless that leaves two
    characters or fewer (then it was likely an emoticon, ":)")."""
    stripped = map(str.strip, tokens, repeat(string.punctuation))
    return [s if len(s) > 2 else t for s, t in zip(stripped, tokens, strict=True)]


def _allcap_differential(words: Sequence[str]) -> bool:
    """Whether some, but not all, words are ALL CAPS."""
    capitals = sum(map(str.isupper, words))
    return 0 < len(words) - capitals < len(words)


def _negated(word: str) -> bool:
    return word in NEGATE or "n't" in word


def _normalize(score: float, alpha: float = 15) -> float:
    return max(-1.0, min(1.0, score / math.sqrt(score * score + alpha)))


def _scalar_inc_dec(word: str, valence: float, is_cap_diff: bool) -> float:
    """How much a preceding booster or dampener word moves the valence."""
    scalar = 0.0
    lowered = word.lower()
    if lowered in BOOSTER_DICT:
        scalar = BOOSTER_DICT[lowered]
        if valence < 0:
            scalar *= -1
        if word.isupper() and is_cap_diff:
            scalar += C_INCR if valence > 0 else -C_INCR
    return scalar


def _valence(
    words: Sequence[str],
    lowered: Sequence[str],
    i: int,
    is_cap_diff: bool,
    valences: Mapping[str, float],
) -> float:
    item = lowered[i]
    if item not in valences:
        return 0.0
    valence = valences[item]
    if item == "no" and i != len(words) - 1 and lowered[i + 1] in valences:
        valence = 0.0  # "no" negates the next lexicon word instead of counting itself
    if (
        (i > 0 and lowered[i - 1] == "no")
        or (i > 1 and lowered[i - 2] == "no")
        or (i > 2 and lowered[i - 3] == "no" and lowered[i - 1] in ("or", "nor"))
    ):
        valence = valences[item] * N_SCALAR
    if words[i].isupper() and is_cap_diff:
        valence += C_INCR if valence > 0 else -C_INCR
    for start in range(3):
        # Boosters up to three words back, weaker with distance; then negations.
        if i > start and lowered[i - (start + 1)] not in valences:
            s = _scalar_inc_dec(words[i - (start + 1)], valence, is_cap_diff)
            if start == 1 and s != 0:
                s = s * 0.95
            if start == 2 and s != 0:
                s = s * 0.9
            valence = _negation_check(valence + s, lowered, start, i)
            if start == 2:
                valence = _special_idioms_check(valence, lowered, i)
    return _least_check(valence, lowered, i, valences)


def _least_check(
    valence: float, lowered: Sequence[str], i: int, valences: Mapping[str, float]
) -> float:
    if i > 1 and lowered[i - 1] not in valences and lowered[i - 1] == "least":
        if lowered[i - 2] != "at" and lowered[i - 2] != "very":
            valence = valence * N_SCALAR
    elif i > 0 and lowered[i - 1] not in valences and lowered[i - 1] == "least":
        valence = valence * N_SCALAR
    return valence


def _but_check(lowered: Sequence[str], sentiments: list[float]) -> list[float]:
    """Halve what comes before "but", raise by half what comes after. As VADER 3.3.2
    does it: a sentiment's position is the first index of an equal value."""
    if "but" not in lowered:
        return sentiments
    bi = lowered.index("but")
    for sentiment in list(sentiments):
        si = sentiments.index(sentiment)
        if si < bi:
            sentiments.pop(si)
            sentiments.insert(si, sentiment * 0.5)
        elif si > bi:
            sentiments.pop(si)
            sentiments.insert(si, sentiment * 1.5)
    return sentiments


def _special_idioms_check(valence: float, lowered: Sequence[str], i: int) -> float:
    onezero = f"{lowered[i - 1]} {lowered[i]}"
    twoonezero = f"{lowered[i - 2]} {lowered[i - 1]} {lowered[i]}"
    twoone = f"{lowered[i - 2]} {lowered[i - 1]}"
    threetwoone = f"{lowered[i - 3]} {lowered[i - 2]} {lowered[i - 1]}"
    threetwo = f"{lowered[i - 3]} {lowered[i - 2]}"
    for sequence in (onezero, twoonezero, twoone, threetwoone, threetwo):
        if sequence in SPECIAL_CASES:
            valence = SPECIAL_CASES[sequence]
            break
    if len(lowered) - 1 > i:
        zeroone = f"{lowered[i]} {lowered[i + 1]}"
        if zeroone in SPECIAL_CASES:
            valence = SPECIAL_CASES[zeroone]
    if len(lowered) - 1 > i + 1:
        zeroonetwo = f"{lowered[i]} {lowered[i + 1]} {lowered[i + 2]}"
        if zeroonetwo in SPECIAL_CASES:
            valence = SPECIAL_CASES[zeroonetwo]
    for n_gram in (threetwoone, threetwo, twoone):
        if n_gram in BOOSTER_DICT:
            valence = valence + BOOSTER_DICT[n_gram]
    return valence


def _negation_check(valence: float, lowered: Sequence[str], start: int, i: int) -> float:
    if start == 0:
        if _negated(lowered[i - 1]):
            valence = valence * N_SCALAR
    elif start == 1:
        if lowered[i - 2] == "never" and lowered[i - 1] in ("so", "this"):
            valence = valence * 1.25
        elif lowered[i - 2] == "without" and lowered[i - 1] == "doubt":
            pass
        elif _negated(lowered[i - 2]):
            valence = valence * N_SCALAR
    elif start == 2:
        if (lowered[i - 3] == "never" and lowered[i - 2] in ("so", "this")) or lowered[i - 1] in (
            "so",
            "this",
        ):
            valence = valence * 1.25
        elif lowered[i - 3] == "without" and "doubt" in (lowered[i - 2], lowered[i - 1]):
            pass
        elif _negated(lowered[i - 3]):
            valence = valence * N_SCALAR
    return valence


def _punctuation_emphasis(text: str) -> float:
    exclamations = min(text.count("!"), 4) * 0.292
    questions = text.count("?")
    if questions <= 1:
        return exclamations
    return exclamations + (questions * 0.18 if questions <= 3 else 0.96)
