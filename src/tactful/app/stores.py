"""The one place a storage engine is chosen and opened from Settings.

It lives in the server (the composition root's side) because it reads Settings;
the engines know nothing of the config file. `[storage] url` empty: the embedded
SQLite engine (storage/sqlite/), files in the data folder. A postgresql:// URL:
the PostgreSQL engine (storage/postgres/) for every store, the vault on
`vault_url` when set. The PostgreSQL driver is imported only then: it is an
optional extra (`pip install 'tactful[postgres]'`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from tactful.app.settings import ConfigError, Settings
from tactful.app.tokens import TokenStore
from tactful.lifecycle.rekey import RekeyableBehavior
from tactful.lifecycle.retention import ExpiringBehavior
from tactful.lifecycle.subject_requests import ErasureOutbox, SubjectBehavior
from tactful.privacy.access_log import (
    AccessEntry,
    AccessQuery,
    AccessRecord,
    Checkpoint,
    Verification,
)
from tactful.privacy.access_log_verify import Truncation
from tactful.privacy.consent import ConsentStore
from tactful.privacy.insights import BudgetLedger
from tactful.privacy.keyring import Keys
from tactful.privacy.pending_records import PendingRecordStore
from tactful.privacy.suppression import LegacyTombstoneStore
from tactful.privacy.vault import IdentityVault
from tactful.segments.census import CensusSource
from tactful.segments.store import BehaviorStore, Tracked
from tactful.storage import sqlite

# What the server holds of each engine's stores: the domain's Protocols, and close().


class Behavior(BehaviorStore[Any], ConsentStore, PendingRecordStore, Protocol):
    state_changes: list[str]  # signal states built at open, for the operator

    def census_source(self, *, on_writer: bool) -> CensusSource: ...

    def close(self) -> None: ...


class SubjectData(
    SubjectBehavior, RekeyableBehavior, ExpiringBehavior, LegacyTombstoneStore, Protocol
):
    def count_with_prefix(self, prefix: str) -> int: ...

    def close(self) -> None: ...


class AccessLog(Protocol):
    def append(
        self, entries: Sequence[AccessEntry], *, now_us: int, lock_wait_s: float | None = None
    ) -> list[AccessRecord]: ...

    def checkpoint(self, *, now_us: int) -> Checkpoint | None: ...

    def truncate_before(self, cutoff_us: int, *, now_us: int) -> int: ...

    def checkpoints(self) -> list[Checkpoint]: ...

    def verify(self) -> Verification: ...

    def truncations(self) -> list[Truncation]: ...

    def query(
        self, query: AccessQuery, *, after_sequence: int = 0, limit: int = 100
    ) -> list[AccessRecord]: ...

    def close(self) -> None: ...


class Ledger(BudgetLedger, PendingRecordStore, Protocol):
    def close(self) -> None: ...


class Outbox(ErasureOutbox, Protocol):
    def close(self) -> None: ...


# A store's pool: the behavior store serves every call; the others see fewer.
_SMALL_POOL = 2


def access_log_location(settings: Settings) -> Path:
    return sqlite.path_of(settings.data_dir, sqlite.ACCESS_LOG)


def write_threads(settings: Settings) -> int:
    """The engine's writer threads per server process (app/write_threads.py)."""
    if settings.on_postgres:
        from tactful.storage import postgres

        return postgres.WRITE_THREADS
    return sqlite.WRITE_THREADS


def read_threads(settings: Settings) -> int:
    """Threads for the reads of calls (0: on the event loop), per server process."""
    if settings.on_postgres:
        from tactful.storage import postgres

        return settings.pool_size if postgres.READS_ON_THREADS else 0
    return 1 if sqlite.READS_ON_THREADS else 0


def describe(settings: Settings) -> str:
    """Where the stores are, for messages (no password)."""
    if not settings.on_postgres:
        return f"data in {settings.data_dir}"
    from tactful.storage.postgres.connection import redacted

    return f"data in PostgreSQL: {redacted(settings.storage_url)}"


def _database(settings: Settings, url: str, store: str, size: int) -> Any:
    try:
        from tactful.storage.postgres.connection import Database
    except ImportError as exc:  # the extra is not installed
        raise ConfigError(
            f"[storage] url names PostgreSQL, but its driver is missing ({exc}):"
            " pip install 'tactful[postgres]'"
        ) from None
    return Database(
        url, size=size, timeout_s=settings.record_timeout_ms / 1000, name=f"tactful-{store}"
    )


