"""The identity vault: the only place a raw identifier exists, encrypted.

Each subject gets its own random data key. The identifier is sealed under it
(AES-256-GCM, associated data binding the pseudonym and namespace, so an
entry cannot be moved to another subject), and the data key is sealed under the vault key of
the keyring. Deleting a subject's entry is not enough on its own: its bytes stay
in WAL files, free pages and backups. What destroys them is the end of the vault
key *epoch* that wraps the data key: `tactful.lifecycle.vault_epoch` re-wraps every live
data key under a new vault key version (`rewrap`) and then removes the old
version from the keyring, after which no copy of an erased entry opens.

The vault's database records the vault key's epochs too (`VaultKeyEpoch`: each
version's fingerprint, when it began and when it was retired), so that hosts that
each hold a copy of the keyring agree on them without sharing the file: a data key
is only written under the newest version the database knows, while it is live,
and with the same key material (its fingerprint). The check is part of the
write's own transaction, so a rotation that retires a version in the database
before destroying it in the keyring excludes every writer still sealing under it.
A host whose keyring is behind refuses to seal (`VaultKeyBehind`) rather than
write what no other host could open, or what the next rotation would destroy.

Each entry records the rules its identifier was normalized by
(`tactful.privacy.pseudonym.NORMALIZATION`); entries from older rules are `outdated`,
and `tactful.lifecycle.rekey` moves them like entries under an older key.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from tactful.privacy import _crypto
from tactful.privacy.errors import KeyringError, PrivacyError, StoreUnavailable, VaultError
from tactful.privacy.keyring import Keys, KeySet
from tactful.privacy.pseudonym import NORMALIZATION

_IDENTITY_AD = b"tactful-vault/1:identity:"
_DATA_KEY_AD = b"tactful-vault/1:data-key:"
_FINGERPRINT_LABEL = b"tactful-vault/1:key-fingerprint"
_SEAL_ATTEMPTS = 3  # a refused write is retried after settling the epoch, this often

log = logging.getLogger("tactful.vault")
_T = TypeVar("_T")


class VaultKeyBehind(StoreUnavailable):
    """This host's keyring does not hold the vault key version the vault's database
    writes under now (another host rotated with its own copy of the keyring), or
    holds another key under that number: nothing was written or revealed. Installing
    the current keyring file on this host ends it; no restart is needed."""


class EpochRefused(Exception):
    """Raised by an engine's write: the database does not hold the data keys' vault
    key version as its newest live one with that fingerprint. Nothing was written;
    the vault settles the epoch and seals again, or says why it cannot."""


@functools.lru_cache(maxsize=8)
def key_fingerprint(vault_key: bytes) -> str:
    """What the database records of a vault key version: an HMAC of a fixed label
    under the key (never the key), self-describing like a pseudonym."""
    return "hmac-sha256:" + _crypto.hmac_sha256(vault_key, _FINGERPRINT_LABEL).hex()


@dataclass(frozen=True)
class VaultKeyEpoch:
    """A vault key version as the vault's database records it."""

    version: int
    # None: adopted from the data keys of a vault older than this record; the first
    # host to seal under it records its key's fingerprint.
    fingerprint: str | None
    created_at: str
    retired_at: str | None = None  # from then on no data key is written under it


@dataclass(frozen=True)
class Identity:
    """A subject as the vault knows them: namespace and normalized identifier, and
    the version of the normalization rules that identifier is written in."""

    pseudonym: str
    namespace: str
    identifier: str
    normalization: int = NORMALIZATION


@dataclass(frozen=True)
class SealedEntry:
    """A vault entry as an engine stores it: nothing in it reads without the keyring."""

    pseudonym: str
    namespace: str
    sealed_identifier: bytes
    key_version: int  # the vault key version sealing the data key
    sealed_key: bytes
    normalization: int


@dataclass(frozen=True)
class SealedKey:
    """A subject's data key as stored: sealed under vault key `key_version`."""

    pseudonym: str
    key_version: int
    sealed_key: bytes


@dataclass(frozen=True)
class Rewrapped:
    """The same data key sealed under another vault key version."""

    old: SealedKey
    key_version: int
    sealed_key: bytes


@dataclass(frozen=True)
class RewrapBatch:
    """One chunk of `IdentityVault.rewrap`: how far it got and what it did."""

    last: str  # the last pseudonym looked at ("" when there was none)
    looked_at: int
    rewrapped: int
    unreadable: tuple[str, ...]  # data keys that no live vault key version opens


