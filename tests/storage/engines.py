"""The storage engines the contract suite runs on: how each opens a data folder, and
how an attacker holding its database tampers with the access log.

Every engine-specific line of tests/storage/ lives here, SQL included. The tests
see only `Stores` (the domain opened over one data folder, as the server opens it)
and `AccessLogAttacker`; adding an engine means adding one `Engine` subclass and
its name in ENGINES. A rename of a store's method touches this module only.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from tactful.app.domain import Domain, open_domain
from tactful.app.settings import Settings
from tactful.lifecycle.rekey import Rekeyer, RekeyReport
from tactful.privacy.access_log import (
    GENESIS_HASH,
    AccessEntry,
    Checkpoint,
    CheckpointKind,
    Verification,
)
from tactful.privacy.decisions import Actor
from tactful.privacy.insights import BudgetLedger
from tactful.segments.ingest import EventInput, EventRecorder, RecordResult, SubjectInput
from tactful.segments.store import SignalQuery
from tactful.storage.sqlite.access_log import SUBJECT_BUCKET_BITS
from tactful.storage.sqlite.budget import SqliteBudgetLedger
from tests.conftest import make_settings


@dataclass(frozen=True)
class Event:
    """One event as a store gives it back: what the suite compares."""

    purpose: str
    type: str
    occurred_at_us: int
    attributes: tuple[tuple[str, Any], ...]  # sorted (name, value) pairs


class Stores:
    """Every store of one data folder, opened by the composition root the way the
    server opens them, and the domain use cases over them."""

    def __init__(self, settings: Settings, domain: Domain) -> None:
        self.settings = settings
        self.domain = domain

    def actor(self, principal: str) -> Actor:
        found = next(p for p in self.settings.principals if p.name == principal)
        return Actor(found.name, found.roles, found.purposes)

    def recorder(self, vault: Any = None) -> EventRecorder:
        """The ingest path of the server (create_server), optionally over another vault."""
        d = self.domain
        return EventRecorder(
            d.contract,
            d.pseudonymizer,
            vault or d.vault,
            d.store,
            d.tombstones,
            classifier=d.text_classifier,
        )

    def record(
        self,
        principal: str,
        purpose: str,
        events: Sequence[tuple[str, str, int, dict[str, Any]]],
        *,
        now: datetime,
        vault: Any = None,
    ) -> RecordResult:
        """(email, event type, occurred_at_us, attributes) events, through the recorder."""
        inputs = [
            EventInput(SubjectInput("email", who), kind, at, attributes)
            for who, kind, at, attributes in events
        ]
        return self.recorder(vault).record(self.actor(principal), purpose, inputs, now=now)

    def set_consent(self, email: str, purpose: str, granted: bool, *, now: datetime) -> None:
        self.domain.consent.set_consent(
            self.actor("web_frontend"), "email", email, purpose, granted, "tests", now=now
        )

    def erase(self, email: str, *, suppress: bool, now: datetime) -> None:
        self.domain.subjects.erase(
            self.actor("privacy_ops"), "email", email, suppress=suppress, now=now
        )

    def export(self, email: str, *, now: datetime) -> dict[str, Any]:
        return self.domain.subjects.export(
            self.actor("privacy_ops"), "email", email, now=now
        ).document

    def pseudonyms(self, email: str) -> tuple[str, ...]:
        """The pseudonyms a person may be stored under (every live key)."""
        return tuple(self.domain.pseudonymizer.resolve("email", email))

    def stored_events(self, email: str) -> list[Event]:
        rows = self.domain.subject_data.events_of(self.pseudonyms(email))
        return [
            Event(r.purpose, r.type, r.occurred_at_us, tuple(sorted(r.attributes.items())))
            for r in rows
        ]

    def signal_values(self, email: str, purpose: str, queries: Sequence[SignalQuery]) -> list[Any]:
        return self.domain.store.signal_values(self.pseudonyms(email), purpose, queries)

    def purge_older(self, purpose: str, cutoff_us: int, *, limit: int) -> int:
        return self.domain.subject_data.purge_older(purpose, cutoff_us, limit=limit)

    def rekey(self, *, now: datetime) -> RekeyReport:
        d = self.domain
        return Rekeyer(d.pseudonymizer, d.vault, d.subject_data, pause_s=0).run(now=now)

    def identity_of(self, email: str) -> object:
        """What the vault reveals about a person (None once shredded)."""
        return next(filter(None, map(self.domain.vault.reveal, self.pseudonyms(email))), None)

    def append_access(self, entries: Sequence[AccessEntry], *, now_us: int) -> None:
        self.domain.access_log.append(entries, now_us=now_us)

    def verify_access_log(self) -> Verification:
        return self.domain.access_log.verify()

    def checkpoints(self) -> list[Checkpoint]:
        return self.domain.access_log.checkpoints()

    def close(self) -> None:
        self.domain.close()


@dataclass(frozen=True)
class StoredRecord:
    """One access-log row as the database holds it."""

    content: str
    previous_hash: str
    record_hash: str
    mac: str = ""


class AccessLogAttacker(Protocol):
    """What someone holding the access log's database (not the signing key) can do;
    every change is committed when the attacker's context closes."""

    def row(self, sequence: int) -> StoredRecord: ...

    def sequences(self) -> list[int]: ...

    def genesis(self, sequence: int) -> str:
        """The hash the first record of the chain holding record `sequence` chains from."""
        ...

    def same_chain(self, sequence: int, other: int) -> bool:
        """Whether records `sequence` and `other` are in one chain."""
        ...

    def update(
        self,
        sequence: int,
        *,
        content: str | None = None,
        previous_hash: str | None = None,
        record_hash: str | None = None,
        mac: str | None = None,
    ) -> None: ...

    def delete(self, first: int, last: int | None = None) -> None:
        """Records first..last (one record if last is None; to the end if last is -1)."""
        ...

    def insert(self, sequence: int, record: StoredRecord) -> None: ...

    def renumber(self, first: int, by: int) -> None:
        """Records from `first` on move `by` places (content left as it is)."""
        ...

    def checkpoint_rows(self) -> list[str]: ...

    def replace_checkpoint_row(self, old: str, new: str) -> None: ...

    def delete_checkpoint_row(self, sequence: int) -> None: ...

    def drop_subject(self, sequence: int, subject: str) -> None:
        """Remove a record's further subject from the subject index."""
        ...

    def add_subject(self, sequence: int, subject: str) -> None: ...


