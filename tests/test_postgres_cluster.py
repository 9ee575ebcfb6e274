"""The PostgreSQL test cluster starts, answers on 127.0.0.1, and goes away: the
ground the PostgreSQL engine's tests (issue 13) will stand on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres_cluster import Cluster, throwaway_cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with throwaway_cluster() as started:
        yield started


def test_the_throwaway_cluster_is_postgresql_15_on_the_loopback(cluster: Cluster) -> None:
    import psycopg

    with psycopg.connect(cluster.url, connect_timeout=10) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()
        address = conn.execute("SELECT host(inet_server_addr())").fetchone()
    assert version is not None and int(version[0]) // 10000 == 15
    assert address is not None and address[0] == "127.0.0.1"


def test_the_cluster_is_removed_when_it_stops() -> None:
    with throwaway_cluster() as started:
        import psycopg

        with psycopg.connect(started.url, connect_timeout=10) as conn:
            folder = conn.execute("SHOW data_directory").fetchone()
    assert folder is not None and not Path(folder[0]).exists()


@pytest.mark.parametrize("required", ["", "1"])
def test_missing_binaries_skip_unless_postgres_is_required(
    monkeypatch: pytest.MonkeyPatch, required: str
) -> None:
    from tests import postgres_cluster

    monkeypatch.setattr(postgres_cluster, "binaries", lambda: None)
    monkeypatch.setenv("TACTFUL_REQUIRE_POSTGRES", required)
    outcome = pytest.fail.Exception if required else pytest.skip.Exception
    expected = "initdb, pg_ctl and postgres are not on this machine"
    with pytest.raises(outcome, match=expected), throwaway_cluster():
        pass