class VaultRows(Protocol):
    """What an engine keeps of the vault: sealed entries, their first-seen times."""

    def known(self, pseudonyms: Sequence[str]) -> set[str]:
        """Which of `pseudonyms` have an entry."""
        ...

    def insert_new(
        self, entries: Sequence[SealedEntry], *, created_at: str, fingerprint: str
    ) -> None:
        """Store the entries, leaving any that already exist untouched, in one transaction;
        EpochRefused (nothing stored) unless their data keys' vault key version is the
        newest the database knows, live, with this fingerprint. Every entry is sealed
        under the same version."""
        ...

    def entry(self, pseudonym: str) -> SealedEntry | None: ...

    def delete(self, pseudonyms: Sequence[str]) -> int:
        """Delete the entries and data keys, and forget them physically (no old page
        images left behind); how many entries went."""
        ...

    def replace(self, old: str, entry: SealedEntry, *, created_at: str, fingerprint: str) -> bool:
        """`entry` in place of `old` (and of any entry already under entry's pseudonym),
        keeping the earliest first-seen time, in one transaction; True if two entries
        became one. EpochRefused as `insert_new`."""
        ...

    def epochs(self) -> list[VaultKeyEpoch]:
        """The vault key versions the database knows, oldest first."""
        ...

    def register_epoch(self, version: int, fingerprint: str, *, created_at: str) -> VaultKeyEpoch:
        """Record a version (if absent; a missing fingerprint is filled in); the record
        as stored, whose fingerprint may be another's."""
        ...

    def retire_epoch(self, version: int, fingerprint: str, *, retired_at: str) -> None:
        """Mark the version retired (recording it if absent), once every write that may
        still seal under it has committed; no write seals under it afterwards."""
        ...

    def outdated(
        self, *, primary_prefix: str, vault_version: int, normalization: int, after: str,
        limit: int, normalization_only: bool,
    ) -> list[str]: ...  # fmt: skip

    def count_with_pseudonym_prefix(self, prefix: str) -> int: ...

    def count_sealed_under(self, vault_version: int) -> int: ...

    def sealed_versions(self) -> dict[int, int]:
        """How many data keys each vault key version seals."""
        ...

    def data_keys_not_under(self, vault_version: int, *, after: str, limit: int) -> list[SealedKey]:
        """Data keys sealed under another vault key version, in pseudonym order."""
        ...

    def rewrap(self, changes: Sequence[Rewrapped]) -> int:
        """Each data key in place of its old sealing, in one transaction; a key that
        changed or went meanwhile (a rekey, an erasure) is left as it is. How many
        were replaced."""
        ...

    def exclusive(self) -> AbstractContextManager[bool]:
        """While held: True if no other process holds it (on any host sharing the
        rows), for a job of which one must run at a time."""
        ...

    def created_before(self, cutoff: str, *, after: str, limit: int) -> list[str]: ...

    def changed(self) -> bool:
        """Whether another connection changed the entries since the last call."""
        ...

    def close(self) -> None: ...


