"""Every PostgreSQL store's schema, in the order `tactful db migrate` applies them:
MAIN in the database of `[storage] url`, VAULT in that of `vault_url`."""

from __future__ import annotations

from tactful.storage.postgres import (
    access_log,
    budget,
    erasures,
    journey_releases,
    subject_requests,
    tokens,
    vault,
)
from tactful.storage.postgres.behavior_schema import SCHEMA as BEHAVIOR
from tactful.storage.postgres.schema import Schema

MAIN: tuple[Schema, ...] = (
    access_log.SCHEMA,
    BEHAVIOR,
    budget.SCHEMA,
    erasures.SCHEMA,
    tokens.SCHEMA,
    journey_releases.SCHEMA,
    subject_requests.SCHEMA,
)
VAULT: tuple[Schema, ...] = (vault.SCHEMA,)
