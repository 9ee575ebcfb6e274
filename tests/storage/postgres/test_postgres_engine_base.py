"""The PostgreSQL engine's foundations: its pool, its error translation, its schema
versions, and the [storage] configuration that selects it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tactful.app import stores
from tactful.app.config_file import load_settings
from tactful.app.settings import ConfigError
from tactful.privacy.errors import SchemaMismatch, StoreUnavailable
from tests.postgres_cluster import fresh_database, shared_cluster, throwaway_cluster

psycopg = pytest.importorskip("psycopg")

from tactful.storage.postgres.connection import Database, redacted  # noqa: E402
from tactful.storage.postgres.errors import translated_error  # noqa: E402
from tactful.storage.postgres.schema import Schema  # noqa: E402


@pytest.fixture()
def url() -> str:
    return fresh_database(shared_cluster())


def test_a_transaction_commits_and_one_that_raises_leaves_nothing(url: str) -> None:
    db = Database(url, size=2)
    try:
        with db.transaction() as conn:
            conn.execute("CREATE TABLE t (x integer)")
        with pytest.raises(RuntimeError), db.transaction() as conn:
            conn.execute("INSERT INTO t VALUES (1)")
            raise RuntimeError("half way")
        with db.transaction() as conn:
            assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    finally:
        db.close()


def test_a_server_that_is_down_is_store_unavailable_and_the_pool_recovers(tmp_path: Path) -> None:
    with throwaway_cluster() as cluster:
        db = Database(cluster.url, size=1, timeout_s=1.0)
        try:
            db.check()
            cluster.stop("immediate")
            with pytest.raises(StoreUnavailable):
                db.check()  # the pooled connection is dead
            with pytest.raises(StoreUnavailable):
                db.check()  # and no new one can be made
            cluster.start()
            for _ in range(50):  # bounded: the pool reconnects in the background
                try:
                    db.check()
                    break
                except StoreUnavailable:
                    threading.Event().wait(0.1)
            db.check()
        finally:
            db.close()


def test_driver_errors_become_the_domains() -> None:
    from psycopg import errors as pg

    from tactful.privacy.errors import StoreBusy, StoreFull

    assert type(translated_error(pg.LockNotAvailable("lock"))) is StoreBusy
    assert type(translated_error(pg.QueryCanceled("statement timeout"))) is StoreBusy
    assert type(translated_error(pg.DiskFull("no space"))) is StoreFull
    assert type(translated_error(psycopg.OperationalError("gone"))) is StoreUnavailable


SCHEMA = Schema("example", ["CREATE TABLE a (x integer)", "ALTER TABLE a ADD COLUMN y text"])


def test_migrate_applies_each_missing_step_once(url: str) -> None:
    db = Database(url)
    try:
        assert Schema("example", SCHEMA.steps[:1]).migrate(db) == [1]
        with pytest.raises(SchemaMismatch, match="version 1, this Tactful needs 2"):
            SCHEMA.check(db)
        assert SCHEMA.migrate(db) == [2]
        assert SCHEMA.migrate(db) == []
        SCHEMA.check(db)
        with db.transaction() as conn:
            conn.execute("INSERT INTO a (x, y) VALUES (1, 'two')")
    finally:
        db.close()


def test_a_schema_newer_than_this_tactful_is_refused_and_left_alone(url: str) -> None:
    db = Database(url)
    try:
        SCHEMA.migrate(db)
        older = Schema("example", SCHEMA.steps[:1])
        with pytest.raises(SchemaMismatch, match="newer than this Tactful knows"):
            older.check(db)
        with pytest.raises(SchemaMismatch, match="newer"):
            older.migrate(db)
        SCHEMA.check(db)
    finally:
        db.close()


def test_an_empty_database_is_version_0_and_check_creates_nothing(url: str) -> None:
    db = Database(url)
    try:
        with pytest.raises(SchemaMismatch, match="version 0"):
            SCHEMA.check(db)
        with db.transaction() as conn:
            assert conn.execute("SELECT to_regclass('tactful_schema')").fetchone() == (None,)
    finally:
        db.close()


def test_two_migrations_at_once_apply_each_step_once(url: str) -> None:
    dbs = [Database(url), Database(url)]
    results: list[list[int]] = []
    try:
        threads = [threading.Thread(target=lambda d=d: results.append(SCHEMA.migrate(d)))
                   for d in dbs]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert sorted(v for r in results for v in r) == [1, 2]
    finally:
        for d in dbs:
            d.close()


def test_the_message_names_no_password() -> None:
    assert "secret" not in redacted("postgresql://tactful:secret@db.internal:5432/tactful")
    assert "host=db.internal" in redacted("postgresql://tactful:secret@db.internal/tactful")


def test_storage_url_from_the_config_file_and_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "tactful.toml"
    config.write_text('[storage]\nurl = "postgresql://tactful@db/tactful"\npool_size = 4\n')
    settings = load_settings(config, {})
    assert stores.engine_of(settings).shared_by_servers  # the table picked PostgreSQL
    assert settings.vault_database == "postgresql://tactful@db/tactful"
    assert settings.pool_size == 4
    moved = load_settings(config, {"TACTFUL_VAULT_URL": "postgresql://vault@db/vault"})
    assert moved.vault_database == "postgresql://vault@db/vault"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('url = "mysql://x"', "must be a URL such as"),
        ('url = "postgresql://tactful:hunter2@db/t"', "holds a password"),
        ('url = "postgresql://tactful@db/t?password=hunter2"', "holds a password"),
        ('url = "postgresql://db/t?user=u&sslmode=require&PASSWORD=x"', "holds a password"),
        ("pool_size = 0", "from 1 to 100"),
    ],
)
def test_bad_storage_settings_are_refused(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "tactful.toml"
    config.write_text(f"[storage]\n{text}\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(config, {})


def test_a_vault_url_without_a_storage_url_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "tactful.toml"
    config.write_text('[storage]\nvault_url = "postgresql://v@db/vault"\n')
    with pytest.raises(ConfigError, match="vault_url is set but storage.url is not"):
        load_settings(config, {})
