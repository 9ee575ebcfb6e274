"""The engine table: the one place a storage engine is chosen and opened from
Settings, and the one module outside storage/ that names an engine.

As Feast maps a store type to its class, `ENGINES` maps the scheme of `[storage]
url` to an engine module (storage/<engine>/engine.py), imported only when chosen:
an empty URL is the embedded SQLite engine, files in the data folder; a
postgresql:// URL is the PostgreSQL engine for every store, the vault on
`vault_url` when set, whose driver is an optional extra (`pip install
'tactful[server,postgres]'`). Every engine offers the same openers (`Engine`); what
differs between engines is declared as a capability there, so that no caller asks
which engine it has.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tactful.app.settings import ConfigError, Settings
from tactful.app.tokens import TokenStore
from tactful.journeys.memory import JourneyMemory
from tactful.journeys.outcomes import OutcomeStore
from tactful.journeys.release_store import FileReleases, ReleaseStore
from tactful.lifecycle.rekey import RekeyableBehavior
from tactful.lifecycle.request_workflow import RequestStore
from tactful.lifecycle.retention import ExpiringBehavior
from tactful.lifecycle.subject_requests import ErasureOutbox, SubjectBehavior
from tactful.privacy.access_log import (
    AccessEntry,
    AccessQuery,
    AccessRecord,
    Checkpoint,
    Verification,
)
from tactful.privacy.access_log_export import FollowedLog
from tactful.privacy.access_log_verify import Truncation
from tactful.privacy.consent import ConsentStore
from tactful.privacy.contract import Contract
from tactful.privacy.insights import BudgetLedger, Debit
from tactful.privacy.keyring import Keys
from tactful.privacy.pending_records import PendingRecordStore
from tactful.privacy.suppression import LegacyTombstoneStore
from tactful.privacy.vault import IdentityVault
from tactful.segments.census import CensusSource
from tactful.segments.store import BehaviorStore, Tracked
from tactful.storage import StorageConfig
from tactful.storage.tokens import TokenRows

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


class Memory(JourneyMemory, Protocol):
    def close(self) -> None: ...


class Outcomes(OutcomeStore, Protocol):
    def close(self) -> None: ...


class AccessLog(FollowedLog, Protocol):
    """The access log's store; `FollowedLog`: what the streaming export reads."""

    def append(
        self, entries: Sequence[AccessEntry], *, now_us: int, lock_wait_s: float | None = None
    ) -> list[AccessRecord]: ...

    def checkpoint(self, *, now_us: int) -> Checkpoint | None: ...

    def truncate_before(self, cutoff_us: int, *, now_us: int) -> int: ...

    def checkpoints(self) -> list[Checkpoint]: ...

    def verify(self, *, files: Sequence[Path] = ()) -> Verification:
        """The chain and its signed checkpoints; `files`: other signing hosts'
        checkpoint files to check the epochs against (an engine shared by servers,
        where each signing host keeps its own; the others refuse any)."""
        ...

    def unchecked_signers(self, files: Sequence[Path] = ()) -> list[str]:
        """The signing hosts whose epochs no file checked (`files` and this host's);
        none where this host's file is the only one."""
        ...

    def truncations(self) -> list[Truncation]: ...

    def query(
        self,
        query: AccessQuery,
        *,
        after_sequence: int = 0,
        limit: int = 100,
        before_sequence: int | None = None,
        newest_first: bool = False,
    ) -> list[AccessRecord]:
        """The records `query` matches between the two sequences (both excluded), the
        `limit` oldest of them, or with `newest_first` the `limit` newest, newest first:
        keyset pages in either direction, each one search of an index."""
        ...

    def sequence_at(self, time_us: int) -> int:
        """The sequence of the newest record written at or before `time_us` by its own
        time (the highest of equal times), 0 if none: where a jump to a time starts."""
        ...

    def close(self) -> None: ...


class Ledger(BudgetLedger, PendingRecordStore, Protocol):
    def debits(self) -> list[Debit]:
        """Every debit, for the console's budget page."""
        ...

    def close(self) -> None: ...


class Outbox(ErasureOutbox, Protocol):
    def close(self) -> None: ...


