"""A text's TF-IDF features, as scikit-learn's `TfidfVectorizer` computes them.

The intent model was trained by scikit-learn (`make model`) and is read here without
it, so the analyzers below reproduce `TfidfVectorizer`'s exactly: the text lowercased;
`word` n-grams of the tokens its default `token_pattern` finds, joined by one space;
`char_wb` n-grams inside each whitespace-separated word padded with one space. A term's
weight is its count (or 1 + ln(count) when `sublinear_tf`) times its idf, and the vector
is scaled to unit length. tests/language/test_intent_model.py compares these with
scikit-learn's own on every held-out message.

>>> word_ngrams("I want to CANCEL", (1, 2))
['want', 'to', 'cancel', 'want to', 'to cancel']
>>> char_wb_ngrams("Hi you", (2, 3))
[' h', 'hi', 'i ', ' hi', 'hi ', ' y', 'yo', 'ou', 'u ', ' yo', 'you', 'ou ']
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import compress, repeat
from operator import is_not, lt, mul
from typing import cast

# TfidfVectorizer's default token_pattern is (?u)\b\w\w+\b; without the \b it finds the
# same tokens (a greedy run of two word characters or more starts and ends at a
# boundary), a quarter sooner.
_TOKEN = re.compile(r"\w\w+")
_WHITE_SPACES = re.compile(r"\s\s+")


def word_ngrams(text: str, ngram_range: tuple[int, int]) -> list[str]:
    """The word n-grams of `analyzer="word"`, in scikit-learn's order."""
    tokens = _TOKEN.findall(text.lower())
    low, high = ngram_range
    grams: list[str] = list(tokens) if low == 1 else []
    if low <= 2 <= high:  # the common case, joined in C
        grams += map(" ".join, zip(tokens, tokens[1:], strict=False))
    for n in range(max(low, 3), min(high, len(tokens)) + 1):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


def char_wb_ngrams(text: str, ngram_range: tuple[int, int]) -> list[str]:
    """The character n-grams of `analyzer="char_wb"`, in scikit-learn's order."""
    low, high = ngram_range
    sizes = range(low, high + 1)
    grams: list[str] = []
    for word in _WHITE_SPACES.sub(" ", text.lower()).split():
        padded = f" {word} "
        length = len(padded)
        if length > high:  # the common case, in one comprehension
            grams += [padded[i : i + n] for n in sizes for i in range(length - n + 1)]
            continue
        for n in sizes:
            grams += [padded[i : i + n] for i in range(max(length - n, 0) + 1)]
            if length <= n:  # a short word counts once, whatever the n
                break
    return grams


ANALYZERS = {"word": word_ngrams, "char_wb": char_wb_ngrams}


@dataclass(frozen=True)
class Vectorizer:
    """One fitted `TfidfVectorizer` and its share of the linear model: how it cuts a
    text and, for each known term, its idf squared followed by its weight toward each
    label already multiplied by its idf. A term costs one dict lookup."""

    analyzer: str  # "word" or "char_wb"
    ngram_range: tuple[int, int]
    sublinear_tf: bool
    rows: Mapping[str, tuple[float, ...]]  # term -> (idf², idf × coefficient per label)

    def terms(self, text: str) -> list[str]:
        return ANALYZERS[self.analyzer](text, self.ngram_range)

    def scores(self, text: str) -> tuple[list[float], float] | None:
        """Per label, the sum over the text's known terms of tf × idf × coefficient, and
        the tf-idf weights' length (l2 norm): the linear model's scores are the sums
        divided by the length. None when the text has no known term.

        With raw counts, summing a term's row once per occurrence is summing tf × row,
        so the rows are summed column by column in C with no multiplication, and their
        first column is Σ tf × idf²: the squared length when no term repeats, and short
        by Σ tf × (tf - 1) × idf² over the terms that do (one Counter finds them)."""
        terms = self.terms(text)
        if self.sublinear_tf:
            return self._sublinear_scores(terms)
        rows = list(filter(None, map(self.rows.get, terms)))  # a row is never empty
        if not rows:
            return None
        columns = cast(list[float], list(map(sum, zip(*rows, strict=True))))
        squared, sums = columns[0], columns[1:]
        counted = Counter(terms)
        if len(counted) < len(terms):  # the repeated terms, picked out in C
            get = self.rows.get
            for term in compress(counted, map(lt, repeat(1), counted.values())):
                if (row := get(term)) is not None:
                    tf = counted[term]
                    squared += tf * (tf - 1) * row[0]
        return sums, math.sqrt(squared)

    def _sublinear_scores(self, terms: list[str]) -> tuple[list[float], float] | None:
        """The same with tf = 1 + ln(count): each distinct term's row times its tf."""
        counted = Counter(terms)
        looked_up = list(map(self.rows.get, counted))
        known = list(map(is_not, looked_up, repeat(None)))
        rows = cast(list[tuple[float, ...]], list(compress(looked_up, known)))
        if not rows:
            return None
        counts = list(compress(counted.values(), known))
        tf = list(map(_sublinear_table(max(counts)).__getitem__, counts))
        squared_idf, *by_label = zip(*rows, strict=True)
        norm = math.sqrt(sum(map(mul, map(mul, tf, tf), squared_idf)))
        return [sum(map(mul, tf, column)) for column in by_label], norm


_SUBLINEAR = [0.0] + [1.0 + math.log(n) for n in range(1, 65)]


def _sublinear_table(largest: int) -> list[float]:
    """1 + ln(count) by count (scikit-learn's sublinear tf), up to `largest`."""
    if largest < len(_SUBLINEAR):
        return _SUBLINEAR
    return [0.0] + [1.0 + math.log(n) for n in range(1, largest + 1)]
