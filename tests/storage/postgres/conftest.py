"""What the PostgreSQL engine's tests share: a fresh database holding one store's
tables (as `tactful db migrate` leaves them), in the shared test cluster or another."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.postgres_cluster import Cluster, fresh_database, shared_cluster

if TYPE_CHECKING:
    from tactful.storage.postgres.schema import Schema


def migrated_database(schema: Schema, cluster: Cluster | None = None) -> str:
    """A new database with `schema` migrated to its newest version; its URL."""
    from tactful.storage.postgres.connection import Database  # psycopg: not at collection

    url = fresh_database(cluster or shared_cluster(), schema.store)
    db = Database(url, size=1)
    try:
        schema.migrate(db)
    finally:
        db.close()
    return url
