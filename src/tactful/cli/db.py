"""`tactful db migrate | status | roles`: the PostgreSQL engine's schemas and roles.

`migrate` brings every store's tables to this Tactful's schema versions (under an
advisory lock: two operators never migrate at once); `status` shows, per store, the
version the database holds and the one this Tactful knows; `roles` prints the psql
script of the least-privilege roles and grants (storage/postgres/roles.py). A
`tactful serve` on PostgreSQL checks every schema at start (`check_schemas`) and
refuses, in one line, one older or newer than it knows.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from typing import Any

from tactful.app import stores
from tactful.app.settings import ConfigError, Settings


def register(
    commands: Any,
    settings_of: Callable[[argparse.Namespace], Settings],
    config_option: Callable[[argparse.ArgumentParser], None],
) -> None:
    db = commands.add_parser(
        "db", help="PostgreSQL: schema migrations and database roles ([storage] url)"
    ).add_subparsers(metavar="COMMAND")
    for name, run, text in (
        ("migrate", _migrate, "bring every store's tables to this Tactful's schema versions"),
        ("status", _status, "each store's schema version: found in the database, and known here"),
        ("roles", _roles, "print the SQL (a psql script) of the least-privilege roles and grants"),
    ):
        command = db.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        config_option(command)
        command.set_defaults(run=lambda args, run=run: run(settings_of(args)))


def check_schemas(settings: Settings) -> None:
    """SchemaMismatch (one line) unless every store's tables are at the version this
    Tactful knows; nothing on SQLite, whose files migrate themselves."""
    if not settings.on_postgres:
        return
    for db, schema in _schemas(settings):
        schema.check(db)


def _migrate(settings: Settings) -> int:
    for line in stores.migrate(settings):
        print(line)
    return 0


def _status(settings: Settings) -> int:
    _require_postgres(settings, "status")
    behind = 0
    for db, schema in _schemas(settings):
        with db.transaction() as conn:
            found = schema.found(conn)
        state = "current" if found == schema.version else (
            "run `tactful db migrate`" if found < schema.version else "newer than this Tactful"
        )  # fmt: skip
        behind += found != schema.version
        print(
            f"{schema.store}: found version {found}, this Tactful knows {schema.version} ({state})"
        )
    return 1 if behind else 0


def _roles(settings: Settings) -> int:
    _require_postgres(settings, "roles")
    from tactful.storage.postgres.migrate import MAIN, VAULT
    from tactful.storage.postgres.roles import roles_script

    print(roles_script(settings.storage_url, settings.vault_database, MAIN, VAULT), end="")
    return 0


def _schemas(settings: Settings) -> Iterator[tuple[Any, Any]]:
    """(database, schema) for every store, each database open while its schemas pass."""
    from tactful.storage.postgres.connection import Database
    from tactful.storage.postgres.migrate import MAIN, VAULT

    for url, schemas in ((settings.storage_url, MAIN), (settings.vault_database, VAULT)):
        db = Database(url, size=1, timeout_s=settings.record_timeout_ms / 1000, name="tactful-db")
        try:
            for schema in schemas:
                yield db, schema
        finally:
            db.close()


def _require_postgres(settings: Settings, command: str) -> None:
    if not settings.on_postgres:
        raise ConfigError(f"tactful db {command} is for PostgreSQL ([storage] url); SQLite"
                          " files migrate themselves when opened")  # fmt: skip