class Engine:
    """One storage engine: how the suite opens a fresh data folder on it."""

    name = ""
    closes_chains = False  # a chain ends with a closing record when its writer stops

    @classmethod
    def available(cls) -> bool:
        return True

    def settings(self, data_dir: Path, **overrides: object) -> Settings:
        """Development settings (known tokens, a fresh keyring) for this engine."""
        raise NotImplementedError

    def open(self, settings: Settings) -> Stores:
        """Every store of the data folder, as the server opens them; a second call on
        the same settings is a second process's connections."""
        return Stores(settings, open_domain(settings))

    def open_ledger(self, settings: Settings) -> BudgetLedger:
        """The privacy-budget ledger alone, on a connection of its own."""
        raise NotImplementedError

    def attacker(self, settings: Settings) -> AbstractContextManager[AccessLogAttacker]:
        raise NotImplementedError

    def is_truncation(self, line: str) -> bool:
        """Whether a checkpoint file's line is the signed truncation of the log."""
        raise NotImplementedError

    def disk(self, settings: Settings) -> list[Path]:
        """Every folder whose files hold what the stores wrote, as an attacker with the
        disk would read them (write-ahead logs included)."""
        raise NotImplementedError

    def back_up(self, settings: Settings, into: Path) -> None:
        """A file-level backup of the stores, as an operator's nightly copy would be."""
        raise NotImplementedError


# -- SQLite -------------------------------------------------------------------------------


class SqliteEngine(Engine):
    name = "sqlite"

    def settings(self, data_dir: Path, **overrides: object) -> Settings:
        return make_settings(data_dir, **overrides)

    def open_ledger(self, settings: Settings) -> BudgetLedger:
        return SqliteBudgetLedger(settings.data_dir / "insights.db")

    @contextmanager
    def attacker(self, settings: Settings) -> Iterator[AccessLogAttacker]:
        path = settings.data_dir / "access_log.db"
        with closing(sqlite3.connect(path)) as conn, conn:
            yield _SqliteAttacker(conn)

    def is_truncation(self, line: str) -> bool:
        return Checkpoint.from_json(line).kind is CheckpointKind.TRUNCATION

    def disk(self, settings: Settings) -> list[Path]:
        return [settings.data_dir]

    def back_up(self, settings: Settings, into: Path) -> None:
        # The files as they are (the WAL beside each database), not SQLite's backup API.
        shutil.copytree(settings.data_dir, into)


