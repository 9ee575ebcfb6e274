"""The one place a storage engine is chosen and opened from Settings.

It lives in the server (the composition root's side) because it reads Settings;
the engines themselves know nothing of the config file. Today there is one
engine, the embedded SQLite one (storage/sqlite/); a second one is added here.
"""

from __future__ import annotations

from pathlib import Path

from privacy.keyring import Keys
from privacy.vault import IdentityVault
from segments.store import Tracked
from server.config import ConfigError, Settings
from storage import sqlite
from storage.sqlite.access_log import SqliteAccessLog
from storage.sqlite.behavior import SqliteBehaviorStore
from storage.sqlite.budget import SqliteBudgetLedger
from storage.sqlite.subjects import SqliteSubjectData
from storage.sqlite.vault import open_sqlite_vault


def access_log_location(settings: Settings) -> Path:
    return sqlite.path_of(settings.data_dir, sqlite.ACCESS_LOG)


def open_access_log(settings: Settings, keys: Keys, *, must_exist: bool = False) -> SqliteAccessLog:
    """The access log, with the configured checkpoints and lock timeout. `must_exist`:
    ConfigError instead of creating an empty log (for commands that only read)."""
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
    return open_sqlite_vault(
        sqlite.path_of(settings.data_dir, sqlite.VAULT), vault_keys, pseudonym_keys
    )


def open_behavior(settings: Settings, tracked: Tracked) -> SqliteBehaviorStore:
    return SqliteBehaviorStore(sqlite.path_of(settings.data_dir, sqlite.BEHAVIOR), tracked)


def open_subject_data(settings: Settings) -> SqliteSubjectData:
    return SqliteSubjectData(sqlite.path_of(settings.data_dir, sqlite.BEHAVIOR))


def open_budget_ledger(settings: Settings) -> SqliteBudgetLedger:
    return SqliteBudgetLedger(sqlite.path_of(settings.data_dir, sqlite.INSIGHTS))