class Requests(RequestStore, Protocol):
    def close(self) -> None: ...


class Schemas(Protocol):
    """The versions of an engine's tables, where they carry one (`tactful db …`)."""

    def migrate(self) -> list[str]: ...

    def check(self) -> None: ...

    def status(self) -> list[tuple[str, int, int]]: ...

    def roles_script(self) -> str: ...


class Engine(Protocol):
    """What every engine offers (storage/<engine>/engine.py), and what sets one apart,
    as capabilities rather than names."""

    # Many servers, on many hosts, serve from these stores at once: each host that
    # signs access-log epochs keeps its own checkpoint file.
    shared_by_servers: bool
    write_threads: int  # writer threads per server process (app/write_threads.py)
    read_threads: int  # threads for the reads of calls; 0: on the event loop

    def describe(self) -> str:
        """Where the stores are, for messages (no password)."""
        ...

    def access_log_file(self) -> Path | None:
        """The access log's own file, when it is one (it may not exist yet)."""
        ...

    def open_access_log(self, keys: Keys) -> AccessLog: ...

    def open_vault(self, vault_keys: Keys, pseudonym_keys: Keys) -> IdentityVault: ...

    def open_behavior(self, tracked: Tracked) -> Behavior: ...

    def open_subject_data(self) -> SubjectData: ...

    def open_journey_memory(self) -> Memory:
        """What the journey engine offered whom, beside the behavior store."""
        ...

    def open_journey_outcomes(self) -> Outcomes:
        """What happened after the journey engine's decisions, beside its memory."""
        ...

    def open_erasure_outbox(self) -> Outbox: ...

    def open_budget_ledger(self) -> Ledger: ...

    def open_subject_requests(self) -> Requests:
        """The data-subject requests received in the console, and their decisions."""
        ...

    def open_token_rows(self, *, listen: bool) -> TokenRows | None:
        """Where the engine keeps issued tokens; None: in the data folder's token file."""
        ...

    def open_releases(self, *, listen: bool) -> ReleaseStore | None:
        """Where every server finds the journeys' playbook versions (`listen`: follow
        changes made elsewhere, as a server does); None: the contract's folder."""
        ...

    def schemas(self) -> Schemas | None:
        """The tables' schema versions; None: the stores migrate themselves when opened."""
        ...


def _sqlite(config: StorageConfig) -> Engine:
    from tactful.storage.sqlite.engine import SqliteEngine

    return SqliteEngine(config)


def _postgres(config: StorageConfig) -> Engine:
    from tactful.storage.postgres.engine import PostgresEngine  # imports the driver

    return PostgresEngine(config)


@dataclass(frozen=True)
class EngineEntry:
    name: str  # for messages
    extra: str  # its optional dependencies beside the server's: `tactful[server,extra]`
    open: Callable[[StorageConfig], Engine]


# The scheme of `[storage] url` ("" when empty) -> the engine that keeps the stores.
ENGINES: dict[str, EngineEntry] = {
    "": EngineEntry("SQLite", "", _sqlite),
    "postgresql": EngineEntry("PostgreSQL", "postgres", _postgres),
    "postgres": EngineEntry("PostgreSQL", "postgres", _postgres),
}


def engine_of(settings: Settings) -> Engine:
    """The engine `[storage] url` names, over the configured stores. ConfigError if its
    driver is not installed."""
    scheme = settings.storage_url.partition("://")[0] if settings.storage_url else ""
    entry = ENGINES.get(scheme)
    if entry is None:
        raise ConfigError(f"[storage] url: no storage engine for {scheme}://")
    try:
        return entry.open(_config(settings))
    except ImportError as exc:  # the extra is not installed
        extras = ",".join(name for name in ("server", entry.extra) if name)
        raise ConfigError(
            f"[storage] url names {entry.name}, but its driver is missing ({exc}):"
            f" pip install 'tactful[{extras}]'"
        ) from None


