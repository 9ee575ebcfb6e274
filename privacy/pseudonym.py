"""Keyed pseudonyms: who a person is, without saying who they are.

A pseudonym is HMAC-SHA256, under a versioned keyring key, of the namespace and
the normalized identifier, written so it describes itself:

    hmac-sha256:v1:5f1c…   (64 hex digits)

A plain hash would fall to a dictionary of known emails; the key prevents that.

One person, one pseudonym: an identifier is normalized before it is keyed.
Unicode NFKC first (NFD `jose\u0301` is NFC `josé`, fullwidth `ａｄａ` is `ada`, the
Kelvin sign is `K`), then, where case does not matter, lower case (never a
case fold: `straße` and `strasse` are two people), then the white space around
it goes. An identifier with a control, format or surrogate character left in it
(NUL, zero-width space or joiner, soft hyphen, BOM) is refused rather than
guessed at. `NORMALIZATION` numbers these rules; the vault records it per
entry, and `retention.rekey` moves entries written under older rules.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

from privacy import _crypto
from privacy.errors import InvalidRequest, Violation
from privacy.keyring import Keys

ALGORITHM = "hmac-sha256"
MAX_IDENTIFIER_BYTES = 256
# 1: strip() and casefold(); 2: NFKC, lower case, trim, control/format refused.
NORMALIZATION = 2
_PHONE_NOISE = re.compile(r"[\s().-]")
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})


def _compatible(identifier: str) -> str:
    return unicodedata.normalize("NFKC", identifier).strip()


def _lower(identifier: str) -> str:
    # Lower case can undo a normal form: "J" + U+030C has no precomposed capital, but
    # lowered it is "j" + U+030C, which NFC writes as U+01F0. Normalizing again after
    # it makes the whole idempotent (tests/test_normalization.py).
    lowered = unicodedata.normalize("NFKC", identifier).lower()
    return unicodedata.normalize("NFKC", lowered).strip()


def _phone(identifier: str) -> str:
    # Composed again once the spaces are gone: NFKC writes "K¸" as "K \u0327", and
    # without its space that is "Ķ".
    digits = _PHONE_NOISE.sub("", unicodedata.normalize("NFKC", identifier))
    return unicodedata.normalize("NFKC", digits)


NORMALIZERS: dict[str, Callable[[str], str]] = {
    "email": _lower,  # Canary.Person@Example.com == canary.person@example.com
    "customer_id": _compatible,  # opaque, case matters
    "device_id": _lower,  # UUIDs and hex ids arrive in either case
    "session_id": _compatible,
    "phone": _phone,  # "+44 20 7946-0000" == "+442079460000" == "＋４４ ２０ ７９４６-００００"
}


# Version 1's rules, kept for one use only: suppression tombstones recorded under them
# can never be moved (the person is erased, their identifier gone), so collection is
# checked against the tombstone of the old spelling too. It only ever blocks.
_VERSION_1: dict[str, Callable[[str], str]] = {
    "email": lambda identifier: identifier.strip().casefold(),
    "customer_id": str.strip,
    "device_id": lambda identifier: identifier.strip().casefold(),
    "session_id": str.strip,
    "phone": lambda identifier: _PHONE_NOISE.sub("", identifier),
}


def spellings(namespace: str, identifier: str) -> tuple[str, ...]:
    """The normalized form of a well-formed identifier, then the version 1 forms it may
    have had (of what was typed, and of the decomposed normalized form): for
    suppression checks only, where blocking too much is the safe side. A fullwidth
    spelling recorded then is found only if typed the same way again.

    >>> spellings("email", "Straße@Example.com")
    ('straße@example.com', 'strasse@example.com')
    """
    current = NORMALIZERS[namespace](identifier)
    old = _VERSION_1[namespace]
    forms = (current, old(identifier), old(unicodedata.normalize("NFD", current)), old(current))
    return tuple(dict.fromkeys(f for f in forms if f))


def normalize(namespace: str, identifier: str, *, field: str = "subject") -> str:
    """The canonical form of `identifier` in `namespace`, or InvalidRequest.

    >>> normalize("email", "  Ada@Example.COM ")
    'ada@example.com'
    >>> normalize("email", "Straße@Example.DE")
    'straße@example.de'
    """
    violations = subject_violations(namespace, identifier, field=field)
    if violations:
        raise InvalidRequest(violations)
    return NORMALIZERS[namespace](identifier)


def subject_violations(namespace: str, identifier: str, *, field: str) -> list[Violation]:
    """Everything wrong with a subject reference, located under `field`."""
    normalizer = NORMALIZERS.get(namespace)
    if normalizer is None:
        known = ", ".join(sorted(NORMALIZERS))
        return [
            Violation(f"{field}.namespace", f"unknown namespace {namespace!r}; use one of {known}")
        ]
    normalized = normalizer(identifier)
    if not normalized:
        return [Violation(f"{field}.id", "identifier is empty")]
    refused = next((c for c in normalized if unicodedata.category(c) in _REFUSED_CATEGORIES), None)
    if refused is not None:
        return [
            Violation(
                f"{field}.id",
                f"identifier contains U+{ord(refused):04X}, a control or format character;"
                " send the identifier without it",
            )
        ]
    size = len(normalized.encode("utf-8"))
    if size > MAX_IDENTIFIER_BYTES:
        return [
            Violation(f"{field}.id", f"identifier is {size} bytes; at most {MAX_IDENTIFIER_BYTES}")
        ]
    return []


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

    def candidates_of(
        self, subjects: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[str, ...]]:
        """`candidates` of many (namespace, normalized identifier) pairs, all under one
        snapshot of the keys (a batch is pseudonymized consistently, and the keyring
        file is looked at once)."""
        keys = self._keys.snapshot()
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
