"""Suppression: keyed tombstones of erased people who asked not to be collected again.

A tombstone is HMAC-SHA256, under the keyring's ``suppression`` key, of the
namespace and the normalized identifier, written so it describes itself:

    hmac-sha256:suppression-v1:5f1c…   (64 hex digits)

It names nobody without the keyring. It is not a pseudonym: the person is erased,
so no rekey can ever move it to a new key, and a pseudonym key rotation or
retirement must not touch it. The suppression key is therefore never rotated and
its versions are never retired (privacy/keyring.py); every version is checked.

Tombstones from before this key use were the person's pseudonym
(``hmac-sha256:v1:…``), which dies with pseudonym key v1. While that key is
still in the keyring, `migrate_legacy_tombstones` copies it into the suppression
key set (``copied_from: pseudonym v1``) and renames each such tombstone to that
suppression version: the same HMAC, checked from then on like any other, so
retiring pseudonym v1 does not let the person back in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol

from tactful.privacy import _crypto
from tactful.privacy.errors import KeyringError
from tactful.privacy.keyring import Keys, KeySet, adopt_pseudonym_key

ALGORITHM = "hmac-sha256"
_LEGACY = re.compile(rf"{ALGORITHM}:v([1-9][0-9]*):([0-9a-f]{{64}})")


class Tombstones:
    """Computes tombstones: the primary suppression key writes, every version checks."""

    def __init__(self, keys: Keys) -> None:
        self._keys = keys

    def tombstone(self, namespace: str, normalized: str) -> str:
        """The tombstone to record for an already normalized identifier."""
        version, key = self._keys.snapshot().primary_key()
        return _tombstone(key, version, namespace, normalized)

    def keys(self) -> KeySet:
        """The suppression key versions as they are now."""
        return self._keys.snapshot()

    def candidates_of(
        self, subjects: Iterable[tuple[str, str]], *, keys: KeySet | None = None
    ) -> dict[tuple[str, str], tuple[str, ...]]:
        """Each (namespace, normalized identifier)'s tombstone under every suppression
        key version, all under one snapshot of the keys (for checks): `keys`, or the
        current one."""
        keys = self._keys.snapshot() if keys is None else keys
        live = [(v, keys.key(v)) for v in keys.live_versions()]
        return {
            (namespace, normalized): tuple(
                _tombstone(key, v, namespace, normalized) for v, key in live
            )
            for namespace, normalized in subjects
        }

    def candidates(self, namespace: str, normalized: str) -> tuple[str, ...]:
        return self.candidates_of([(namespace, normalized)])[(namespace, normalized)]


def _tombstone(key: bytes, version: int, namespace: str, normalized: str) -> str:
    # The same message as a pseudonym's (privacy/pseudonym.py): a suppression version
    # copied from a pseudonym key then reproduces the tombstones made with it.
    message = namespace.encode("ascii") + b"\x00" + normalized.encode("utf-8")
    return f"{ALGORITHM}:suppression-v{version}:{_crypto.hmac_sha256(key, message).hex()}"


class LegacyTombstoneStore(Protocol):
    def legacy_tombstones(self) -> list[str]:
        """Tombstones recorded as the person's pseudonym, before the suppression key."""
        ...

    def rename_legacy_tombstones(self, renamed: Sequence[tuple[str, str]]) -> None:
        """Each (legacy tombstone, new tombstone): the new one recorded with the old's
        time, the old one gone, in one transaction."""
        ...


def migrate_legacy_tombstones(
    keyring_path: Path, store: LegacyTombstoneStore, *, now: datetime
) -> tuple[int, int]:
    """Move every legacy tombstone under a suppression key version copied from the
    pseudonym key that made it. Returns (moved, left): those left were made with a
    pseudonym key already gone from the keyring, and can no longer match anyone."""
    legacy = store.legacy_tombstones()
    adopted: dict[int, int | None] = {}
    renamed = []
    for old in legacy:
        match = _LEGACY.fullmatch(old)
        if match is None:
            continue
        version = int(match[1])
        if version not in adopted:
            try:
                adopted[version] = adopt_pseudonym_key(keyring_path, version, now=now)
            except KeyringError:
                adopted[version] = None
        if adopted[version] is not None:
            renamed.append((old, f"{ALGORITHM}:suppression-v{adopted[version]}:{match[2]}"))
    if renamed:
        store.rename_legacy_tombstones(renamed)
    return len(renamed), len(legacy) - len(renamed)
