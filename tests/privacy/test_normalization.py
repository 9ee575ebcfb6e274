"""One person, one pseudonym, and never two people under one: PRECIS identifiers.

Golden vectors from tests/vectors/normalization.json (normalized forms written by
hand, pseudonyms computed with hashlib/hmac under pseudonyms.json's key v1), the
pairs of tests/vectors/identifier_pairs.json (one person, two people), the refusal
of what NFKC used to fold, the ASCII fast path against the profile, and idempotence
as a property over any text.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tactful.privacy import _precis
from tactful.privacy.errors import InvalidRequest
from tactful.privacy.keyring import KeySet
from tactful.privacy.pseudonym import NORMALIZERS, Pseudonymizer, normalize, subject_violations

HERE = Path(__file__).parents[1] / "vectors"
VECTORS: dict[str, Any] = json.loads((HERE / "normalization.json").read_text(encoding="utf-8"))
KEYS = json.loads((HERE / "pseudonyms.json").read_text(encoding="utf-8"))["keys"]
VERSION = VECTORS["key_version"]
PSEUDONYMIZER = Pseudonymizer(
    KeySet("pseudonym", VERSION, {VERSION: bytes.fromhex(KEYS[str(VERSION)])})
)
CASES = VECTORS["cases"]
REFUSED = VECTORS["refused"]
PAIRS: dict[str, Any] = json.loads((HERE / "identifier_pairs.json").read_text(encoding="utf-8"))


def case_id(case: dict[str, Any]) -> str:
    return f"{case['namespace']}:{case['input'].encode('unicode_escape').decode()}"


def pseudonym(namespace: str, identifier: str) -> str:
    return PSEUDONYMIZER.pseudonymize(namespace, normalize(namespace, identifier))


# --- golden vectors ------------------------------------------------------------------------


def test_vector_file_covers_every_namespace() -> None:
    assert {c["namespace"] for c in CASES} == set(NORMALIZERS)
    assert {c["namespace"] for c in REFUSED} == set(NORMALIZERS)
    # The file is ASCII with \u escapes, so no editor can quietly recompose NFD inputs.
    assert (HERE / "normalization.json").read_bytes().isascii()


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_normalized_form_matches_vector(case: dict[str, Any]) -> None:
    assert normalize(case["namespace"], case["input"]) == case["normalized"]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_pseudonym_matches_vector(case: dict[str, Any]) -> None:
    assert pseudonym(case["namespace"], case["input"]) == case["pseudonym"]


@pytest.mark.parametrize("case", REFUSED, ids=case_id)
def test_a_refused_character_is_named(case: dict[str, Any]) -> None:
    violations = subject_violations(case["namespace"], case["input"], field="events[0].subject")
    assert [v.field for v in violations] == ["events[0].subject.id"]
    assert violations[0].description.startswith(
        f"{case['character']} is not allowed in an identifier ("
    )
    # Personal data: the description names the character, never the identifier.
    assert "example" not in violations[0].description
    assert case["input"][:3] not in violations[0].description
    with pytest.raises(InvalidRequest):
        normalize(case["namespace"], case["input"])


# --- one person, two people ----------------------------------------------------------------


def pair_id(pair: dict[str, Any]) -> str:
    return f"{pair['namespace']}:{pair['comment']}"


def test_pair_file_is_ascii_and_holds_what_the_issue_named() -> None:
    assert (HERE / "identifier_pairs.json").read_bytes().isascii()
    two = {(p["a"], p["b"]) for p in PAIRS["two_people"]}
    assert {
        ("x\u00b2@example.com", "x2@example.com"),
        ("\ufb01n@example.com", "fin@example.com"),
    } <= two
    assert {p["namespace"] for p in PAIRS["one_person"]} == set(NORMALIZERS)


@pytest.mark.parametrize("pair", PAIRS["one_person"], ids=pair_id)
def test_one_person_however_written(pair: dict[str, Any]) -> None:
    assert pseudonym(pair["namespace"], pair["a"]) == pseudonym(pair["namespace"], pair["b"])


@pytest.mark.parametrize("pair", PAIRS["two_people"], ids=pair_id)
def test_two_people_stay_two_or_one_is_refused(pair: dict[str, Any]) -> None:
    namespace, a, b = pair["namespace"], pair["a"], pair["b"]
    assert subject_violations(namespace, b, field="s") == []
    if pair["refused"] is None:
        assert pseudonym(namespace, a) != pseudonym(namespace, b)
    else:
        [violation] = subject_violations(namespace, a, field="s")
        assert violation.description.startswith(f"{pair['refused']} is not allowed")


# --- what the issue reported ---------------------------------------------------------------


def test_sharp_s_and_double_s_are_two_people() -> None:
    assert pseudonym("email", "straße@example.com") != pseudonym("email", "strasse@example.com")
    assert pseudonym("email", "STRASSE@example.com") == pseudonym("email", "strasse@example.com")
    # The capital sharp s lowers to ß, never to ss.
    assert normalize("email", "STRA\u1e9eE@example.com") == "straße@example.com"


def test_nfc_and_nfd_are_one_person() -> None:
    nfc, nfd = "jos\u00e9@example.com", "jose\u0301@example.com"
    assert nfc != nfd
    assert pseudonym("email", nfc) == pseudonym("email", nfd)
    assert pseudonym("customer_id", "Jos\u00e9") == pseudonym("customer_id", "Jose\u0301")


def test_fullwidth_and_kelvin_sign_fold_to_ascii() -> None:
    assert normalize("email", "ａｄａ＠ｅｘａｍｐｌｅ．ｃｏｍ") == "ada@example.com"
    assert normalize("email", "\u212aate@example.com") == "kate@example.com"
    assert normalize("device_id", "\u212a") == "k"
    assert normalize("customer_id", "\u212a-７") == "K-7"  # compatible, case kept
    assert normalize("phone", "＋４４ ２０ ７９４６－００００") == "+442079460000"


def test_case_sensitive_namespaces_keep_case() -> None:
    assert pseudonym("customer_id", "ABC") != pseudonym("customer_id", "abc")
    assert pseudonym("session_id", "ｓＥｓｓ") == pseudonym("session_id", "sEss")


def test_white_space_around_is_trimmed_control_characters_inside_are_not() -> None:
    assert normalize("email", "\t ada@example.com\r\n\u3000") == "ada@example.com"
    assert subject_violations("email", "ada\t@example.com", field="subject")[0].field == (
        "subject.id"
    )
    # Only ASCII white space and the ideographic space: a next line is a control.
    [violation] = subject_violations("email", "ada@example.com\x85", field="subject")
    assert violation.description.startswith("U+0085 <control> is not allowed")


def test_bidi_rule_holds_per_label_of_an_address() -> None:
    assert normalize("email", "\u05e9\u05dc\u05d5\u05dd@Example.com") == (
        "\u05e9\u05dc\u05d5\u05dd@example.com"
    )
    # A label that starts with a digit and holds Hebrew letters breaks RFC 5893.
    [violation] = subject_violations("email", "1\u05e9@example.com", field="subject")
    assert "Bidi Rule" in violation.description
    assert "example" not in violation.description


# --- the ASCII fast path -------------------------------------------------------------------


@given(
    identifier=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
    case_mapped=st.booleans(),
    labels=st.booleans(),
)
def test_the_ascii_fast_path_is_the_profile(
    identifier: str, case_mapped: bool, labels: bool
) -> None:
    fast = _precis.enforce(identifier, case_mapped=case_mapped, labels=labels)
    assert fast == _precis.enforce_slowly(identifier, case_mapped=case_mapped, labels=labels)


def outcome(identifier: str, *, case_mapped: bool, labels: bool, shortcut: bool) -> str:
    try:
        return _precis.enforce_slowly(
            identifier, case_mapped=case_mapped, labels=labels, shortcut=shortcut
        )
    except _precis.Refused as refused:
        return f"refused: {refused.description}"


# Letters of several scripts, marks, digits, RTL, contextual and compatibility ones.
MIXED = st.text(
    st.sampled_from(
        "aZ9.@-_ \u00e9e\u0301\u00df\u1e9e\u03a3\u03c2\u0130I\u212a\u00b2\ufb01\u00a0"
        "\uff21\uff41\uff71\u05d0\u05e9\u0627\u0661\u06f1\u00b7l\u0375\u03b1\u05f3"
        "\u30fb\u30a2\u200c\u200d\u094d\u0915\u4e2d\u2028\ue000\u0378J\u030c"
    ),
    max_size=12,
)


@given(identifier=MIXED, case_mapped=st.booleans(), labels=st.booleans())
@example(identifier="\u03a3.\u03b1", case_mapped=True, labels=True)
@example(identifier="l\u00b7l", case_mapped=True, labels=False)
@example(identifier="\u0915\u094d\u200d", case_mapped=False, labels=False)
def test_the_shortcut_is_the_profile(identifier: str, case_mapped: bool, labels: bool) -> None:
    """What each piece comes to past the shortcut is what precis_i18n's enforce gives
    (or refuses, in the same words)."""
    expected = outcome(identifier, case_mapped=case_mapped, labels=labels, shortcut=False)
    assert outcome(identifier, case_mapped=case_mapped, labels=labels, shortcut=True) == expected


# --- idempotence ---------------------------------------------------------------------------


@given(namespace=st.sampled_from(sorted(NORMALIZERS)), identifier=st.text(max_size=40))
@example(namespace="email", identifier="J\u030c")  # lower case undoes NFC here
@example(namespace="email", identifier="\u0130\u0301")
@example(namespace="email", identifier="\u03a3\u03a3")
@example(namespace="customer_id", identifier=" \u0301a")
@example(namespace="phone", identifier="K\u00b8")  # refused now: NFKC made it "K \u0327"
def test_normalizing_twice_changes_nothing(namespace: str, identifier: str) -> None:
    if subject_violations(namespace, identifier, field="s"):
        return
    once = normalize(namespace, identifier)
    assert NORMALIZERS[namespace](once) == once
    assert unicodedata.is_normalized("NFC", once)
    # What is accepted once is accepted again, as itself.
    assert subject_violations(namespace, once, field="s") == []


@given(
    namespace=st.sampled_from(["email", "device_id"]),
    identifier=st.text(st.characters(codec="utf-8"), max_size=40),
)
def test_lower_case_namespaces_have_no_upper_case_left(namespace: str, identifier: str) -> None:
    if not subject_violations(namespace, identifier, field="s"):
        once = normalize(namespace, identifier)
        assert once == once.lower()


# The two profiles over every assigned code point; unassigned and private-use ones
# (which the profiles refuse) one in 97.
CODE_POINTS = [
    c
    for c in range(sys.maxunicode + 1)
    if unicodedata.category(chr(c)) not in ("Cn", "Co") or c % 97 == 0
]


@pytest.mark.parametrize("namespace", ["device_id", "customer_id"])
def test_every_single_code_point_is_refused_or_idempotent(namespace: str) -> None:
    normalizer = NORMALIZERS[namespace]
    wrong, accepted = [], 0
    for code_point in CODE_POINTS:
        char = chr(code_point)
        try:
            once = normalizer(char)
        except _precis.Refused:
            continue
        if not once:  # white space alone: "identifier is empty"
            continue
        accepted += 1
        if normalizer(once) != once or unicodedata.category(char) in ("Cn", "Co", "Cc", "Cf"):
            wrong.append(f"U+{code_point:04X}")
    assert wrong == []
    assert accepted > 100_000  # letters and digits of every script