class IdentityVault:
    """The vault's rules over an engine's rows: how an entry is sealed and opened."""

    def __init__(self, rows: VaultRows, keys: Keys, pseudonym_keys: Keys | None = None) -> None:
        self._rows = rows
        self._keys = keys
        self._pseudonym_keys = pseudonym_keys
        self._known: set[str] = set()
        self._last_refusal = ""  # said in the log once, not once per call
        # The primary vault key (version, fingerprint) the database was last found to
        # accept: checked again (one read) only when the keyring changes or a write
        # is refused; the write's own transaction checks it every time.
        self._settled: tuple[int, str] | None = None

    def remember(self, identities: Iterable[Identity], *, now: datetime) -> int:
        """Store the identities not yet in the vault; returns how many were new."""
        if self._rows.changed():  # another connection shredded or purged
            self._known.clear()
        fresh = {i.pseudonym: i for i in identities if i.pseudonym not in self._known}
        if not fresh:
            return 0
        stored = self._rows.known(list(fresh))
        new = [i for p, i in fresh.items() if p not in stored]
        if new:
            created_at = _utc(now)

            def insert(keys: KeySet) -> None:
                version, vault_key = keys.primary_key()
                self._rows.insert_new(
                    [_seal(i, version, vault_key) for i in new],
                    created_at=created_at,
                    fingerprint=key_fingerprint(vault_key),
                )

            self._sealing(insert, now=now)
        self._known.update(fresh)
        return len(new)

    def _sealing(self, write: Callable[[KeySet], _T], *, now: datetime) -> _T:
        """`write` under the keyring's primary vault key; when the database refuses it
        (its epochs moved on), settle the epoch and write again with the keyring as
        it is then (a rotation on this host: under its new key), or VaultKeyBehind."""
        for _ in range(_SEAL_ATTEMPTS):
            keys = self._keys.snapshot()
            version, vault_key = keys.primary_key()
            settled = (version, key_fingerprint(vault_key))
            if settled != self._settled:  # the first write, or a new keyring
                self._settle_epoch(keys, now=now)
                self._settled = settled
                if self._last_refusal:
                    log.warning("new people are stored again, under vault key v%d", version)
                    self._last_refusal = ""
            try:
                return write(keys)
            except EpochRefused:
                self._settled = None
        raise VaultKeyBehind(
            "the vault's database kept refusing this host's vault key: its epochs"
            " change faster than the writes (a rotation running in a loop?)"
        )

    def _settle_epoch(self, keys: KeySet, *, now: datetime) -> None:
        """VaultKeyBehind if this keyring cannot write here; else the database learns
        this keyring's primary if it lacks it (a newer version than it knows, or a
        fingerprint it lacks)."""
        version, vault_key = keys.primary_key()
        fingerprint = key_fingerprint(vault_key)
        known = {e.version: e for e in self._rows.epochs()}
        problem = _behind(known, version, fingerprint)
        if problem is None and (version not in known or known[version].fingerprint is None):
            registered = self._rows.register_epoch(version, fingerprint, created_at=_utc(now))
            known[version] = registered
            problem = _behind(known, version, fingerprint)
        if problem is not None:
            if problem != self._last_refusal:
                log.warning("new people are not stored: %s", problem)
                self._last_refusal = problem
            raise VaultKeyBehind(problem)

    def reveal(self, pseudonym: str) -> Identity | None:
        """The identity behind a pseudonym, or None if unknown or shredded."""
        entry = self._rows.entry(pseudonym)
        if entry is None:
            return None
        encoded = pseudonym.encode()
        keys = self._keys.snapshot()
        if entry.key_version not in keys.versions:
            raise _not_held(entry.key_version, keys)
        try:
            data_key = _crypto.open_sealed(
                keys.key(entry.key_version),
                entry.sealed_key,
                _data_key_ad(encoded, entry.key_version),
            )
            identifier = _crypto.open_sealed(
                data_key, entry.sealed_identifier, _identity_ad(encoded, entry.namespace)
            )
        except _crypto.SealError:
            raise VaultError(f"vault entry for {pseudonym} does not authenticate") from None
        return Identity(pseudonym, entry.namespace, identifier.decode(), entry.normalization)

    def shred(self, pseudonyms: Sequence[str]) -> int:
        """Destroy the data keys and sealed identifiers of `pseudonyms`; returns how many."""
        shredded = self._rows.delete(pseudonyms)
        self._known.difference_update(pseudonyms)
        return shredded

    def outdated(
        self, *, after: str = "", limit: int = 1000, normalization_only: bool = False
    ) -> list[str]:
        """Pseudonyms of entries normalized by older rules, not under the primary
        pseudonym key, or whose data key is not sealed under the primary vault key
        (with `normalization_only`, just the first), in pseudonym order (for chunked
        rekeys)."""
        prefix = "" if normalization_only else f"hmac-sha256:v{self._pseudonym_primary()}:"
        return self._rows.outdated(
            primary_prefix=prefix,
            vault_version=self._keys.primary,
            normalization=NORMALIZATION,
            after=after,
            limit=limit,
            normalization_only=normalization_only,
        )

    def move(self, old: str, identity: Identity, *, now: datetime) -> bool:
        """Re-seal `old`'s identity under `identity.pseudonym` with a fresh data key
        wrapped by the primary vault key, and drop the old entry, in one transaction.
        True if another entry was already under the new pseudonym: two entries are
        now one (the same identifier written two ways, or recorded meanwhile). A
        rekey is not activity: the entry keeps its first-seen time (the earlier of the
        two, when two entries become one)."""
        created_at = _utc(now)

        def replace(keys: KeySet) -> bool:
            version, vault_key = keys.primary_key()
            return self._rows.replace(
                old,
                _seal(identity, version, vault_key),
                created_at=created_at,
                fingerprint=key_fingerprint(vault_key),
            )

        joined = self._sealing(replace, now=now)
        self._known.discard(old)
        return joined

    def uses(
        self, *, pseudonym_version: int | None = None, vault_version: int | None = None
    ) -> int:
        """Entries still under a pseudonym key version, or sealed under a vault key
        version (before retiring it)."""
        if pseudonym_version is not None:
            return self._rows.count_with_pseudonym_prefix(f"hmac-sha256:v{pseudonym_version}:")
        assert vault_version is not None
        return self._rows.count_sealed_under(vault_version)

    def sealed_versions(self) -> dict[int, int]:
        """How many data keys each vault key version seals."""
        return self._rows.sealed_versions()

    def rewrap(self, *, after: str = "", limit: int = 1000) -> RewrapBatch:
        """Seal the next `limit` data keys not under the primary vault key under it
        (the data key itself, and so the sealed identifier, stay as they are)."""
        keys = self._keys.snapshot()
        version, vault_key = keys.primary_key()
        batch = self._rows.data_keys_not_under(version, after=after, limit=limit)
        changes, unreadable = [], []
        for old in batch:
            encoded = old.pseudonym.encode()
            try:
                data_key = _crypto.open_sealed(
                    keys.key(old.key_version),
                    old.sealed_key,
                    _data_key_ad(encoded, old.key_version),
                )
            except (_crypto.SealError, KeyringError):
                unreadable.append(old.pseudonym)
                continue
            sealed = _crypto.seal(vault_key, data_key, _data_key_ad(encoded, version))
            changes.append(Rewrapped(old, version, sealed))
        rewrapped = self._rows.rewrap(changes) if changes else 0
        last = batch[-1].pseudonym if batch else ""
        return RewrapBatch(last, len(batch), rewrapped, tuple(unreadable))

    def exclusive(self) -> AbstractContextManager[bool]:
        """See `VaultRows.exclusive`."""
        return self._rows.exclusive()

    def epochs(self) -> list[VaultKeyEpoch]:
        """The vault key versions the database knows, oldest first."""
        return self._rows.epochs()

    def register_epoch(self, version: int, fingerprint: str, *, now: datetime) -> VaultKeyEpoch:
        """See `VaultRows.register_epoch`."""
        return self._rows.register_epoch(version, fingerprint, created_at=_utc(now))

    def retire_epoch(self, version: int, fingerprint: str, *, now: datetime) -> None:
        """See `VaultRows.retire_epoch`: after it, no host writes under `version`."""
        self._rows.retire_epoch(version, fingerprint, retired_at=_utc(now))

    def created_before(self, cutoff: datetime, *, after: str = "", limit: int = 5000) -> list[str]:
        """Pseudonyms first seen before `cutoff`, in pseudonym order, for chunked scans."""
        return self._rows.created_before(_utc(cutoff), after=after, limit=limit)

    def _pseudonym_primary(self) -> int:
        if self._pseudonym_keys is None:
            raise VaultError("this vault was opened without the pseudonym keys")
        return self._pseudonym_keys.primary

    def close(self) -> None:
        self._rows.close()


