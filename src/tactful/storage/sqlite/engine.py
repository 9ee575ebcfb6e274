"""The embedded engine's stores, opened from a StorageConfig: one file each in the
data folder, migrated by themselves when opened."""

from __future__ import annotations

from pathlib import Path

from tactful.privacy.keyring import Keys
from tactful.privacy.vault import IdentityVault
from tactful.segments.store import Tracked
from tactful.storage import StorageConfig
from tactful.storage.sqlite import (
    ACCESS_LOG,
    BEHAVIOR,
    INSIGHTS,
    READS_ON_THREADS,
    SUBJECT_REQUESTS,
    VAULT,
    WRITE_THREADS,
    path_of,
)
from tactful.storage.sqlite.access_log import SqliteAccessLog
from tactful.storage.sqlite.behavior import SqliteBehaviorStore
from tactful.storage.sqlite.budget import SqliteBudgetLedger
from tactful.storage.sqlite.erasures import SqliteErasureOutbox
from tactful.storage.sqlite.journey_memory import SqliteJourneyMemory
from tactful.storage.sqlite.journey_outcomes import SqliteJourneyOutcomes
from tactful.storage.sqlite.subject_requests import SqliteSubjectRequests
from tactful.storage.sqlite.subjects import SqliteSubjectData
from tactful.storage.sqlite.vault import open_sqlite_vault
from tactful.storage.tokens import TokenRows


class SqliteEngine:
    shared_by_servers = False  # one server per data folder (`tactful serve` locks it)
    write_threads = WRITE_THREADS

    def __init__(self, config: StorageConfig) -> None:
        self._config = config
        self.read_threads = 1 if READS_ON_THREADS else 0

    def describe(self) -> str:
        return f"data in {self._config.data_dir}"

    def access_log_file(self) -> Path | None:
        return self._path(ACCESS_LOG)

    def open_access_log(self, keys: Keys) -> SqliteAccessLog:
        return SqliteAccessLog(
            self._path(ACCESS_LOG),
            self._config.checkpoints_path,
            keys,
            checkpoint_every=self._config.checkpoint_every,
            checkpoint_seconds=self._config.checkpoint_seconds,
            lock_timeout_s=self._config.timeout_s,
        )

    def open_vault(self, vault_keys: Keys, pseudonym_keys: Keys) -> IdentityVault:
        return open_sqlite_vault(self._path(VAULT), vault_keys, pseudonym_keys)

    def open_behavior(self, tracked: Tracked) -> SqliteBehaviorStore:
        return SqliteBehaviorStore(self._path(BEHAVIOR), tracked)

    def open_subject_data(self) -> SqliteSubjectData:
        return SqliteSubjectData(self._path(BEHAVIOR))

    def open_journey_memory(self) -> SqliteJourneyMemory:
        return SqliteJourneyMemory(self._path(BEHAVIOR))

    def open_journey_outcomes(self) -> SqliteJourneyOutcomes:
        return SqliteJourneyOutcomes(self._path(BEHAVIOR))

    def open_erasure_outbox(self) -> SqliteErasureOutbox:
        return SqliteErasureOutbox(self._path(BEHAVIOR))

    def open_budget_ledger(self) -> SqliteBudgetLedger:
        return SqliteBudgetLedger(self._path(INSIGHTS))

    def open_subject_requests(self) -> SqliteSubjectRequests:
        return SqliteSubjectRequests(self._path(SUBJECT_REQUESTS))

    def open_token_rows(self, *, listen: bool) -> TokenRows | None:
        return None  # the data folder's token file

    def open_releases(self, *, listen: bool) -> None:
        return None  # the journeys' versions stay in the contract's folder

    def schemas(self) -> None:
        return None  # each file migrates itself when opened

    def _path(self, store: str) -> Path:
        return path_of(self._config.data_dir, store)
