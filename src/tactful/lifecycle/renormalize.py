"""Identifiers stored under older normalization rules, as the rekey sees them.

The vault keeps each identifier in the normalized form it was written in, and
the version of the rules (`Identity.normalization`). Version 1 was `strip()`
and `casefold()` for email and device_id, `strip()` for customer_id and
session_id, and for phone numbers the removal of separators; version 2 was
Unicode NFKC and lower case. Normalizing such a stored form again by today's
rules (PRECIS, `tactful.privacy.pseudonym.NORMALIZATION`) gives the form every spelling
of it now has: the NFD `jose\u0301@` moves to the NFC `josé@` (and is joined
with it, if both were stored), fullwidth letters move to ASCII.

What an older rule merged cannot be taken apart. Case folding stored `straße@`
and `strasse@` both as `strasse@`; `may_hold_two_spellings` says which entries
those could be, so the migration can count them. NFKC stored `x²@` as `x2@` and
`ﬁn@` as `fin@`: the stored form is a plain spelling, which today's rules
accept and keep, and no entry says whether another spelling reached it, so
those are not counted (docs/guide/keys.md). A stored form that today's rules refuse (a
character NFKC kept, such as a line separator or a symbol) is left as it is,
under its pseudonym, and reported: no request can name it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tactful.privacy.pseudonym import NORMALIZERS, subject_violations
from tactful.privacy.vault import Identity

# What casefold() wrote for letters that lower() keeps apart, and the letter it
# merged: only the ones of living orthographies. (The others are polytonic Greek
# with iota subscript, Old Cyrillic letter variants and a sigma symbol; the tests
# in tests/lifecycle/test_normalization_migration.py list every one and fail if that changes.)
CASE_FOLDED = {"ss": "ß", "σ": "ς"}
_FOLDED_NAMESPACES = frozenset({"email", "device_id"})  # casefold()ed by version 1


@dataclass(frozen=True)
class Renormalized:
    """A stored identity's form under today's rules, or its stored form when today's
    rules refuse it (a character they refuse, or too long once normalized)."""

    identifier: str
    refused: bool


def renormalize(identity: Identity) -> Renormalized:
    violations = subject_violations(identity.namespace, identity.identifier, field="subject")
    if violations:
        return Renormalized(identity.identifier, refused=True)
    return Renormalized(NORMALIZERS[identity.namespace](identity.identifier), refused=False)


def may_hold_two_spellings(identity: Identity) -> bool:
    """Whether an entry of version 1 may have been reached by two spellings that are
    two people now (`strasse@` by `straße@` too, `νικοσ@` by `νικος@`)."""
    return (
        identity.normalization == 1
        and identity.namespace in _FOLDED_NAMESPACES
        and any(folded in identity.identifier for folded in CASE_FOLDED)
    )