class _SqliteAttacker:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def row(self, sequence: int) -> StoredRecord:
        found = self._conn.execute(
            "SELECT content, previous_hash, record_hash, mac FROM records WHERE sequence = ?",
            [sequence],
        ).fetchone()
        assert found is not None, sequence
        return StoredRecord(*found)

    def sequences(self) -> list[int]:
        rows = self._conn.execute("SELECT sequence FROM records ORDER BY sequence")
        return [r[0] for r in rows]

    def genesis(self, sequence: int) -> str:
        return GENESIS_HASH  # one chain

    def same_chain(self, sequence: int, other: int) -> bool:
        return True

    def update(
        self,
        sequence: int,
        *,
        content: str | None = None,
        previous_hash: str | None = None,
        record_hash: str | None = None,
        mac: str | None = None,
    ) -> None:
        changes = {
            "content": content,
            "previous_hash": previous_hash,
            "record_hash": record_hash,
            "mac": mac,
        }
        for column, value in changes.items():
            if value is not None:
                self._conn.execute(
                    f"UPDATE records SET {column} = ? WHERE sequence = ?", [value, sequence]
                )

    def delete(self, first: int, last: int | None = None) -> None:
        upto = first if last is None else (2**62 if last == -1 else last)
        self._conn.execute("DELETE FROM records WHERE sequence BETWEEN ? AND ?", [first, upto])

    def insert(self, sequence: int, record: StoredRecord) -> None:
        self._conn.execute(
            "INSERT INTO records (sequence, content, previous_hash, record_hash, mac)"
            " VALUES (?, ?, ?, ?, ?)",
            [sequence, record.content, record.previous_hash, record.record_hash, record.mac],
        )

    def renumber(self, first: int, by: int) -> None:
        # Through negative numbers: the sequence is unique at every step.
        self._conn.execute("UPDATE records SET sequence = -sequence WHERE sequence >= ?", [first])
        self._conn.execute("UPDATE records SET sequence = ? - sequence WHERE sequence < 0", [by])

    def checkpoint_rows(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT line FROM checkpoints ORDER BY rowid")]

    def replace_checkpoint_row(self, old: str, new: str) -> None:
        changed = self._conn.execute(
            "UPDATE checkpoints SET line = ? WHERE line = ?", [new, old]
        ).rowcount
        assert changed == 1

    def delete_checkpoint_row(self, sequence: int) -> None:
        deleted = self._conn.execute(
            "DELETE FROM checkpoints WHERE line LIKE ?", [f'%"sequence": {sequence},%']
        ).rowcount
        assert deleted == 1

    def drop_subject(self, sequence: int, subject: str) -> None:
        deleted = self._conn.execute(
            "DELETE FROM subject_records WHERE sequence = ?"
            " AND subject_id = (SELECT id FROM subjects WHERE pseudonym = ?)",
            [sequence, subject],
        ).rowcount
        assert deleted == 1

    def add_subject(self, sequence: int, subject: str) -> None:
        self._conn.execute("INSERT OR IGNORE INTO subjects (pseudonym) VALUES (?)", [subject])
        self._conn.execute(
            "INSERT INTO subject_records SELECT ? >> ?, id, ? FROM subjects WHERE pseudonym = ?",
            [sequence, SUBJECT_BUCKET_BITS, sequence, subject],
        )


# -- PostgreSQL ---------------------------------------------------------------------------


class PostgresEngine(Engine):
    """Fresh databases (behavior and vault apart) in the test run's one cluster, migrated
    as `tactful db migrate` does. Without PostgreSQL binaries its tests skip, saying how
    to get them (fail, with TACTFUL_REQUIRE_POSTGRES)."""

    name = "postgresql"
    closes_chains = True

    def settings(self, data_dir: Path, **overrides: object) -> Settings:
        from tactful.app import stores
        from tests.postgres_cluster import fresh_database, shared_cluster, wal_file

        cluster = shared_cluster()
        first_wal = wal_file(cluster)
        settings = make_settings(
            data_dir,
            storage_url=fresh_database(cluster, "behavior"),
            vault_url=fresh_database(cluster, "vault"),
            **overrides,
        )
        _FIRST_WAL[settings.storage_url] = first_wal
        stores.migrate(settings)
        return settings

    def open_ledger(self, settings: Settings) -> BudgetLedger:
        from tactful.app import stores

        ledger: BudgetLedger = stores.open_budget_ledger(settings)
        return ledger

    def attacker(self, settings: Settings) -> AbstractContextManager[AccessLogAttacker]:
        from tests.storage.postgres_attacker import postgres_attacker

        return postgres_attacker(settings.storage_url)

    def is_truncation(self, line: str) -> bool:
        from tactful.privacy.access_log_epochs import Epoch

        return bool(Epoch.from_json(line).starts)  # an epoch naming where chains now start

    def disk(self, settings: Settings) -> list[Path]:
        """The cluster's folder, less the other databases of the run and the WAL from
        before these settings' databases were made (tests/postgres_cluster.py)."""
        from tests.postgres_cluster import files_written_since, shared_cluster

        databases = (settings.storage_url, settings.vault_database)
        return files_written_since(shared_cluster(), databases, _FIRST_WAL[settings.storage_url])

    def back_up(self, settings: Settings, into: Path) -> None:
        # A crude base backup: the vault database's files after a checkpoint, and the WAL
        # (from before these settings' databases were made, none holds anything of theirs).
        import psycopg

        from tests.postgres_cluster import database_oid, shared_cluster

        with psycopg.connect(settings.vault_database, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
        data = shared_cluster().data
        assert data is not None
        vault = Path("base", str(database_oid(settings.vault_database)))
        (into / "pg_wal").mkdir(parents=True)
        for path in self.disk(settings):
            if path == data / vault:
                shutil.copytree(path, into / vault)
            elif path.parent == data / "pg_wal":
                copy = shutil.copytree if path.is_dir() else shutil.copy2
                copy(path, into / "pg_wal" / path.name)


_FIRST_WAL: dict[str, str] = {}  # a behavior database's URL: the WAL segment before it


ENGINES: dict[str, type[Engine]] = {"sqlite": SqliteEngine, "postgresql": PostgresEngine}


def engine_named(name: str) -> Engine:
    return ENGINES[name]()
