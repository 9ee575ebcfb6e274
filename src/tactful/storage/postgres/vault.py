"""The identity vault's rows on PostgreSQL, in the vault's own database (`vault_url`).

Sealing and opening are the domain's (privacy/vault.py); this stores sealed
entries and data keys. Many servers share the rows:

- two servers remembering the same new pseudonym at once: `ON CONFLICT DO NOTHING`
  keeps the first entry whole (identifier and data key are written together, and
  the data key row is only written for an identity row this transaction inserted);
- a replace (rekey) and a delete (erasure) of the same entry: both lock the rows
  they touch first (`SELECT … FOR UPDATE`, in pseudonym order, so two writers
  cannot deadlock), so one waits for the other, and a replace whose old entry is
  gone by then writes nothing: an erasure is never undone by a rekey that read the
  entry before it went;
- every delete and replace bumps a change counter in the same transaction, which
  `changed()` reads (one primary-key probe per ingest) so that a server's cache of
  known pseudonyms forgets what another server shredded.

What "forgotten" means here: PostgreSQL has no `secure_delete`. A deleted row stays
as a dead tuple in the table's pages until VACUUM reclaims it (`delete` runs
`VACUUM` on both tables after an erasure, so the pages of this database are
cleaned at once), and its before-image stays in the WAL until the WAL segment is
recycled, on every streaming replica, and in every base backup and WAL archive
until they expire. That is why erasure is crypto-shredding: the sealed identifier
is unreadable without its data key, the data key is unreadable without the vault
key (in the keyring, never in the database), and the vault key version that sealed
an erased data key is destroyed at the end of its epoch (lifecycle/vault_epoch.py),
after which no copy, in any page, WAL segment or backup, opens. One server at a
time runs that rotation (`exclusive`, a session advisory lock).

The vault key's epochs are in `vault_key_epochs`, so that hosts holding a copy of
the keyring each agree on them. A write of data keys takes a shared transaction
advisory lock (`EPOCH_WRITE_LOCK`) in its first statement, and its data key insert
(a later statement, so a later snapshot under READ COMMITTED) only inserts if
its version is the newest known, live, with the same fingerprint. A rotation
retiring a version takes that lock exclusively: it waits for every write in
progress to commit (so its next pass sees their data keys), and every write after
it sees the version retired. No row is locked, and no statement is added to the
write.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg

from tactful.privacy.keyring import Keys
from tactful.privacy.vault import (
    EpochRefused,
    IdentityVault,
    Rewrapped,
    SealedEntry,
    SealedKey,
    VaultKeyEpoch,
)
from tactful.storage.postgres.connection import Connection, Database
from tactful.storage.postgres.errors import map_postgres_errors, translated
from tactful.storage.postgres.schema import Schema

IDENTITIES = "vault_identities"
DATA_KEYS = "vault_data_keys"
CHANGES = "vault_changes"
EPOCHS = "vault_key_epochs"
EPOCH_LOCK = 0x7AC7F0_0201  # session advisory lock: the process rotating the vault key
# Transaction advisory lock: shared by every write of data keys, exclusive while a
# rotation retires a version.
EPOCH_WRITE_LOCK = 0x7AC7F0_0202
# The condition a write of data keys under version %s with fingerprint %s inserts on.
_LIVE_EPOCH = (
    f"EXISTS (SELECT 1 FROM {EPOCHS} e WHERE e.version = %s AND e.fingerprint = %s"
    f" AND e.retired_at IS NULL AND e.version = (SELECT max(version) FROM {EPOCHS}))"
)


def _create(conn: Connection) -> None:
    conn.execute(
        f"CREATE TABLE {IDENTITIES} (pseudonym text PRIMARY KEY, namespace text NOT NULL,"
        " sealed_identifier bytea NOT NULL, created_at text NOT NULL,"
        " normalization integer NOT NULL DEFAULT 1)"
    )
    conn.execute(
        f"CREATE TABLE {DATA_KEYS} (pseudonym text PRIMARY KEY REFERENCES {IDENTITIES}"
        " ON DELETE CASCADE, key_version integer NOT NULL, sealed_key bytea NOT NULL)"
    )
    # Every start asks whether any entry is under older rules: one index probe.
    conn.execute(
        f"CREATE INDEX vault_identities_normalization ON {IDENTITIES} (normalization, pseudonym)"
    )
    conn.execute(f"CREATE INDEX vault_data_keys_version ON {DATA_KEYS} (key_version)")
    # One row: bumped by every delete and replace, read by changed().
    conn.execute(
        f"CREATE TABLE {CHANGES} (id integer PRIMARY KEY CHECK (id = 1), counter bigint NOT NULL)"
    )
    conn.execute(f"INSERT INTO {CHANGES} VALUES (1, 0)")


def _add_key_epochs(conn: Connection) -> None:
    conn.execute(
        f"CREATE TABLE {EPOCHS} (version integer PRIMARY KEY, fingerprint text,"
        " created_at text NOT NULL, retired_at text)"
    )
    # A vault from before this table adopts the versions its data keys are under; the
    # first write under each records its key's fingerprint.
    conn.execute(
        f"INSERT INTO {EPOCHS} (version, created_at) SELECT k.key_version, min(i.created_at)"
        f" FROM {DATA_KEYS} k JOIN {IDENTITIES} i USING (pseudonym) GROUP BY k.key_version"
    )


log = logging.getLogger("tactful.storage")

SCHEMA = Schema(
    "vault", [_create, _add_key_epochs], tables=(IDENTITIES, DATA_KEYS, CHANGES, EPOCHS)
)


def open_postgres_vault(
    db: Database, vault_keys: Keys, pseudonym_keys: Keys | None = None
) -> IdentityVault:
    """The vault over `db` (which it owns and closes)."""
    return IdentityVault(PostgresVaultRows(db), vault_keys, pseudonym_keys)


@translated
class PostgresVaultRows:
    def __init__(self, db: Database, *, vacuum_after_delete: bool = True) -> None:
        self._db = db
        self._vacuum = vacuum_after_delete and self._may_vacuum()
        self._seen = self._counter()

    def _may_vacuum(self) -> bool:
        """Whether this role may VACUUM the vault's tables (only their owner may:
        PostgreSQL skips the others with a mere warning). Said once, in the log, if not."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT coalesce(bool_and(pg_has_role(current_user, tableowner, 'USAGE')),"
                " false) OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),"
                " string_agg(DISTINCT tableowner, ', '), current_user"
                " FROM pg_tables WHERE tablename = ANY(%s)",
                [[DATA_KEYS, IDENTITIES]],
            ).fetchone()
        assert row is not None
        may, owners, user = row
        if not may:
            log.warning(
                "the vault's tables belong to %s, not to %s: an erasure cannot VACUUM them,"
                " so an erased entry's dead tuple stays in their pages until autovacuum"
                " reuses it; give the vault a database and role of its own (tactful db roles)",
                owners,
                user,
            )
        return bool(may)

    def changed(self) -> bool:
        counter = self._counter()
        changed, self._seen = counter != self._seen, counter
        return changed

    def known(self, pseudonyms: Sequence[str]) -> set[str]:
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT pseudonym FROM {IDENTITIES} WHERE pseudonym = ANY(%s)", [list(pseudonyms)]
            ).fetchall()
        return {row[0] for row in rows}

    def insert_new(
        self, entries: Sequence[SealedEntry], *, created_at: str, fingerprint: str
    ) -> None:
        with self._db.transaction() as conn:
            # Only the entries this transaction inserted get a data key: a racing
            # server's entry (and its data key) is left whole. The epoch lock is taken
            # here (a one-time filter of the statement), so the data key insert's
            # snapshot is taken after it.
            inserted = conn.execute(
                f"INSERT INTO {IDENTITIES} (pseudonym, namespace, sealed_identifier,"
                " created_at, normalization)"
                " SELECT * FROM unnest(%s::text[], %s::text[], %s::bytea[], %s::text[],"
                " %s::integer[]) WHERE pg_advisory_xact_lock_shared(%s)::text = ''"
                " ON CONFLICT (pseudonym) DO NOTHING RETURNING pseudonym",
                [
                    [e.pseudonym for e in entries],
                    [e.namespace for e in entries],
                    [e.sealed_identifier for e in entries],
                    [created_at] * len(entries),
                    [e.normalization for e in entries],
                    EPOCH_WRITE_LOCK,
                ],
            ).fetchall()
            mine = {row[0] for row in inserted}
            keys = [e for e in entries if e.pseudonym in mine]
            if keys:
                stored = conn.execute(
                    f"INSERT INTO {DATA_KEYS} (pseudonym, key_version, sealed_key)"
                    " SELECT * FROM unnest(%s::text[], %s::integer[], %s::bytea[])"
                    f" WHERE {_LIVE_EPOCH}",
                    [
                        [e.pseudonym for e in keys],
                        [e.key_version for e in keys],
                        [e.sealed_key for e in keys],
                        keys[0].key_version,
                        fingerprint,
                    ],
                ).rowcount
                if stored != len(keys):
                    raise EpochRefused  # and the identities inserted are rolled back

    def entry(self, pseudonym: str) -> SealedEntry | None:
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT i.namespace, i.sealed_identifier, k.key_version, k.sealed_key,"
                f" i.normalization FROM {IDENTITIES} i JOIN {DATA_KEYS} k USING (pseudonym)"
                " WHERE pseudonym = %s",
                [pseudonym],
            ).fetchone()
        if row is None:
            return None
        namespace, sealed_id, version, sealed_key, normalization = row
        return SealedEntry(
            pseudonym, namespace, bytes(sealed_id), version, bytes(sealed_key), normalization
        )

    def delete(self, pseudonyms: Sequence[str]) -> int:
        with self._db.transaction() as conn:
            _lock(conn, pseudonyms)
            conn.execute(f"DELETE FROM {DATA_KEYS} WHERE pseudonym = ANY(%s)", [list(pseudonyms)])
            deleted = conn.execute(
                f"DELETE FROM {IDENTITIES} WHERE pseudonym = ANY(%s)", [list(pseudonyms)]
            ).rowcount
            self._bump(conn)
        if deleted and self._vacuum:
            self._vacuum_tables()
        return deleted

    def replace(self, old: str, entry: SealedEntry, *, created_at: str, fingerprint: str) -> bool:
        with self._db.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", [EPOCH_WRITE_LOCK])
            _lock(conn, [old, entry.pseudonym])
            first = dict(
                conn.execute(
                    f"SELECT pseudonym, created_at FROM {IDENTITIES} WHERE pseudonym = ANY(%s)",
                    [[old, entry.pseudonym]],
                ).fetchall()
            )
            if old not in first:  # erased meanwhile: the erasure wins, nothing comes back
                return False
            kept_since = min(first.values())
            joined = old != entry.pseudonym and entry.pseudonym in first
            conn.execute(
                f"DELETE FROM {IDENTITIES} WHERE pseudonym = ANY(%s)", [[old, entry.pseudonym]]
            )  # and, by cascade, their data keys
            conn.execute(
                f"INSERT INTO {IDENTITIES} (pseudonym, namespace, sealed_identifier,"
                " created_at, normalization) VALUES (%s, %s, %s, %s, %s)",
                [entry.pseudonym, entry.namespace, entry.sealed_identifier, kept_since,
                 entry.normalization],
            )  # fmt: skip
            stored = conn.execute(
                f"INSERT INTO {DATA_KEYS} (pseudonym, key_version, sealed_key)"
                f" SELECT %s, %s, %s WHERE {_LIVE_EPOCH}",
                [entry.pseudonym, entry.key_version, entry.sealed_key, entry.key_version,
                 fingerprint],
            ).rowcount  # fmt: skip
            if stored != 1:
                raise EpochRefused  # and the whole replacement is rolled back
            self._bump(conn)
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
            return self._pseudonyms(
                f"SELECT pseudonym FROM {IDENTITIES} WHERE normalization < %s"
                " AND pseudonym > %s ORDER BY pseudonym LIMIT %s",
                [normalization, after, limit],
            )
        return self._pseudonyms(
            f"SELECT i.pseudonym FROM {IDENTITIES} i JOIN {DATA_KEYS} k USING (pseudonym)"
            " WHERE i.pseudonym > %s AND (left(i.pseudonym, %s) != %s OR k.key_version != %s"
            " OR i.normalization != %s) ORDER BY i.pseudonym LIMIT %s",
            [after, len(primary_prefix), primary_prefix, vault_version, normalization, limit],
        )

    def count_with_pseudonym_prefix(self, prefix: str) -> int:
        return self._count(
            f"SELECT count(*) FROM {IDENTITIES} WHERE left(pseudonym, %s) = %s",
            [len(prefix), prefix],
        )

    def count_sealed_under(self, vault_version: int) -> int:
        return self._count(
            f"SELECT count(*) FROM {DATA_KEYS} WHERE key_version = %s", [vault_version]
        )

    def sealed_versions(self) -> dict[int, int]:
        with self._db.transaction() as conn:
            rows = conn.execute(
                f"SELECT key_version, count(*) FROM {DATA_KEYS} GROUP BY key_version"
            ).fetchall()
        return {int(version): int(count) for version, count in rows}

    def data_keys_not_under(self, vault_version: int, *, after: str, limit: int) -> list[SealedKey]:
        with self._db.transaction() as conn:
            rows = conn.execute(
                f"SELECT pseudonym, key_version, sealed_key FROM {DATA_KEYS}"
                " WHERE key_version != %s AND pseudonym > %s ORDER BY pseudonym LIMIT %s",
                [vault_version, after, limit],
            ).fetchall()
        return [SealedKey(p, int(v), bytes(k)) for p, v, k in rows]

    def rewrap(self, changes: Sequence[Rewrapped]) -> int:
        with self._db.transaction() as conn:
            # The same row locks as delete and replace, in the same order: no deadlock.
            _lock(conn, [c.old.pseudonym for c in changes])
            replaced = conn.execute(
                f"UPDATE {DATA_KEYS} k SET key_version = c.new_version, sealed_key = c.new_key"
                " FROM unnest(%s::text[], %s::integer[], %s::bytea[], %s::integer[],"
                " %s::bytea[]) AS c(pseudonym, old_version, old_key, new_version, new_key)"
                " WHERE k.pseudonym = c.pseudonym AND k.key_version = c.old_version"
                " AND k.sealed_key = c.old_key",
                [
                    [c.old.pseudonym for c in changes],
                    [c.old.key_version for c in changes],
                    [c.old.sealed_key for c in changes],
                    [c.key_version for c in changes],
                    [c.sealed_key for c in changes],
                ],
            ).rowcount
        return replaced

    def epochs(self) -> list[VaultKeyEpoch]:
        with self._db.transaction() as conn:
            rows = conn.execute(
                f"SELECT version, fingerprint, created_at, retired_at FROM {EPOCHS}"
                " ORDER BY version"
            ).fetchall()
        return [VaultKeyEpoch(int(v), f, c, r) for v, f, c, r in rows]

    def register_epoch(self, version: int, fingerprint: str, *, created_at: str) -> VaultKeyEpoch:
        with self._db.transaction() as conn:
            conn.execute(
                f"INSERT INTO {EPOCHS} AS e (version, fingerprint, created_at)"
                " VALUES (%s, %s, %s) ON CONFLICT (version) DO UPDATE"
                " SET fingerprint = excluded.fingerprint WHERE e.fingerprint IS NULL",
                [version, fingerprint, created_at],
            )
            row = conn.execute(
                f"SELECT fingerprint, created_at, retired_at FROM {EPOCHS} WHERE version = %s",
                [version],
            ).fetchone()
        assert row is not None
        return VaultKeyEpoch(version, *row)

    def retire_epoch(self, version: int, fingerprint: str, *, retired_at: str) -> None:
        with self._db.transaction() as conn:
            # Waits for every write holding the lock shared (they commit first), and
            # holds off the next ones until this commits: they see the version retired.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [EPOCH_WRITE_LOCK])
            conn.execute(
                f"INSERT INTO {EPOCHS} AS e (version, fingerprint, created_at, retired_at)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (version) DO UPDATE"
                " SET retired_at = coalesce(e.retired_at, excluded.retired_at)",
                [version, fingerprint, retired_at, retired_at],
            )

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[bool]:
        # A session lock on a connection of its own, held for the job (not one of the
        # pool's, which the job needs): released when it closes, or if it dies.
        with map_postgres_errors():
            conn = psycopg.connect(self._db.url, autocommit=True, application_name="tactful")
        with conn:
            with map_postgres_errors():
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", [EPOCH_LOCK]).fetchone()
            yield bool(row and row[0])

    def created_before(self, cutoff: str, *, after: str, limit: int) -> list[str]:
        return self._pseudonyms(
            f"SELECT pseudonym FROM {IDENTITIES} WHERE created_at < %s AND pseudonym > %s"
            " ORDER BY pseudonym LIMIT %s",
            [cutoff, after, limit],
        )

    def close(self) -> None:
        self._db.close()

    def _counter(self) -> int:
        with self._db.read() as conn:
            row = conn.execute(f"SELECT counter FROM {CHANGES} WHERE id = 1").fetchone()
        return int(row[0]) if row else 0

    def _bump(self, conn: Connection) -> None:
        row = conn.execute(
            f"UPDATE {CHANGES} SET counter = counter + 1 WHERE id = 1 RETURNING counter"
        ).fetchone()
        assert row is not None
        # Our own change is no news to our own cache (the domain updates it), unless
        # another connection's change came in between.
        if int(row[0]) == self._seen + 1:
            self._seen = int(row[0])

    def _vacuum_tables(self) -> None:
        # The dead tuples of the deleted rows, gone from this database's pages now
        # rather than at the next autovacuum (not from WAL, replicas or backups).
        with self._db.autocommit() as conn:
            conn.execute(f"VACUUM {DATA_KEYS}, {IDENTITIES}")

    def _pseudonyms(self, sql: str, params: list[Any]) -> list[str]:
        with self._db.transaction() as conn:
            return [row[0] for row in conn.execute(sql, params)]

    def _count(self, sql: str, params: list[Any]) -> int:
        with self._db.transaction() as conn:
            row = conn.execute(sql, params).fetchone()
        return int(row[0]) if row else 0


def _lock(conn: Connection, pseudonyms: Sequence[str]) -> None:
    """Row locks on the entries, in pseudonym order (two writers never deadlock)."""
    conn.execute(
        f"SELECT pseudonym FROM {IDENTITIES} WHERE pseudonym = ANY(%s)"
        " ORDER BY pseudonym FOR UPDATE",
        [sorted(set(pseudonyms))],
    )
