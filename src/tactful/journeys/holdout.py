"""Holdouts: who is held out of a journey's personalization, and so gets the
playbook's baseline action (what the product did before).

A person's place is a keyed hash, so it is the same on every server and after every
restart, and nobody without the keyring can predict it:

    u = HMAC-SHA256(holdout key, "tactful-holdout/1" NUL scope NUL subject) → [0, 1)

where `subject` is the namespace and the identifier as the pseudonymizer normalizes
it (privacy/pseudonym.py), not the pseudonym: a pseudonym changes with each pseudonym
key version, the normalized identifier does not, so rotating the pseudonym key moves
nobody. The holdout key itself is never rotated (privacy/keyring.py).

The global holdout is looked at first, with one number per person (scope "global"):
a person below the global share is held out of every journey. Then the journey's own,
with a number of its own per journey (scope "journey:NAME"), independent of the global
one and of other journeys'.
"""

from __future__ import annotations

from enum import StrEnum

from tactful.privacy import _crypto
from tactful.privacy.contract import Contract
from tactful.privacy.keyring import Keys

DOMAIN = b"tactful-holdout/1"
_BITS = 53  # a float holds 53 bits exactly: the number is never rounded up to 1


class Arm(StrEnum):
    """Which arm a decision was made in: what the scorecard compares."""

    TREATMENT = "treatment"  # personalized: the playbook's ladder decided
    JOURNEY_HOLDOUT = "journey_holdout"  # held out of this journey: its baseline
    GLOBAL_HOLDOUT = "global_holdout"  # held out of every journey: each one's baseline


def subject_key(namespace: str, normalized: str) -> bytes:
    """What is hashed for a person: the namespace and the normalized identifier."""
    # Namespaces are a fixed set of NUL-free names, so the separator is unambiguous.
    return namespace.encode("ascii") + b"\x00" + normalized.encode("utf-8")


def draw(key: bytes, subject: bytes, scope: str) -> float:
    """The person's uniform number in [0, 1) for `scope` ("global" or "journey:NAME")."""
    message = DOMAIN + b"\x00" + scope.encode("utf-8") + b"\x00" + subject
    digest = _crypto.hmac_sha256(key, message)
    return (int.from_bytes(digest[:8], "big") >> (64 - _BITS)) / (1 << _BITS)


def assign(
    key: bytes, subject: bytes, journey: str, journey_share: float, global_share: float
) -> Arm:
    """The person's arm on `journey`: global holdout first, then the journey's own."""
    if global_share > 0 and draw(key, subject, "global") < global_share:
        return Arm.GLOBAL_HOLDOUT
    if journey_share > 0 and draw(key, subject, f"journey:{journey}") < journey_share:
        return Arm.JOURNEY_HOLDOUT
    return Arm.TREATMENT


class Holdouts:
    """The contract's holdout shares under the keyring's holdout key: a person's arm on
    a journey. With no share above 0, everyone is in treatment and the key is not read."""

    def __init__(self, contract: Contract, keys: Keys) -> None:
        self._global = contract.holdout
        self._shares = {name: spec.holdout for name, spec in contract.journeys.items()}
        self._keys = keys

    def holds_out(self, journey: str) -> bool:
        """Whether anyone may be held out of `journey` (its share or the global one)."""
        return self._shares.get(journey, 0.0) > 0 or self._global > 0

    def arm(self, journey: str, namespace: str, normalized: str) -> Arm:
        if not self.holds_out(journey):
            return Arm.TREATMENT
        share = self._shares.get(journey, 0.0)
        _, key = self._keys.snapshot().primary_key()
        return assign(key, subject_key(namespace, normalized), journey, share, self._global)