def open_access_log(settings: Settings, keys: Keys, *, must_exist: bool = False) -> AccessLog:
    """The access log, with the configured checkpoints and lock timeout. `must_exist`:
    ConfigError instead of creating an empty log (for commands that only read)."""
    if settings.on_postgres:
        from tactful.storage.postgres.access_log import PostgresAccessLog

        return PostgresAccessLog(
            _database(settings, settings.storage_url, "access-log", _SMALL_POOL),
            settings.checkpoints_path,
            keys,
            checkpoint_every=settings.checkpoint_every,
            checkpoint_seconds=settings.checkpoint_seconds,
            epoch_seconds=settings.epoch_seconds,
            lock_timeout_s=settings.record_timeout_ms / 1000,
        )
    from tactful.storage.sqlite.access_log import SqliteAccessLog

    path = access_log_location(settings)
    if must_exist and not path.exists():
        raise ConfigError(f"no access log at {path}")
    return SqliteAccessLog(
        path,
        settings.checkpoints_path,
        keys,
        checkpoint_every=settings.checkpoint_every,
        checkpoint_seconds=settings.checkpoint_seconds,
        lock_timeout_s=settings.record_timeout_ms / 1000,
    )


def open_vault(settings: Settings, vault_keys: Keys, pseudonym_keys: Keys) -> IdentityVault:
    if settings.on_postgres:
        from tactful.storage.postgres.vault import open_postgres_vault

        db = _database(settings, settings.vault_database, "vault", settings.pool_size)
        return open_postgres_vault(db, vault_keys, pseudonym_keys)
    from tactful.storage.sqlite.vault import open_sqlite_vault

    return open_sqlite_vault(
        sqlite.path_of(settings.data_dir, sqlite.VAULT), vault_keys, pseudonym_keys
    )


def open_behavior(settings: Settings, tracked: Tracked) -> Behavior:
    if settings.on_postgres:
        from tactful.storage.postgres.behavior import PostgresBehaviorStore

        db = _database(settings, settings.storage_url, "behavior", settings.pool_size)
        return PostgresBehaviorStore(db, tracked)
    from tactful.storage.sqlite.behavior import SqliteBehaviorStore

    return SqliteBehaviorStore(sqlite.path_of(settings.data_dir, sqlite.BEHAVIOR), tracked)


def open_subject_data(settings: Settings) -> SubjectData:
    if settings.on_postgres:
        from tactful.storage.postgres.subjects import PostgresSubjectData

        return PostgresSubjectData(
            _database(settings, settings.storage_url, "subjects", _SMALL_POOL)
        )
    from tactful.storage.sqlite.subjects import SqliteSubjectData

    return SqliteSubjectData(sqlite.path_of(settings.data_dir, sqlite.BEHAVIOR))


def open_erasure_outbox(settings: Settings) -> Outbox:
    """Erasures begun and not finished (the vault and the behavior store are apart)."""
    if settings.on_postgres:
        from tactful.storage.postgres.erasures import PostgresErasureOutbox

        return PostgresErasureOutbox(_database(settings, settings.storage_url, "erasures", 1))
    from tactful.storage.sqlite.erasures import SqliteErasureOutbox

    return SqliteErasureOutbox(sqlite.path_of(settings.data_dir, sqlite.BEHAVIOR))


def open_budget_ledger(settings: Settings) -> Ledger:
    if settings.on_postgres:
        from tactful.storage.postgres.budget import PostgresBudgetLedger

        return PostgresBudgetLedger(
            _database(settings, settings.storage_url, "budget", _SMALL_POOL)
        )
    from tactful.storage.sqlite.budget import SqliteBudgetLedger

    return SqliteBudgetLedger(sqlite.path_of(settings.data_dir, sqlite.INSIGHTS))


def open_tokens(settings: Settings, *, listen: bool = True) -> TokenStore:
    """The issued tokens: the data folder's token file, or on PostgreSQL the table
    every server shares (`listen`: follow changes made elsewhere, as a server does)."""
    if settings.on_postgres:
        from tactful.storage.postgres.tokens import PostgresTokenRows

        db = _database(settings, settings.storage_url, "tokens", 1)
        return TokenStore(PostgresTokenRows(db, listen=listen))
    return TokenStore(settings.tokens_path)


def migrate(settings: Settings) -> list[str]:
    """Bring every PostgreSQL store's tables to this Tactful's schema (`tactful db
    migrate`); what was applied, one line per store. ConfigError on SQLite, whose
    files migrate themselves when opened."""
    if not settings.on_postgres:
        raise ConfigError("tactful db migrate is for PostgreSQL ([storage] url); SQLite"
                          " files migrate themselves when opened")  # fmt: skip
    from tactful.storage.postgres.migrate import MAIN, VAULT

    done: list[str] = []
    for url, schemas in ((settings.storage_url, MAIN), (settings.vault_database, VAULT)):
        db = _database(settings, url, "migrate", 1)
        try:
            for schema in schemas:
                applied = schema.migrate(db)
                done.append(
                    f"{schema.store}: version {schema.version}"
                    + (f" (applied {', '.join(map(str, applied))})" if applied else " (current)")
                )
        finally:
            db.close()
    return done
