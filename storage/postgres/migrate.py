"""Every PostgreSQL store's schema, in the order `tactful db migrate` applies them:
MAIN in the database of `[storage] url`, VAULT in that of `vault_url`."""

from __future__ import annotations

from storage.postgres import budget, tokens, vault
from storage.postgres.schema import Schema

MAIN: tuple[Schema, ...] = (budget.SCHEMA, tokens.SCHEMA)
VAULT: tuple[Schema, ...] = (vault.SCHEMA,)
