"""On PostgreSQL as on SQLite (tests/api/test_records_owed.py): an erasure, or a release of
segment sizes, that committed as the access log refused its record is answered
UNAVAILABLE, and its call gets its one record from the recovery once the log works."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from tactful.app import stores
from tactful.privacy.access_log import AccessEntry, AccessLogUnavailable, AccessRecord
from tactful.privacy.pending_records import RECOVERED_REASON
from tests.api.test_records_owed import (
    ERASE_SUBJECT,
    GET_SCORECARD,
    GET_SEGMENT_SIZES,
    _erase,
    _records,
    _scorecard,
    _sizes,
)
from tests.conftest import Tactful, eventually, make_settings
from tests.postgres_cluster import fresh_database, shared_cluster

pytest.importorskip("psycopg")
from tactful.storage.postgres.access_log import PostgresAccessLog  # noqa: E402

TIMEOUT_MS = 100  # the recovery's grace: ten of them, 1 s


def _pending(url: str, table: str) -> int:
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize(
    ("method", "call", "table"),
    [
        (ERASE_SUBJECT, lambda t: _erase(t, "ada@example.com", "owed-pg"), "pending_records"),
        (GET_SEGMENT_SIZES, lambda t: _sizes(t, "owed-pg"), "budget_pending_records"),
        (GET_SCORECARD, lambda t: _scorecard(t, "owed-pg"), "budget_pending_records"),
    ],
    ids=["EraseSubject", "GetSegmentSizes", "GetScorecard"],
)
def test_a_write_stored_while_the_log_fails_is_recorded_once_it_works(
    start_tactful: Callable[..., Tactful],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    call: Callable[[Tactful], grpc.StatusCode],
    table: str,
) -> None:
    cluster = shared_cluster()
    main, vault = fresh_database(cluster, "behavior"), fresh_database(cluster, "vault")
    stores.migrate(make_settings(tmp_path / "migrate", storage_url=main, vault_url=vault))
    failing = [True]
    append: Callable[..., list[AccessRecord]] = PostgresAccessLog.append

    def refusing(self: PostgresAccessLog, entries: Sequence[AccessEntry], **kw: Any) -> Any:
        if failing[0] and any(e.method == method for e in entries):
            raise AccessLogUnavailable("disk full")
        return append(self, entries, **kw)

    monkeypatch.setattr(PostgresAccessLog, "append", refusing)
    tactful = start_tactful(storage_url=main, vault_url=vault, record_timeout_ms=TIMEOUT_MS)
    assert call(tactful) is grpc.StatusCode.UNAVAILABLE
    failing[0] = False
    tactful.clock.advance(timedelta(seconds=5))
    # A recovery round runs every half second; on a loaded machine (CI beside other
    # work) a round can wait for seconds behind the cluster, so allow for it.
    eventually(
        lambda: any(r.request_id == "owed-pg" for r in _records(tactful, method)), seconds=30
    )
    [record] = [r for r in _records(tactful, method) if r.request_id == "owed-pg"]
    assert (record.decision, record.status, record.reason) == (
        "allowed",
        "UNAVAILABLE",
        RECOVERED_REASON,
    )
    eventually(lambda: _pending(main, table) == 0, seconds=30)
