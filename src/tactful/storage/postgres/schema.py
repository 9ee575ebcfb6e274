"""Versioned schema migrations, one numbered list of steps per store.

`tactful db migrate` applies the steps a database lacks, each in its own
transaction, under an advisory lock so that two operators (or two hosts) never
migrate at once. A server only checks: it refuses a schema older than it knows
(run `tactful db migrate`) and one newer than it knows (an older Tactful beside a
newer one that has already migrated: upgrade this one first).

    CREATE TABLE tactful_schema (store text PRIMARY KEY, version integer, ...)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tactful.privacy.errors import SchemaMismatch
from tactful.storage.postgres.connection import Connection, Database

_MIGRATION_LOCK = 0x7AC7F0_0001  # pg_advisory_xact_lock key while migrating

Step = str | Callable[[Connection], None]


@dataclass(frozen=True)
class Schema:
    """The migrations of one store: step N takes its tables from version N-1 to N.

    `tables`: the tables the steps create that a server reads and writes; `append_only`:
    those a server may only INSERT into and SELECT from (the access log's records, the
    budget's debits); `functions`: those a server may call (by signature).
    `tactful db roles` grants from these lists, so the roles follow the tables."""

    store: str
    steps: Sequence[Step]
    tables: Sequence[str] = ()
    append_only: Sequence[str] = ()
    functions: Sequence[str] = ()

    @property
    def version(self) -> int:
        return len(self.steps)

    def found(self, conn: Connection) -> int:
        """The version the database holds (0: none of this store's tables)."""
        if conn.execute("SELECT to_regclass('tactful_schema')").fetchone() == (None,):
            return 0
        row = conn.execute(
            "SELECT version FROM tactful_schema WHERE store = %s", [self.store]
        ).fetchone()
        return int(row[0]) if row else 0

    def migrate(self, db: Database) -> list[int]:
        """Apply the missing steps; the versions applied (none if current). A newer
        schema than this Tactful knows is SchemaMismatch, and nothing changes."""
        applied: list[int] = []
        while True:
            with db.transaction() as conn:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATION_LOCK])
                _create_version_table(conn)
                found = self.found(conn)
                if found > self.version:
                    raise self._newer(found)
                if found == self.version:
                    return applied
                step = self.steps[found]
                if isinstance(step, str):
                    conn.execute(step)  # our own DDL, no input
                else:
                    step(conn)
                conn.execute(
                    "INSERT INTO tactful_schema (store, version) VALUES (%s, %s)"
                    " ON CONFLICT (store) DO UPDATE SET version = excluded.version,"
                    " migrated_at = now()",
                    [self.store, found + 1],
                )
                applied.append(found + 1)

    def check(self, db: Database) -> None:
        """SchemaMismatch unless the database holds exactly this version."""
        with db.transaction() as conn:
            found = self.found(conn)
        if found < self.version:
            raise SchemaMismatch(
                f"the {self.store} tables are at schema version {found}, this Tactful needs"
                f" {self.version}: run `tactful db migrate`"
            )
        if found > self.version:
            raise self._newer(found)

    def _newer(self, found: int) -> SchemaMismatch:
        return SchemaMismatch(
            f"the {self.store} tables are at schema version {found}, newer than this"
            f" Tactful knows ({self.version}): upgrade it before it serves"
        )


def _create_version_table(conn: Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS tactful_schema (store text PRIMARY KEY,"
        " version integer NOT NULL, migrated_at timestamptz NOT NULL DEFAULT now())"
    )
