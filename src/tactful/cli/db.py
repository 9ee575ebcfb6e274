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
from collections.abc import Callable
from typing import Any

from tactful.app import stores
from tactful.app.settings import Settings
from tactful.cli.report import emit, json_option, say


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
        json_option(command)
        command.set_defaults(run=lambda args, run=run: run(settings_of(args), args))


def check_schemas(settings: Settings) -> None:
    """SchemaMismatch (one line) unless every store's tables are at the version this
    Tactful knows; nothing on an engine whose stores migrate themselves."""
    schemas = stores.engine_of(settings).schemas()
    if schemas is not None:
        schemas.check()


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    applied = stores.migrate(settings)
    for line in applied:
        say(args, line)
    emit(args, {"applied": applied})
    return 0


def _status(settings: Settings, args: argparse.Namespace) -> int:
    behind, shown = 0, []
    for store, found, known in stores.schemas(settings, "status").status():
        state = "current" if found == known else (
            "run `tactful db migrate`" if found < known else "newer than this Tactful"
        )  # fmt: skip
        behind += found != known
        say(args, f"{store}: found version {found}, this Tactful knows {known} ({state})")
        shown.append({"store": store, "found": found, "known": known, "current": found == known})
    emit(args, {"stores": shown})
    return 1 if behind else 0


def _roles(settings: Settings, args: argparse.Namespace) -> int:
    script = stores.schemas(settings, "roles").roles_script()
    say(args, script, end="")
    emit(args, {"psql_script": script})
    return 0