def _config(settings: Settings) -> StorageConfig:
    return StorageConfig(
        url=settings.storage_url,
        vault_url=settings.vault_url,
        data_dir=settings.data_dir,
        checkpoints_path=settings.checkpoints_path,
        pool_size=settings.pool_size,
        timeout_s=settings.record_timeout_ms / 1000,
        checkpoint_every=settings.checkpoint_every,
        checkpoint_seconds=settings.checkpoint_seconds,
        epoch_seconds=settings.epoch_seconds,
    )


# The openers every caller uses: the engine's, from Settings.


def write_threads(settings: Settings) -> int:
    """The engine's writer threads per server process (app/write_threads.py)."""
    return engine_of(settings).write_threads


def read_threads(settings: Settings) -> int:
    """Threads for the reads of calls (0: on the event loop), per server process."""
    return engine_of(settings).read_threads


def describe(settings: Settings) -> str:
    """Where the stores are, for messages (no password)."""
    return engine_of(settings).describe()


def access_log_location(settings: Settings) -> str:
    """Where the access log is, for messages: its file, or where the stores are."""
    engine = engine_of(settings)
    file = engine.access_log_file()
    return str(file) if file is not None else engine.describe()


def open_access_log(settings: Settings, keys: Keys, *, must_exist: bool = False) -> AccessLog:
    """The access log, with the configured checkpoints and lock timeout. `must_exist`:
    ConfigError instead of creating an empty log file (for commands that only read)."""
    engine = engine_of(settings)
    file = engine.access_log_file()
    if must_exist and file is not None and not file.exists():
        raise ConfigError(f"no access log at {file}")
    return engine.open_access_log(keys)


def open_vault(settings: Settings, vault_keys: Keys, pseudonym_keys: Keys) -> IdentityVault:
    return engine_of(settings).open_vault(vault_keys, pseudonym_keys)


def open_behavior(settings: Settings, tracked: Tracked) -> Behavior:
    return engine_of(settings).open_behavior(tracked)


def open_subject_data(settings: Settings) -> SubjectData:
    return engine_of(settings).open_subject_data()


def open_journey_memory(settings: Settings) -> Memory:
    """The journey's memory (journeys/memory.py), in the behavior store's database."""
    return engine_of(settings).open_journey_memory()


def open_journey_outcomes(settings: Settings) -> Outcomes:
    """The journey outcomes (journeys/outcomes.py), beside the journey's memory."""
    return engine_of(settings).open_journey_outcomes()


def open_erasure_outbox(settings: Settings) -> Outbox:
    """Erasures begun and not finished (the vault and the behavior store are apart)."""
    return engine_of(settings).open_erasure_outbox()


def open_budget_ledger(settings: Settings) -> Ledger:
    return engine_of(settings).open_budget_ledger()


def open_subject_requests(settings: Settings) -> Requests:
    """The console's data-subject requests (lifecycle/request_workflow.py)."""
    return engine_of(settings).open_subject_requests()


def open_tokens(settings: Settings, *, listen: bool = True) -> TokenStore:
    """The issued tokens: where the engine keeps them, shared by every server, or the
    data folder's token file (`listen`: follow changes made elsewhere, as a server
    does)."""
    rows = engine_of(settings).open_token_rows(listen=listen)
    return TokenStore(settings.tokens_path if rows is None else rows)


def open_releases(settings: Settings, contract: Contract, *, listen: bool = True) -> ReleaseStore:
    """The journeys' playbook versions (journeys/releases.py): where the engine keeps
    them for every server, or the contract's folder (`listen`: follow changes made
    elsewhere, as a server does)."""
    found = engine_of(settings).open_releases(listen=listen)
    return FileReleases(contract) if found is None else found


def schemas(settings: Settings, command: str) -> Schemas:
    """The engine's schema versions, for `tactful db <command>`; ConfigError on an
    engine whose stores migrate themselves when opened."""
    found = engine_of(settings).schemas()
    if found is None:
        raise ConfigError(f"tactful db {command} is for PostgreSQL ([storage] url); SQLite"
                          " files migrate themselves when opened")  # fmt: skip
    return found


def migrate(settings: Settings) -> list[str]:
    """Bring every store's tables to this Tactful's schema (`tactful db migrate`); what
    was applied, one line per store."""
    return schemas(settings, "migrate").migrate()
