"""Storage engines, one folder each, behind the domain's Protocols.

The domain (privacy/, segments/, lifecycle/) owns the rules: how a vault entry is
sealed, when a budget is overdrawn, how an access record is chained. An engine
only stores and loads rows, keeps its own concurrency model, and translates its
own errors into the domain's (storage/translate.py). Only engine folders import a
database driver, and no engine folder imports another.

Each engine folder has one `engine.py` that opens its stores from a
`StorageConfig`; the engine table (app/stores.py) picks one by the URL's scheme
and is the only module outside storage/ that names an engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StorageConfig:
    """What an engine is opened with: the config file's storage values, and nothing
    of the config file itself (the engines do not read Settings)."""

    url: str  # [storage] url; "" for the embedded engine
    vault_url: str  # the vault's own database; "": url's
    data_dir: Path
    checkpoints_path: Path  # this host's signed checkpoints, outside the database
    pool_size: int  # connections per store and process, where an engine pools them
    timeout_s: float  # how long a store waits (a lock, a connection) before failing
    checkpoint_every: int
    checkpoint_seconds: float
    epoch_seconds: float

    @property
    def vault_database(self) -> str:
        return self.vault_url or self.url
