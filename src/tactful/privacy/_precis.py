"""PRECIS (RFC 8264) for identifiers, behind one door: the only import of `precis_i18n`.

An identifier is one or more parts separated by ASCII spaces, as a username is in
RFC 8265 §3.1; each part is enforced under the UsernameCaseMapped profile (§3.3:
width mapping, lower case, NFC, the Bidi Rule, then the IdentifierClass) or, where
case matters, UsernameCasePreserved (§3.4). An e-mail address is also split at its
`@` and `.`, so that the Bidi Rule applies to each label as RFC 5893 means it (a
Hebrew local part with a Latin domain is well formed). Compatibility characters
(`²`, `ﬁ`, a no-break space), controls, default-ignorable, private-use and
unassigned code points are refused, never folded. "Unassigned" is relative to the
Unicode version of the running Python's `unicodedata` (`UNICODE_VERSION`).

Plain printable ASCII is what almost every identifier is, and the profile leaves it
as it is but for lower case: that is the fast path, and `enforce_slowly` is the
same rules without it. Past it, a part whose mapped characters are each allowed
wherever they stand (no contextual rule, no right-to-left text) needs no more of
the profile than its mappings; what each code point is, is remembered (a fact about
Unicode, never about a person). Anything else, refusals included, goes through
`precis_i18n` whole. tests/privacy/test_normalization.py checks that each shortcut agrees.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from precis_i18n import get_profile
from precis_i18n.derived import PVALID, derived_property
from precis_i18n.profile import Profile

UNICODE_VERSION = unicodedata.unidata_version
_CASE_MAPPED = get_profile("UsernameCaseMapped")
_CASE_PRESERVED = get_profile("UsernameCasePreserved")
_LABELS = re.compile(r"([@.])")
_UCD = _CASE_PRESERVED.base.ucd

# Why the IdentifierClass refuses a code point, by precis_i18n's name for the reason.
_WHY = {
    "has_compat": "a compatibility character",
    "unassigned": f"not assigned in Unicode {UNICODE_VERSION}",
    "controls": "a control character",
    "precis_ignorable_properties": "an invisible (default-ignorable) character",
    "spaces": "a space other than U+0020",
    "symbols": "a symbol",
    "punctuation": "punctuation outside ASCII",
    "old_hangul_jamo": "an old Hangul jamo",
    "other_letter_digits": "not a letter or digit identifiers may hold",
}
_WHY_BY_CATEGORY = {
    "Co": "a private-use character",
    "Cs": "a surrogate",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}
_UNNAMED = {"Cc": "<control>", "Co": "<private use>", "Cn": "<unassigned>", "Cs": "<surrogate>"}


class Refused(ValueError):
    """The identifier breaks the profile; `description` says why without repeating it."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def enforce(identifier: str, *, case_mapped: bool, labels: bool = False) -> str:
    """`identifier` (trimmed already) in the profile's form, or Refused.

    >>> enforce("Ada@Example.COM", case_mapped=True, labels=True)
    'ada@example.com'
    >>> enforce("\\uff23\\uff35\\uff33\\uff34-7", case_mapped=False)
    'CUST-7'
    """
    if identifier.isascii() and identifier.isprintable():
        # Printable ASCII is all PVALID, has no width or NFC mapping and no RTL.
        return identifier.lower() if case_mapped else identifier
    return enforce_slowly(identifier, case_mapped=case_mapped, labels=labels)


def width_map(identifier: str) -> str:
    """Fullwidth and halfwidth characters as their plain forms (RFC 8265's width
    mapping), the rest as it is."""
    return identifier if identifier.isascii() else _CASE_PRESERVED.width_mapping_rule(identifier)


def enforce_slowly(
    identifier: str, *, case_mapped: bool, labels: bool = False, shortcut: bool = True
) -> str:
    """`enforce` without the ASCII fast path (and, for tests, without the shortcut)."""
    profile = _CASE_MAPPED if case_mapped else _CASE_PRESERVED
    userparts = []
    for userpart in identifier.split(" "):
        mapped = profile.width_mapping_rule(userpart)
        pieces = _LABELS.split(mapped) if labels else [mapped]
        userparts.append(
            "".join(
                p
                if not p or (labels and _LABELS.fullmatch(p))
                else _enforce(profile, p, identifier, case_mapped=case_mapped, shortcut=shortcut)
                for p in pieces
            )
        )
    return " ".join(userparts)


def _mappings(value: str, *, case_mapped: bool) -> str:
    """The profile's width, case and NFC rules (RFC 8264 §7, rules 1 to 4)."""
    mapped = _UCD.width_map(value)
    return unicodedata.normalize("NFC", mapped.lower() if case_mapped else mapped)


@lru_cache(maxsize=8192)
def _allowed_anywhere(char: str) -> bool:
    """PVALID (no contextual rule to check) and not right-to-left (no Bidi Rule)."""
    return derived_property(ord(char), _UCD)[0] == PVALID and (
        unicodedata.bidirectional(char) not in ("R", "AL", "AN")
    )


def _enforce(
    profile: Profile, piece: str, identifier: str, *, case_mapped: bool, shortcut: bool
) -> str:
    if shortcut:
        if piece.isascii() and piece.isprintable():
            return piece.lower() if case_mapped else piece
        # What the profile's enforce comes to when every mapped character is allowed
        # anywhere: the mappings, and its check that applying them again changes nothing.
        mapped = _mappings(piece, case_mapped=case_mapped)
        if all(map(_allowed_anywhere, mapped)) and (
            _mappings(mapped, case_mapped=case_mapped) == mapped
        ):
            return mapped
    try:
        return profile.enforce(piece)
    except UnicodeEncodeError as refused:
        kind = refused.reason.removeprefix("DISALLOWED/")
        if kind == "bidi_rule":
            raise Refused(
                "identifier mixes right-to-left and left-to-right characters in a way the Bidi Rule"
                " of RFC 5893 does not allow"
            ) from None
        if kind in ("not_idempotent", "empty"):
            raise Refused("identifier does not keep one form when normalized again") from None
        char = _as_sent(identifier, refused.object[refused.start])
        category = unicodedata.category(char)
        why = _WHY_BY_CATEGORY.get(category) or _WHY.get(kind, "not allowed in this position")
        raise Refused(f"{describe(char)} is not allowed in an identifier ({why})") from None


def _as_sent(identifier: str, refused: str) -> str:
    """The character of `identifier` that the profile turned into `refused` (the
    ROMAN NUMERAL TWELVE sent, not the SMALL ROMAN NUMERAL TWELVE it lowers to)."""
    for char in identifier:
        mapped = _CASE_PRESERVED.width_mapping_rule(char)
        if refused in mapped or refused in unicodedata.normalize("NFC", mapped.lower()):
            return char
    return refused


def describe(char: str) -> str:
    """A code point as the Unicode standard names it.

    >>> describe("\\u00b2")
    'U+00B2 SUPERSCRIPT TWO'
    """
    name = unicodedata.name(char, "") or _UNNAMED.get(unicodedata.category(char), "")
    return f"U+{ord(char):04X} {name}".rstrip()
