"""PostgreSQL crashed (`pg_ctl stop -m immediate`) three times under 8 writers through
one Tactful server: once it is back, every stored RecordEvents batch has exactly one
access record naming its call (the running server writes those the crash cut off
between the data's commit and the record's), and the log verifies."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tactful.app import stores
from tactful.app.domain import open_domain
from tests.crash_load import load_for, random_moment, reconcile, until
from tests.postgres.servers import Server, settings_of, write_config
from tests.postgres_cluster import fresh_database, throwaway_cluster

pytest.importorskip("psycopg")

CRASHES = 3
TIMEOUT_MS = 300  # the recovery's grace is ten of them


def _pending(url: str) -> int:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            row = conn.execute("SELECT count(*) FROM pending_records").fetchone()
    except psycopg.errors.UndefinedTable:  # a Tactful that keeps none
        return 0
    assert row is not None
    return int(row[0])


def test_batches_stored_before_a_database_crash_all_get_their_record(tmp_path: Path) -> None:
    with throwaway_cluster() as cluster:
        behavior, vault = fresh_database(cluster, "behavior"), fresh_database(cluster, "vault")
        config = write_config(tmp_path / "a", behavior, vault, keyring=tmp_path / "keyring.json")
        with config.open("a") as file:
            file.write(f"[access_log]\nrecord_timeout_ms = {TIMEOUT_MS}\n")
        stores.migrate(settings_of(config))
        server = Server(config)
        sent: dict[str, str] = {}
        try:
            for crash in range(CRASHES):
                writers = load_for(random_moment(), server.target, f"c{crash}", sent)
                try:
                    cluster.stop("immediate")
                    time.sleep(0.3)
                finally:
                    writers.stop()
                    cluster.start()
            # The server that lived through the crashes works its pending records off.
            drained = until(lambda: _pending(behavior) == 0, seconds=40)
        finally:
            output = server.stop()
        assert drained, output
        domain = open_domain(settings_of(config))
        try:
            unrecorded, twice, stored = reconcile(domain, sent)
            assert stored > 0
            assert unrecorded == [], f"{len(unrecorded)} of {stored} stored batches:\n{output}"
            assert twice == []
            assert domain.access_log.verify().intact
        finally:
            domain.close()