def _seal(identity: Identity, version: int, vault_key: bytes) -> SealedEntry:
    """A fresh data key seals the identifier; the vault key seals the data key."""
    data_key = _crypto.new_key()
    pseudonym = identity.pseudonym.encode()
    sealed_id = _crypto.seal(
        data_key, identity.identifier.encode(), _identity_ad(pseudonym, identity.namespace)
    )
    sealed_key = _crypto.seal(vault_key, data_key, _data_key_ad(pseudonym, version))
    return SealedEntry(
        identity.pseudonym,
        identity.namespace,
        sealed_id,
        version,
        sealed_key,
        identity.normalization,
    )


def _behind(known: dict[int, VaultKeyEpoch], version: int, fingerprint: str) -> str | None:
    """Why a keyring whose primary is `version` must not write in a vault whose
    database knows `known` (None: it may, once the database has its primary)."""
    install = "install the current keyring file on this host"
    newest = max(known, default=0)
    if newest > version:
        return (
            f"this host's keyring is behind the vault's key epochs (v{newest} in the"
            f" database, v{version} here): {install}"
        )
    epoch = known.get(version)
    if epoch is None:
        return None
    if epoch.fingerprint is not None and epoch.fingerprint != fingerprint:
        return (
            f"this host's vault key v{version} is not the one the vault's database knows"
            f" as v{version} (another keyring's): {install}"
        )
    if epoch.retired_at is not None:
        return (
            f"vault key v{version}, this host's primary, was retired at {epoch.retired_at}"
            f" by a rotation on another host: {install}"
        )
    return None


def _not_held(version: int, keys: KeySet) -> PrivacyError:
    newest = max(keys.versions)
    if version > newest:
        return VaultKeyBehind(
            f"this host's keyring is behind the vault's key epochs (v{version} in the"
            f" database, v{newest} here): install the current keyring file on this host"
        )
    return VaultError(
        f"the data key is sealed under vault key v{version}, which this keyring no longer"
        " holds (destroyed at the end of its epoch)"
    )


def _utc(moment: datetime) -> str:
    """The one text form of a time in the vault, so text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _identity_ad(pseudonym: bytes, namespace: str) -> bytes:
    return _IDENTITY_AD + namespace.encode() + b":" + pseudonym


def _data_key_ad(pseudonym: bytes, version: int) -> bytes:
    return _DATA_KEY_AD + f"v{version}:".encode() + pseudonym
