"""One person, one pseudonym: Unicode normalization of identifiers.

Golden vectors from tests/vectors/normalization.json (normalized forms written by
hand, pseudonyms computed with hashlib/hmac under pseudonyms.json's key v1), the
cases the issue names, the refusal of control and format characters, and
idempotence as a property over any text.
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

from privacy.errors import InvalidRequest
from privacy.keyring import KeySet
from privacy.pseudonym import NORMALIZERS, Pseudonymizer, normalize, subject_violations

HERE = Path(__file__).parent / "vectors"
VECTORS: dict[str, Any] = json.loads((HERE / "normalization.json").read_text(encoding="utf-8"))
KEYS = json.loads((HERE / "pseudonyms.json").read_text(encoding="utf-8"))["keys"]
VERSION = VECTORS["key_version"]
PSEUDONYMIZER = Pseudonymizer(
    KeySet("pseudonym", VERSION, {VERSION: bytes.fromhex(KEYS[str(VERSION)])})
)
CASES = VECTORS["cases"]
REFUSED = VECTORS["refused"]


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
def test_control_and_format_characters_are_refused(case: dict[str, Any]) -> None:
    violations = subject_violations(case["namespace"], case["input"], field="events[0].subject")
    assert [v.field for v in violations] == ["events[0].subject.id"]
    assert case["character"] in violations[0].description
    assert "control or format character" in violations[0].description
    with pytest.raises(InvalidRequest):
        normalize(case["namespace"], case["input"])


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
    assert normalize("email", "\t ada@example.com\r\n\x85") == "ada@example.com"
    assert subject_violations("email", "ada\t@example.com", field="subject")[0].field == (
        "subject.id"
    )


# --- idempotence ---------------------------------------------------------------------------


@given(namespace=st.sampled_from(sorted(NORMALIZERS)), identifier=st.text(max_size=40))
@example(namespace="email", identifier="J\u030c")  # lower case undoes NFC here
@example(namespace="email", identifier="\u0130\u0301")
@example(namespace="email", identifier="\u03a3\u03a3")
@example(namespace="customer_id", identifier=" \u0301a")
@example(namespace="phone", identifier="K\u00b8")  # NFKC: "K \u0327"; no space: "Ķ"
def test_normalizing_twice_changes_nothing(namespace: str, identifier: str) -> None:
    once = NORMALIZERS[namespace](identifier)
    assert NORMALIZERS[namespace](once) == once
    assert unicodedata.is_normalized("NFKC", once)
    if not subject_violations(namespace, identifier, field="s"):
        # What is accepted once is accepted again, as itself.
        assert subject_violations(namespace, once, field="s") == []
        assert normalize(namespace, normalize(namespace, identifier)) == once


@given(
    namespace=st.sampled_from(["email", "device_id"]),
    identifier=st.text(st.characters(codec="utf-8"), max_size=40),
)
def test_lower_case_namespaces_have_no_upper_case_left(namespace: str, identifier: str) -> None:
    once = NORMALIZERS[namespace](identifier)
    assert once == once.lower()


@pytest.mark.parametrize("namespace", sorted(NORMALIZERS))
def test_every_single_code_point_is_idempotent(namespace: str) -> None:
    normalizer = NORMALIZERS[namespace]
    wrong = []
    for code_point in range(sys.maxunicode + 1):
        once = normalizer(chr(code_point))
        if normalizer(once) != once:
            wrong.append(f"U+{code_point:04X}")
    assert wrong == []
