"""The identity vault's rows on SQLite, in their own file (vault.db).

Sealing and opening are the domain's (privacy/vault.py); this stores sealed
entries and data keys, and forgets deleted ones physically (`secure_delete`, and
the WAL folded in and emptied after a shred). Copies made before (a backup, a
file-system snapshot) keep them: the vault key epoch ends those
(lifecycle/vault_epoch.py).

The vault key's epochs are in `vault_keys`. One process at a time writes the
file (`BEGIN IMMEDIATE`), so a write that checks there, in its own transaction,
that its vault key version is the newest and live excludes a rotation retiring
that version.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import sqlite_utils

from tactful.privacy.keyring import Keys
from tactful.privacy.vault import (
    EpochRefused,
    IdentityVault,
    Rewrapped,
    SealedEntry,
    SealedKey,
    VaultKeyEpoch,
)
from tactful.storage.sqlite.connection import connect
from tactful.storage.sqlite.errors import translated

_COLUMNS = (
    "(pseudonym, namespace, sealed_identifier, created_at, normalization) VALUES (?, ?, ?, ?, ?)"
)

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


@migrations()
def m003_outdated_normalization_index(db: sqlite_utils.Database) -> None:
    # Every start (and every command) asks whether any entry is under older rules; with
    # this index that is one index probe, not a scan of the whole vault.
    db.execute("CREATE INDEX identities_normalization ON identities (normalization, pseudonym)")


@migrations()
def m004_vault_key_epochs(db: sqlite_utils.Database) -> None:
    # A vault from before this table adopts the versions its data keys are under; the
    # first write under each records its key's fingerprint.
    db.execute(
        "CREATE TABLE vault_keys (version INTEGER PRIMARY KEY, fingerprint TEXT,"
        " created_at TEXT NOT NULL, retired_at TEXT)"
    )
    db.execute(
        "INSERT INTO vault_keys (version, created_at)"
        " SELECT k.key_version, min(i.created_at) FROM data_keys k JOIN identities i"
        " USING (pseudonym) GROUP BY k.key_version"
    )


def open_sqlite_vault(path: Path, keys: Keys, pseudonym_keys: Keys | None = None) -> IdentityVault:
    return IdentityVault(SqliteVaultRows(path), keys, pseudonym_keys)


@translated
class SqliteVaultRows:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._db = connect(path)
        migrations.apply(self._db)
        self._data_version = self._db.execute("PRAGMA data_version").fetchone()[0]

    def changed(self) -> bool:
        # data_version moves only when another connection commits, never for our own.
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        changed, self._data_version = version != self._data_version, version
        return bool(changed)

    def known(self, pseudonyms: Sequence[str]) -> set[str]:
        marks = ",".join("?" * len(pseudonyms))
        rows = self._db.conn.execute(
            f"SELECT pseudonym FROM identities WHERE pseudonym IN ({marks})", list(pseudonyms)
        )
        return {row[0] for row in rows}

    def insert_new(
        self, entries: Sequence[SealedEntry], *, created_at: str, fingerprint: str
    ) -> None:
        with self._db.conn as conn:
            conn.execute("BEGIN IMMEDIATE")
            _check_epoch(conn, entries[0].key_version, fingerprint)
            conn.executemany(
                f"INSERT OR IGNORE INTO identities {_COLUMNS}",
                [(e.pseudonym, e.namespace, e.sealed_identifier, created_at, e.normalization)
                 for e in entries],
            )  # fmt: skip
            conn.executemany(
                "INSERT OR IGNORE INTO data_keys VALUES (?, ?, ?)",
                [(e.pseudonym, e.key_version, e.sealed_key) for e in entries],
            )

    def entry(self, pseudonym: str) -> SealedEntry | None:
        row = self._db.conn.execute(
            "SELECT i.namespace, i.sealed_identifier, k.key_version, k.sealed_key,"
            " i.normalization"
            " FROM identities i JOIN data_keys k USING (pseudonym) WHERE pseudonym = ?",
            [pseudonym],
        ).fetchone()
        if row is None:
            return None
        namespace, sealed_id, version, sealed_key, normalization = row
        return SealedEntry(pseudonym, namespace, sealed_id, version, sealed_key, normalization)

    def delete(self, pseudonyms: Sequence[str]) -> int:
        marks = ",".join("?" * len(pseudonyms))
        with self._db.conn as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(f"DELETE FROM data_keys WHERE pseudonym IN ({marks})", pseudonyms)
            deleted = conn.execute(
                f"DELETE FROM identities WHERE pseudonym IN ({marks})", pseudonyms
            ).rowcount
        # Old page images of the rows live on in the WAL until it is folded in.
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(deleted)

    def replace(self, old: str, entry: SealedEntry, *, created_at: str, fingerprint: str) -> bool:
        with self._db.conn as conn:
            conn.execute("BEGIN IMMEDIATE")
            _check_epoch(conn, entry.key_version, fingerprint)
            first = dict(
                conn.execute(
                    "SELECT pseudonym, created_at FROM identities WHERE pseudonym IN (?, ?)",
                    (old, entry.pseudonym),
                ).fetchall()
            )
            kept_since = min(first.values()) if first else created_at
            joined = old != entry.pseudonym and entry.pseudonym in first
            for table in ("identities", "data_keys"):
                conn.execute(
                    f"DELETE FROM {table} WHERE pseudonym IN (?, ?)", (old, entry.pseudonym)
                )
            conn.execute(
                f"INSERT INTO identities {_COLUMNS}",
                (entry.pseudonym, entry.namespace, entry.sealed_identifier, kept_since,
                 entry.normalization),
            )  # fmt: skip
            conn.execute(
                "INSERT INTO data_keys VALUES (?, ?, ?)",
                (entry.pseudonym, entry.key_version, entry.sealed_key),
            )
        return joined

    def outdated(
        self,
        *,
        primary_prefix: str,
        vault_version: int,
        normalization: int,
        after: str,
        limit: int,
        normalization_only: bool,
    ) -> list[str]:
        if normalization_only:
            # Entries are only ever under the current rules or older ones (lower numbers).
            rows = self._db.execute(
                "SELECT pseudonym FROM identities INDEXED BY identities_normalization"
                " WHERE normalization < ? AND pseudonym > ?"
                " ORDER BY pseudonym LIMIT ?",
                [normalization, after, limit],
            )
            return [row[0] for row in rows]
        rows = self._db.execute(
            "SELECT i.pseudonym FROM identities i JOIN data_keys k USING (pseudonym)"
            " WHERE i.pseudonym > ? AND (substr(i.pseudonym, 1, ?) != ? OR k.key_version != ?"
            " OR i.normalization != ?) ORDER BY i.pseudonym LIMIT ?",
            [after, len(primary_prefix), primary_prefix, vault_version, normalization, limit],
        )
        return [row[0] for row in rows]

    def count_with_pseudonym_prefix(self, prefix: str) -> int:
        row = self._db.execute(
            "SELECT count(*) FROM identities WHERE substr(pseudonym, 1, ?) = ?",
            [len(prefix), prefix],
        ).fetchone()
        return int(row[0])

    def count_sealed_under(self, vault_version: int) -> int:
        row = self._db.execute(
            "SELECT count(*) FROM data_keys WHERE key_version = ?", [vault_version]
        ).fetchone()
        return int(row[0])

    def sealed_versions(self) -> dict[int, int]:
        rows = self._db.execute("SELECT key_version, count(*) FROM data_keys GROUP BY key_version")
        return {int(version): int(count) for version, count in rows}

    def data_keys_not_under(self, vault_version: int, *, after: str, limit: int) -> list[SealedKey]:
        rows = self._db.execute(
            "SELECT pseudonym, key_version, sealed_key FROM data_keys"
            " WHERE key_version != ? AND pseudonym > ? ORDER BY pseudonym LIMIT ?",
            [vault_version, after, limit],
        )
        return [SealedKey(p, int(v), bytes(k)) for p, v, k in rows]

    def rewrap(self, changes: Sequence[Rewrapped]) -> int:
        with self._db.conn as conn:
            conn.execute("BEGIN IMMEDIATE")
            replaced = sum(
                conn.execute(
                    "UPDATE data_keys SET key_version = ?, sealed_key = ?"
                    " WHERE pseudonym = ? AND key_version = ? AND sealed_key = ?",
                    (c.key_version, c.sealed_key, c.old.pseudonym, c.old.key_version,
                     c.old.sealed_key),
                ).rowcount
                for c in changes
            )  # fmt: skip
        return replaced

    def epochs(self) -> list[VaultKeyEpoch]:
        rows = self._db.execute(
            "SELECT version, fingerprint, created_at, retired_at FROM vault_keys ORDER BY version"
        )
        return [VaultKeyEpoch(int(v), f, c, r) for v, f, c, r in rows]

    def register_epoch(self, version: int, fingerprint: str, *, created_at: str) -> VaultKeyEpoch:
        with self._db.conn as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO vault_keys (version, fingerprint, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT (version) DO UPDATE SET fingerprint = excluded.fingerprint"
                " WHERE fingerprint IS NULL",
                (version, fingerprint, created_at),
            )
            row = conn.execute(
                "SELECT fingerprint, created_at, retired_at FROM vault_keys WHERE version = ?",
                (version,),
            ).fetchone()
        return VaultKeyEpoch(version, *row)

    def retire_epoch(self, version: int, fingerprint: str, *, retired_at: str) -> None:
        # BEGIN IMMEDIATE waits for the write in progress, if any; none follows under it.
        with self._db.conn as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO vault_keys (version, fingerprint, created_at, retired_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (version) DO UPDATE"
                " SET retired_at = coalesce(retired_at, excluded.retired_at)",
                (version, fingerprint, retired_at, retired_at),
            )

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[bool]:
        # Processes on one data folder share its file system: a lock file beside it.
        fd = os.open(
            self._path.with_name(self._path.name + ".epoch.lock"),
            os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW,
            0o600,
        )
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    def created_before(self, cutoff: str, *, after: str, limit: int) -> list[str]:
        rows = self._db.execute(
            "SELECT pseudonym FROM identities WHERE created_at < ? AND pseudonym > ?"
            " ORDER BY pseudonym LIMIT ?",
            [cutoff, after, limit],
        )
        return [row[0] for row in rows]

    def close(self) -> None:
        self._db.close()


def _check_epoch(conn: sqlite3.Connection, version: int, fingerprint: str) -> None:
    """EpochRefused unless `version` is the newest vault key version, live, with this
    fingerprint (inside the write's transaction: no rotation retires it meanwhile)."""
    newest = conn.execute(
        "SELECT version, fingerprint, retired_at FROM vault_keys ORDER BY version DESC LIMIT 1"
    ).fetchone()
    if newest != (version, fingerprint, None):
        raise EpochRefused
