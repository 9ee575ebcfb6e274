"""The PostgreSQL engine's stores, opened from a StorageConfig: every store in the
database of `[storage] url`, each with its own pool, the vault in `vault_url`'s; the
tables carry schema versions that `tactful db migrate` advances.

Importing this module imports the driver: the engine table (app/stores.py) does it
only for a postgresql:// URL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tactful.privacy.keyring import Keys
from tactful.privacy.vault import IdentityVault
from tactful.segments.store import Tracked
from tactful.storage import StorageConfig
from tactful.storage.postgres import READS_ON_THREADS, WRITE_THREADS
from tactful.storage.postgres.access_log import PostgresAccessLog
from tactful.storage.postgres.behavior import PostgresBehaviorStore
from tactful.storage.postgres.budget import PostgresBudgetLedger
from tactful.storage.postgres.connection import Database, redacted
from tactful.storage.postgres.erasures import PostgresErasureOutbox
from tactful.storage.postgres.journey_memory import PostgresJourneyMemory
from tactful.storage.postgres.journey_outcomes import PostgresJourneyOutcomes
from tactful.storage.postgres.journey_releases import PostgresJourneyReleases
from tactful.storage.postgres.migrate import MAIN, VAULT
from tactful.storage.postgres.roles import roles_script
from tactful.storage.postgres.schema import Schema
from tactful.storage.postgres.subject_requests import PostgresSubjectRequests
from tactful.storage.postgres.subjects import PostgresSubjectData
from tactful.storage.postgres.tokens import PostgresTokenRows
from tactful.storage.postgres.vault import open_postgres_vault
from tactful.storage.tokens import TokenRows

# A store's pool: the behavior store serves every call; the others see fewer.
_SMALL_POOL = 2


class PostgresEngine:
    shared_by_servers = True  # many servers on many hosts serve from one database
    write_threads = WRITE_THREADS

    def __init__(self, config: StorageConfig) -> None:
        self._config = config
        self.read_threads = config.pool_size if READS_ON_THREADS else 0

    def describe(self) -> str:
        return f"data in PostgreSQL: {redacted(self._config.url)}"

    def access_log_file(self) -> Path | None:
        return None  # in the database, whose schema the server checks

    def open_access_log(self, keys: Keys) -> PostgresAccessLog:
        return PostgresAccessLog(
            self._database(self._config.url, "access-log", _SMALL_POOL),
            self._config.checkpoints_path,
            keys,
            checkpoint_every=self._config.checkpoint_every,
            checkpoint_seconds=self._config.checkpoint_seconds,
            epoch_seconds=self._config.epoch_seconds,
            lock_timeout_s=self._config.timeout_s,
        )

    def open_vault(self, vault_keys: Keys, pseudonym_keys: Keys) -> IdentityVault:
        db = self._database(self._config.vault_database, "vault", self._config.pool_size)
        return open_postgres_vault(db, vault_keys, pseudonym_keys)

    def open_behavior(self, tracked: Tracked) -> PostgresBehaviorStore:
        db = self._database(self._config.url, "behavior", self._config.pool_size)
        return PostgresBehaviorStore(db, tracked)

    def open_subject_data(self) -> PostgresSubjectData:
        return PostgresSubjectData(self._database(self._config.url, "subjects", _SMALL_POOL))

    def open_journey_memory(self) -> PostgresJourneyMemory:
        # Read on every decision, from as many threads as the behavior store serves.
        db = self._database(self._config.url, "journey-memory", self._config.pool_size)
        return PostgresJourneyMemory(db)

    def open_journey_outcomes(self) -> PostgresJourneyOutcomes:
        db = self._database(self._config.url, "journey-outcomes", self._config.pool_size)
        return PostgresJourneyOutcomes(db)

    def open_erasure_outbox(self) -> PostgresErasureOutbox:
        return PostgresErasureOutbox(self._database(self._config.url, "erasures", 1))

    def open_budget_ledger(self) -> PostgresBudgetLedger:
        return PostgresBudgetLedger(self._database(self._config.url, "budget", _SMALL_POOL))

    def open_subject_requests(self) -> PostgresSubjectRequests:
        return PostgresSubjectRequests(self._database(self._config.url, "subject-requests", 1))

    def open_token_rows(self, *, listen: bool) -> TokenRows | None:
        """The table every server shares (`listen`: follow changes made elsewhere)."""
        return PostgresTokenRows(self._database(self._config.url, "tokens", 1), listen=listen)

    def open_releases(self, *, listen: bool) -> PostgresJourneyReleases:
        """The journeys' versions, shared by every server (`listen`: follow changes)."""
        db = self._database(self._config.url, "journey-releases", 1)
        return PostgresJourneyReleases(db, listen=listen)

    def schemas(self) -> PostgresSchemas:
        return PostgresSchemas(self._config)

    def _database(self, url: str, store: str, size: int) -> Database:
        return Database(url, size=size, timeout_s=self._config.timeout_s, name=f"tactful-{store}")


class PostgresSchemas:
    """Every store's schema version: advanced by `tactful db migrate`, checked by a
    server at start, shown by `tactful db status`."""

    def __init__(self, config: StorageConfig) -> None:
        self._config = config

    def migrate(self) -> list[str]:
        """What was applied, one line per store."""
        done: list[str] = []
        for db, schema in self._each(name="migrate"):
            applied = schema.migrate(db)
            done.append(
                f"{schema.store}: version {schema.version}"
                + (f" (applied {', '.join(map(str, applied))})" if applied else " (current)")
            )
        return done

    def check(self) -> None:
        """SchemaMismatch (one line) unless every store is at the version known here."""
        for db, schema in self._each(name="db"):
            schema.check(db)

    def status(self) -> list[tuple[str, int, int]]:
        """(store, the version the database holds, the version known here) per store."""
        found: list[tuple[str, int, int]] = []
        for db, schema in self._each(name="db"):
            with db.transaction() as conn:
                found.append((schema.store, schema.found(conn), schema.version))
        return found

    def roles_script(self) -> str:
        """The psql script of the least-privilege roles and grants."""
        return roles_script(self._config.url, self._config.vault_database, MAIN, VAULT)

    def _each(self, *, name: str) -> Iterator[tuple[Database, Schema]]:
        """(database, schema) for every store, each database open while its schemas pass."""
        for url, schemas in ((self._config.url, MAIN), (self._config.vault_database, VAULT)):
            db = Database(url, size=1, timeout_s=self._config.timeout_s, name=f"tactful-{name}")
            try:
                for schema in schemas:
                    yield db, schema
            finally:
                db.close()
