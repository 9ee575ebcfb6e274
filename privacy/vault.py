"""The identity vault: the only place a raw identifier exists, encrypted.

Each subject gets its own random data key. The identifier is sealed under it
(AES-256-GCM, associated data binding the pseudonym and namespace, so an
entry cannot be moved to another subject), and the data key is sealed under the vault key of
the keyring. Destroying a subject's data key makes every copy of the entry
unreadable, backups included (crypto-shredding).

Each entry records the rules its identifier was normalized by
(`privacy.pseudonym.NORMALIZATION`); entries from older rules are `outdated`,
and `retention.rekey` moves them like entries under an older key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import sqlite_utils

from privacy import _crypto
from privacy.errors import VaultError
from privacy.keyring import Keys
from privacy.pseudonym import NORMALIZATION
from privacy.sqlite import connect

_COLUMNS = (
    "(pseudonym, namespace, sealed_identifier, created_at, normalization) VALUES (?, ?, ?, ?, ?)"
)
_IDENTITY_AD = b"tactful-vault/1:identity:"
_DATA_KEY_AD = b"tactful-vault/1:data-key:"


@dataclass(frozen=True)
class Identity:
    """A subject as the vault knows them: namespace and normalized identifier, and
    the version of the normalization rules that identifier is written in."""

    pseudonym: str
    namespace: str
    identifier: str
    normalization: int = NORMALIZATION


class IdentityVault(Protocol):
    def remember(self, identities: Iterable[Identity], *, now: datetime) -> int:
        """Store the identities not yet in the vault; returns how many were new."""
        ...

    def reveal(self, pseudonym: str) -> Identity | None:
        """The identity behind a pseudonym, or None if unknown or shredded."""
        ...

    def shred(self, pseudonyms: Sequence[str]) -> int:
        """Destroy the data keys and sealed identifiers of `pseudonyms`; returns how many."""
        ...


migrations = sqlite_utils.Migrations("tactful.vault")


@migrations()
def m001_identities(db: sqlite_utils.Database) -> None:
    db.table("identities").create(
        {"pseudonym": str, "namespace": str, "sealed_identifier": bytes, "created_at": str},
        pk="pseudonym",
    )
    db.table("data_keys").create(
        {"pseudonym": str, "key_version": int, "sealed_key": bytes}, pk="pseudonym"
    )


@migrations()
def m002_normalization_version(db: sqlite_utils.Database) -> None:
    # Entries written before this column are under the first rules: strip() and
    # casefold(). `outdated` lists them until the rekey machinery has moved them.
    db.execute("ALTER TABLE identities ADD COLUMN normalization INTEGER NOT NULL DEFAULT 1")


class SqliteIdentityVault:
    """Identity vault in its own SQLite file."""

    def __init__(self, path: Path, keys: Keys, pseudonym_keys: Keys | None = None) -> None:
        self._db = connect(path)
        migrations.apply(self._db)
        self._keys = keys
        self._pseudonym_keys = pseudonym_keys
        self._known: set[str] = set()
        self._data_version = self._db.execute("PRAGMA data_version").fetchone()[0]

    def remember(self, identities: Iterable[Identity], *, now: datetime) -> int:
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:  # another connection shredded or purged
            self._data_version = version
            self._known.clear()
        fresh = {i.pseudonym: i for i in identities if i.pseudonym not in self._known}
        if not fresh:
            return 0
        conn = self._db.conn
        marks = ",".join("?" * len(fresh))
        stored = {
            row[0]
            for row in conn.execute(
                f"SELECT pseudonym FROM identities WHERE pseudonym IN ({marks})", list(fresh)
            )
        }
        new = [i for p, i in fresh.items() if p not in stored]
        version, vault_key = self._keys.primary_key()
        rows, keys = [], []
        for identity in new:
            data_key = _crypto.new_key()
            pseudonym = identity.pseudonym.encode()
            sealed_id = _crypto.seal(
                data_key, identity.identifier.encode(), _identity_ad(pseudonym, identity.namespace)
            )
            sealed_key = _crypto.seal(vault_key, data_key, _data_key_ad(pseudonym, version))
            rows.append(
                (
                    identity.pseudonym,
                    identity.namespace,
                    sealed_id,
                    _utc(now),
                    identity.normalization,
                )
            )
            keys.append((identity.pseudonym, version, sealed_key))
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(f"INSERT OR IGNORE INTO identities {_COLUMNS}", rows)
            conn.executemany("INSERT OR IGNORE INTO data_keys VALUES (?, ?, ?)", keys)
        self._known.update(fresh)
        return len(new)

    def reveal(self, pseudonym: str) -> Identity | None:
        row = self._db.conn.execute(
            "SELECT i.namespace, i.sealed_identifier, k.key_version, k.sealed_key,"
            " i.normalization"
            " FROM identities i JOIN data_keys k USING (pseudonym) WHERE pseudonym = ?",
            [pseudonym],
        ).fetchone()
        if row is None:
            return None
        namespace, sealed_id, version, sealed_key, normalization = row
        encoded = pseudonym.encode()
        try:
            data_key = _crypto.open_sealed(
                self._keys.key(version), sealed_key, _data_key_ad(encoded, version)
            )
            identifier = _crypto.open_sealed(data_key, sealed_id, _identity_ad(encoded, namespace))
        except _crypto.SealError:
            raise VaultError(f"vault entry for {pseudonym} does not authenticate") from None
        return Identity(pseudonym, namespace, identifier.decode(), normalization)

    def shred(self, pseudonyms: Sequence[str]) -> int:
        marks = ",".join("?" * len(pseudonyms))
        with self._db.conn as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(f"DELETE FROM data_keys WHERE pseudonym IN ({marks})", pseudonyms)
            shredded = conn.execute(
                f"DELETE FROM identities WHERE pseudonym IN ({marks})", pseudonyms
            ).rowcount
        self._known.difference_update(pseudonyms)
        # Old page images of the rows live on in the WAL until it is folded in.
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(shredded)

    def outdated(
        self, *, after: str = "", limit: int = 1000, normalization_only: bool = False
    ) -> list[str]:
        """Pseudonyms of entries normalized by older rules, not under the primary
        pseudonym key, or whose data key is not sealed under the primary vault key
        (with `normalization_only`, just the first), in pseudonym order (for chunked
        rekeys)."""
        if normalization_only:
            rows = self._db.execute(
                "SELECT pseudonym FROM identities WHERE pseudonym > ? AND normalization != ?"
                " ORDER BY pseudonym LIMIT ?",
                [after, NORMALIZATION, limit],
            )
            return [row[0] for row in rows]
        primary_prefix = f"hmac-sha256:v{self._pseudonym_primary()}:"
        rows = self._db.execute(
            "SELECT i.pseudonym FROM identities i JOIN data_keys k USING (pseudonym)"
            " WHERE i.pseudonym > ? AND (substr(i.pseudonym, 1, ?) != ? OR k.key_version != ?"
            " OR i.normalization != ?) ORDER BY i.pseudonym LIMIT ?",
            [
                after,
                len(primary_prefix),
                primary_prefix,
                self._keys.primary,
                NORMALIZATION,
                limit,
            ],
        )
        return [row[0] for row in rows]

    def move(self, old: str, identity: Identity, *, now: datetime) -> bool:
        """Re-seal `old`'s identity under `identity.pseudonym` with a fresh data key
        wrapped by the primary vault key, and drop the old entry, in one transaction.
        True if another entry was already under the new pseudonym: two entries are
        now one (the same identifier written two ways, or recorded meanwhile)."""
        version, vault_key = self._keys.primary_key()
        data_key = _crypto.new_key()
        pseudonym = identity.pseudonym.encode()
        sealed_id = _crypto.seal(
            data_key, identity.identifier.encode(), _identity_ad(pseudonym, identity.namespace)
        )
        sealed_key = _crypto.seal(vault_key, data_key, _data_key_ad(pseudonym, version))
        with self._db.conn as conn:
            conn.execute("BEGIN IMMEDIATE")
            # A rekey is not activity: the entry keeps its first-seen time (the
            # earlier of the two, when two entries become one).
            first = dict(
                conn.execute(
                    "SELECT pseudonym, created_at FROM identities WHERE pseudonym IN (?, ?)",
                    (old, identity.pseudonym),
                ).fetchall()
            )
            created_at = min(first.values()) if first else _utc(now)
            joined = old != identity.pseudonym and identity.pseudonym in first
            for table in ("identities", "data_keys"):
                conn.execute(
                    f"DELETE FROM {table} WHERE pseudonym IN (?, ?)", (old, identity.pseudonym)
                )
            conn.execute(
                f"INSERT INTO identities {_COLUMNS}",
                (
                    identity.pseudonym,
                    identity.namespace,
                    sealed_id,
                    created_at,
                    identity.normalization,
                ),
            )
            conn.execute(
                "INSERT INTO data_keys VALUES (?, ?, ?)", (identity.pseudonym, version, sealed_key)
            )
        self._known.discard(old)
        return joined

    def uses(
        self, *, pseudonym_version: int | None = None, vault_version: int | None = None
    ) -> int:
        """Entries still under a pseudonym key version, or sealed under a vault key
        version (before retiring it)."""
        if pseudonym_version is not None:
            prefix = f"hmac-sha256:v{pseudonym_version}:"
            row = self._db.execute(
                "SELECT count(*) FROM identities WHERE substr(pseudonym, 1, ?) = ?",
                [len(prefix), prefix],
            ).fetchone()
        else:
            row = self._db.execute(
                "SELECT count(*) FROM data_keys WHERE key_version = ?", [vault_version]
            ).fetchone()
        return int(row[0])

    def created_before(self, cutoff: datetime, *, after: str = "", limit: int = 5000) -> list[str]:
        """Pseudonyms first seen before `cutoff`, in pseudonym order, for chunked scans."""
        rows = self._db.execute(
            "SELECT pseudonym FROM identities WHERE created_at < ? AND pseudonym > ?"
            " ORDER BY pseudonym LIMIT ?",
            [_utc(cutoff), after, limit],
        )
        return [row[0] for row in rows]

    def _pseudonym_primary(self) -> int:
        if self._pseudonym_keys is None:
            raise VaultError("this vault was opened without the pseudonym keys")
        return self._pseudonym_keys.primary

    def close(self) -> None:
        self._db.close()


def _utc(moment: datetime) -> str:
    """The one text form of a time in the vault, so text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _identity_ad(pseudonym: bytes, namespace: str) -> bytes:
    return _IDENTITY_AD + namespace.encode() + b":" + pseudonym


def _data_key_ad(pseudonym: bytes, version: int) -> bytes:
    return _DATA_KEY_AD + f"v{version}:".encode() + pseudonym
