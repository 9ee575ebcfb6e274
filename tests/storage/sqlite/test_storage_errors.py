"""Each engine translates its driver's errors at its edge: a lost, locked or full
database is the domain's StoreUnavailable (UNAVAILABLE, retryable), never INTERNAL."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import grpc
import pytest

from tactful.privacy.errors import StoreBusy, StoreFull, StoreUnavailable
from tactful.storage.sqlite.behavior import SqliteBehaviorStore
from tactful.storage.sqlite.errors import map_sqlite_errors, translated
from tactful.v1 import personalization_pb2
from tests.conftest import Tactful, bearer, email, page_view


def locked(path: Path) -> None:
    with closing(sqlite3.connect(path, isolation_level=None)) as holder:
        holder.execute("CREATE TABLE IF NOT EXISTS t (x)")
        holder.execute("BEGIN IMMEDIATE")
        with closing(sqlite3.connect(path, timeout=0, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")


def full(path: Path) -> None:
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.execute("PRAGMA max_page_count=3")
        conn.executemany("INSERT INTO t VALUES (?)", [("x" * 4000,)] * 10)


def unopenable(path: Path) -> None:
    path.mkdir()
    sqlite3.connect(path).execute("SELECT 1")


@pytest.mark.parametrize(
    ("fault", "error"),
    [(locked, StoreBusy), (full, StoreFull), (unopenable, StoreUnavailable)],
    ids=["locked", "full", "unopenable"],
)
def test_sqlite_errors_become_the_domains(
    tmp_path: Path, fault: Callable[[Path], None], error: type[Exception]
) -> None:
    with pytest.raises(error) as caught, map_sqlite_errors():
        fault(tmp_path / "db")
    assert type(caught.value) is error
    assert isinstance(caught.value.__cause__, sqlite3.Error)


def test_a_translated_class_maps_its_methods_and_the_contexts_they_return(
    tmp_path: Path,
) -> None:
    @translated
    class Engine:
        def __init__(self, path: Path) -> None:
            self.conn = sqlite3.connect(path)

        def read(self) -> object:
            return self.conn.execute("SELECT * FROM missing").fetchall()

        @contextmanager
        def transaction(self) -> Iterator[None]:
            yield
            self.conn.close()
            self.conn.execute("COMMIT")  # the commit fails as the block ends

    engine = Engine(tmp_path / "db")
    with pytest.raises(StoreUnavailable):
        engine.read()
    with pytest.raises(StoreUnavailable), engine.transaction():
        pass
    with pytest.raises(StoreUnavailable):
        Engine(tmp_path)  # a folder: cannot be opened


def test_every_public_method_of_an_engine_store_is_translated() -> None:
    assert SqliteBehaviorStore.writing.__wrapped__  # type: ignore[attr-defined]
    assert SqliteBehaviorStore.__init__.__wrapped__  # type: ignore[misc]


def test_a_lost_database_connection_is_unavailable_over_grpc(tactful: Tactful) -> None:
    tactful.record("support_triage", page_view(email("ada@example.com")))
    from tactful.app.domain import Domain

    (domain,) = [c for c in tactful._running._closers if isinstance(c, Domain)]
    domain.store._reader.close()  # the connection is gone
    request = personalization_pb2.GetSegmentsRequest(
        subject=email("ada@example.com"), purpose="support_triage"
    )
    with pytest.raises(grpc.RpcError) as caught:
        tactful.personalization.GetSegments(request, metadata=bearer("support_widget"))
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE, caught.value.details()
