"""The least-privilege roles and grants of a PostgreSQL deployment, as a psql script
(`tactful db roles`), generated from the tables each Schema declares, so the grants
follow the tables.

    tactful_owner    owns the main database and its tables; `tactful db migrate` runs as it
    tactful_server   what every `tactful serve` logs in as: reads and writes the behavior,
                     budget and token tables; a member of tactful_append
    tactful_append   may only INSERT and SELECT the access log's records: no UPDATE,
                     DELETE or TRUNCATE, for any server
    tactful_vault    owns the vault's own database, and only that one (the servers' vault_url
                     logs in as it); neither other login role may even connect to it

The script is idempotent: run it as a superuser before the first `tactful db migrate`
(it creates the roles and databases) and again after every migration (it grants on
the tables that exist then).
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from tactful.storage.postgres.schema import Schema

OWNER, SERVER, APPEND, VAULT = "tactful_owner", "tactful_server", "tactful_append", "tactful_vault"
_READ_WRITE = "SELECT, INSERT, UPDATE, DELETE"


def database_name(url: str, default: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(url).get("dbname") or default)


def roles_script(
    main_url: str, vault_url: str, main: Sequence[Schema], vault: Sequence[Schema]
) -> str:
    """The psql script creating the roles and databases, and granting on the tables."""
    main_db = database_name(main_url, "tactful")
    vault_db = database_name(vault_url, "tactful_vault")
    shared = main_db == vault_db
    lines = [
        "-- Tactful's least-privilege roles: run as a superuser with",
        "--   psql -v ON_ERROR_STOP=1 -f roles.sql",
        "-- before the first `tactful db migrate` and again after each (grants follow the",
        "-- tables). Give each login role a password (ALTER ROLE … PASSWORD) or a certificate.",
        "\\set ON_ERROR_STOP on",
    ]
    for role, login in ((OWNER, True), (SERVER, True), (APPEND, False), (VAULT, True)):
        create = f"CREATE ROLE {role} {'LOGIN' if login else 'NOLOGIN'}"
        lines.append(
            f"SELECT '{create}' WHERE NOT EXISTS"
            f" (SELECT FROM pg_roles WHERE rolname = '{role}') \\gexec"
        )
    lines.append(f"GRANT {APPEND} TO {SERVER};")
    databases = [(main_db, OWNER)] if shared else [(main_db, OWNER), (vault_db, VAULT)]
    for name, owner in databases:
        lines += [
            f"SELECT 'CREATE DATABASE {name} OWNER {owner}' WHERE NOT EXISTS"
            f" (SELECT FROM pg_database WHERE datname = '{name}') \\gexec",
            f"REVOKE ALL ON DATABASE {name} FROM PUBLIC;",
        ]
    lines.append(f"GRANT CONNECT ON DATABASE {main_db} TO {SERVER};")
    if shared:
        lines.append("-- The vault shares the main database: give it one of its own (vault_url).")
    else:
        lines.append(f"GRANT CONNECT ON DATABASE {vault_db} TO {VAULT};")
    lines += [f"\\connect {main_db}", "REVOKE CREATE ON SCHEMA public FROM PUBLIC;"]
    grants = _grants(main, SERVER)
    if shared:
        grants += _grants(vault, SERVER)
    lines += _guarded(grants + [("tactful_schema", f"SELECT ON tactful_schema TO {SERVER}")])
    lines += _functions(main, SERVER)
    lines.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {SERVER};")
    if not shared:
        lines += [
            f"\\connect {vault_db}",
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC;",
            f"-- {VAULT} owns the vault's tables: it migrates them and VACUUMs after erasures.",
        ]
    return "\n".join(lines) + "\n"


def _grants(schemas: Sequence[Schema], role: str) -> list[tuple[str, str]]:
    grants = []
    for schema in schemas:
        grants += [(t, f"{_READ_WRITE} ON {t} TO {role}") for t in schema.tables]
        grants += [(t, f"SELECT, INSERT ON {t} TO {APPEND}") for t in schema.append_only]
    return grants


def _functions(schemas: Sequence[Schema], role: str) -> list[str]:
    """EXECUTE on the functions a server calls for no one else (PostgreSQL grants it
    to PUBLIC by default), on those that exist."""
    body = "\n".join(
        f"  IF to_regprocedure('{f}') IS NOT NULL THEN"
        f" REVOKE EXECUTE ON FUNCTION {f} FROM PUBLIC;"
        f" GRANT EXECUTE ON FUNCTION {f} TO {role}; END IF;"
        for schema in schemas
        for f in schema.functions
    )
    return ["DO $functions$", "BEGIN", body, "END", "$functions$;"] if body else []


def _guarded(grants: list[tuple[str, str]]) -> list[str]:
    """GRANTs on the tables that exist (before the first migration, none do)."""
    body = "\n".join(
        f"  IF to_regclass('{table}') IS NOT NULL THEN GRANT {grant}; END IF;"
        for table, grant in grants
    )
    return ["DO $grants$", "BEGIN", body, "END", "$grants$;"]
