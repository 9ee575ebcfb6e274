"""The reads behind the console's newest-first pages, as SQLite plans them: records
before a sequence, newest first (with and without a filter), and the record at a
time, each one search of an index walked backwards, never a scan of the records nor
a sort of what matched (which would cost the whole log on every page)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tactful.privacy.access_log import AccessQuery
from tactful.storage.sqlite.access_log import SqliteAccessLog
from tests.storage.sqlite.test_access_log_chain import (
    RECORDS,
    SECOND,
    T0_US,
    LogFiles,
    files,  # noqa: F401  (a fixture)
)


@pytest.fixture
def log(files: LogFiles) -> Iterator[SqliteAccessLog]:  # noqa: F811
    opened = files.open()
    yield opened
    opened.close()


def plans(log: SqliteAccessLog, read: object) -> list[str]:
    """The query plan of every statement `read` (called) runs on the log's reader."""
    statements: list[str] = []
    conn = log._reader.conn
    conn.set_trace_callback(statements.append)
    try:
        read()  # type: ignore[operator]
    finally:
        conn.set_trace_callback(None)
    (statement,) = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}")]


@pytest.mark.parametrize(
    "query",
    [AccessQuery(), AccessQuery(principal="support_widget"), AccessQuery(since_us=T0_US)],
    ids=["everything", "by principal", "since a time"],
)
def test_a_page_before_a_sequence_is_one_backward_index_search(
    log: SqliteAccessLog, query: AccessQuery
) -> None:
    found = log.query(query, before_sequence=20, limit=3, newest_first=True)
    assert [r.sequence for r in found] == sorted(
        (r.sequence for r in log.query(query, limit=RECORDS) if r.sequence < 20), reverse=True
    )[:3]
    steps = plans(log, lambda: log.query(query, before_sequence=20, limit=3, newest_first=True))
    assert all(s.startswith("SEARCH records") for s in steps), steps
    assert not any("TEMP B-TREE" in s for s in steps), steps


def test_the_record_at_a_time_is_one_step_down_the_time_index(log: SqliteAccessLog) -> None:
    assert log.sequence_at(T0_US + 7 * SECOND) == 7
    assert log.sequence_at(T0_US + 7 * SECOND + 1) == 7
    assert log.sequence_at(T0_US) == 0  # before the first record
    steps = plans(log, lambda: log.sequence_at(T0_US + 7 * SECOND))
    assert steps == ["SEARCH records USING INDEX records_time_us (time_us<?)"], steps
