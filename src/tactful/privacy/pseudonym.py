"""Keyed pseudonyms: who a person is, without saying who they are.

A pseudonym is HMAC-SHA256, under a versioned keyring key, of the namespace and
the normalized identifier, written so it describes itself:

    hmac-sha256:v1:5f1c…   (64 hex digits)

A plain hash would fall to a dictionary of known emails; the key prevents that.

One person, one pseudonym, and never two people under one: an identifier is put
in the form the IETF gives identifiers, PRECIS (RFC 8264, the UsernameCaseMapped
and UsernameCasePreserved profiles of RFC 8265; privacy/_precis.py), before it is
keyed. Fullwidth `ａｄａ` is `ada` (width mapping), NFD `jose\u0301` is NFC `josé`,
the Kelvin sign is `k`; where case does not matter it is lower-cased (never a case
fold: `straße` and `strasse` are two people). What a compatibility folding would
have guessed at is refused by name: `x²` is not `x2`, `ﬁn` is not `fin`, a
no-break space is not a space; so are controls, invisible, private-use and
unassigned characters. ASCII white space (and the ideographic space) around the
identifier goes. `NORMALIZATION` numbers these rules; the vault records it per
entry, and `tactful.lifecycle.rekey` moves entries written under older rules.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

from tactful.privacy import _crypto, _precis
from tactful.privacy.errors import InvalidRequest, Violation
from tactful.privacy.keyring import Keys, KeySet

ALGORITHM = "hmac-sha256"
MAX_IDENTIFIER_BYTES = 256
# 1: strip() and casefold(); 2: NFKC, lower case, trim, control/format refused;
# 3: PRECIS, refusing what 2 folded.
NORMALIZATION = 3
# Longer than this is too long once normalized whatever it holds (trimmed white space
# aside): checked before the profile looks at each character.
_MAX_SENT_CHARS = 4 * MAX_IDENTIFIER_BYTES
_AROUND = " \t\n\r\f\v\u3000"
# A phone number's separators, after width mapping: space, no-break and narrow
# no-break space (how typesetting keeps a number on one line), ( ) . -
_PHONE_SEPARATORS = re.compile("[ \u00a0\u202f().-]")


def _email(identifier: str) -> str:
    return _precis.enforce(identifier.strip(_AROUND), case_mapped=True, labels=True)


def _case_mapped(identifier: str) -> str:
    return _precis.enforce(identifier.strip(_AROUND), case_mapped=True)


def _case_preserved(identifier: str) -> str:
    return _precis.enforce(identifier.strip(_AROUND), case_mapped=False)


def _phone(identifier: str) -> str:
    digits = _PHONE_SEPARATORS.sub("", _precis.width_map(identifier.strip(_AROUND)))
    return _precis.enforce(digits, case_mapped=False)


# Each raises _precis.Refused on an identifier its rules refuse.
NORMALIZERS: dict[str, Callable[[str], str]] = {
    # Canary.Person@Example.com == canary.person@example.com; the local part and each
    # label of the domain are enforced apart (the Bidi Rule is per label).
    "email": _email,
    "customer_id": _case_preserved,  # opaque, case matters
    "device_id": _case_mapped,  # UUIDs and hex ids arrive in either case
    "session_id": _case_preserved,
    "phone": _phone,  # "+44 20 7946-0000" == "+442079460000" == "＋４４ ２０ ７９４６-００００"
}


# Older rules, kept for one use only: suppression tombstones recorded under them can
# never be moved (the person is erased, their identifier gone), so collection is
# checked against the tombstone of the old spellings too. It only ever blocks.
_V1_PHONE_NOISE = re.compile(r"[\s().-]")
_VERSION_1: dict[str, Callable[[str], str]] = {
    "email": lambda identifier: identifier.strip().casefold(),
    "customer_id": str.strip,
    "device_id": lambda identifier: identifier.strip().casefold(),
    "session_id": str.strip,
    "phone": lambda identifier: _V1_PHONE_NOISE.sub("", identifier),
}


def _v2_compatible(identifier: str) -> str:
    return unicodedata.normalize("NFKC", identifier).strip()


def _v2_lower(identifier: str) -> str:
    lowered = unicodedata.normalize("NFKC", identifier).lower()
    return unicodedata.normalize("NFKC", lowered).strip()


def _v2_phone(identifier: str) -> str:
    digits = _V1_PHONE_NOISE.sub("", unicodedata.normalize("NFKC", identifier))
    return unicodedata.normalize("NFKC", digits)


_VERSION_2: dict[str, Callable[[str], str]] = {
    "email": _v2_lower,
    "customer_id": _v2_compatible,
    "device_id": _v2_lower,
    "session_id": _v2_compatible,
    "phone": _v2_phone,
}


def spellings(namespace: str, identifier: str, *, current: str | None = None) -> tuple[str, ...]:
    """The normalized form of a well-formed identifier, then the forms older rules may
    have given it: version 2's of what was typed, version 1's of what was typed and of
    the decomposed normalized form. For suppression checks only, where blocking too
    much is the safe side. A fullwidth spelling recorded under version 1 is found only
    if typed the same way again. `current`, if given, is the normalized form already
    computed (it is not computed again).

    >>> spellings("email", "Straße@Example.com")
    ('straße@example.com', 'strasse@example.com')
    """
    if current is None:
        current = NORMALIZERS[namespace](identifier)
    old = _VERSION_1[namespace]
    forms = (
        current,
        _VERSION_2[namespace](identifier),
        old(identifier),
        old(unicodedata.normalize("NFD", current)),
        old(current),
    )
    return tuple(dict.fromkeys(f for f in forms if f))


def normalize(namespace: str, identifier: str, *, field: str = "subject") -> str:
    """The canonical form of `identifier` in `namespace`, or InvalidRequest.

    >>> normalize("email", "  Ada@Example.COM ")
    'ada@example.com'
    >>> normalize("email", "Straße@Example.DE")
    'straße@example.de'
    """
    normalized, violation = _checked(namespace, identifier, field)
    if violation is not None:
        raise InvalidRequest([violation])
    return normalized


def subject_violations(namespace: str, identifier: str, *, field: str) -> list[Violation]:
    """Everything wrong with a subject reference, located under `field`."""
    _, violation = _checked(namespace, identifier, field)
    return [] if violation is None else [violation]


def checked_subject(namespace: str, identifier: str, *, field: str) -> tuple[str, Violation | None]:
    """The normalized identifier and None, or "" and what is wrong with the reference."""
    return _checked(namespace, identifier, field)


def _checked(namespace: str, identifier: str, field: str) -> tuple[str, Violation | None]:
    """The normalized identifier, or what is wrong with it (normalized once: both
    `normalize` and `subject_violations` are on every call's path)."""
    normalizer = NORMALIZERS.get(namespace)
    if normalizer is None:
        known = ", ".join(sorted(NORMALIZERS))
        return "", Violation(
            f"{field}.namespace", f"unknown namespace {namespace!r}; use one of {known}"
        )
    if len(identifier) > _MAX_SENT_CHARS:
        size = len(identifier.encode("utf-8"))
        return "", Violation(
            f"{field}.id", f"identifier is {size} bytes; at most {MAX_IDENTIFIER_BYTES}"
        )
    try:
        normalized = normalizer(identifier)
    except _precis.Refused as refused:
        return "", Violation(f"{field}.id", refused.description)
    if not normalized:
        return "", Violation(f"{field}.id", "identifier is empty")
    size = len(normalized.encode("utf-8"))
    if size > MAX_IDENTIFIER_BYTES:
        return "", Violation(
            f"{field}.id", f"identifier is {size} bytes; at most {MAX_IDENTIFIER_BYTES}"
        )
    return normalized, None


class Pseudonymizer:
    """Computes pseudonyms under the primary key; reads match every live version."""

    def __init__(self, keys: Keys) -> None:
        self._keys = keys

    def pseudonymize(self, namespace: str, normalized: str) -> str:
        """The pseudonym under the primary key version of an already normalized identifier."""
        version, key = self._keys.snapshot().primary_key()
        return _pseudonym(key, version, namespace, normalized)

    def resolve(
        self, namespace: str, identifier: str, *, field: str = "subject"
    ) -> tuple[str, ...]:
        """Check a subject reference, then its pseudonyms under every live key version."""
        return self.candidates(namespace, normalize(namespace, identifier, field=field))

    def candidates(self, namespace: str, normalized: str) -> tuple[str, ...]:
        """The pseudonym under every live key version, primary first (for lookups)."""
        return self.candidates_of([(namespace, normalized)])[(namespace, normalized)]

    def keys(self) -> KeySet:
        """The pseudonym key versions as they are now."""
        return self._keys.snapshot()

    def candidates_of(
        self, subjects: Iterable[tuple[str, str]], *, keys: KeySet | None = None
    ) -> dict[tuple[str, str], tuple[str, ...]]:
        """`candidates` of many (namespace, normalized identifier) pairs, all under one
        snapshot of the keys (a batch is pseudonymized consistently, and the keyring
        file is looked at once): `keys`, or the current one."""
        keys = self._keys.snapshot() if keys is None else keys
        live = [(v, keys.key(v)) for v in keys.live_versions()]
        return {
            (namespace, normalized): tuple(
                _pseudonym(key, v, namespace, normalized) for v, key in live
            )
            for namespace, normalized in subjects
        }


def _pseudonym(key: bytes, version: int, namespace: str, normalized: str) -> str:
    # Namespaces are a fixed set of NUL-free names, so the separator is unambiguous.
    message = namespace.encode("ascii") + b"\x00" + normalized.encode("utf-8")
    return f"{ALGORITHM}:v{version}:{_crypto.hmac_sha256(key, message).hex()}"
