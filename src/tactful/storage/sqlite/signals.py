"""Signal state on SQLite, maintained at ingest so that a read does not grow with history.

Three tables, keyed by the integer subject id and the purpose, written in the same
transaction as the events they summarize:

- ``signal_counts``: events per event type per hour. A count over a window sums the
  whole hours after its start (at most one row per hour of the window) and counts
  the events of the one partial hour at its start from the events index. Exact at
  any instant, whatever the subject's history; every event type is counted.
- ``signal_last``: the latest value of each tracked (event type, attribute), with its
  time. A later event wins; between events of the same time the later write wins,
  as ``ORDER BY occurred_at_us DESC, id DESC`` would pick (and, read over two
  pseudonyms of one person, the one named first: `BehaviorReads.signal_values`).
- ``signal_distinct``: each value a tracked (event type, attribute) took, with the
  time it was last seen. Distinct values in a window are the rows seen after its
  start, at most as many as the values.

Which (event type, attribute) pairs are tracked follows the contract's signals
(`Tracked`); ``signal_tracking`` remembers what the state holds, and `track`
builds a newly declared pair from the events already stored, or drops one no
longer declared. Everything that deletes events (consent withdrawal, erasure,
retention) deletes or recomputes the state it summarized in the same transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tactful.segments.signal_state import HOUR_US, fold
from tactful.segments.store import SignalQuery, StoredEvent, Tracked
from tactful.storage.sqlite.behavior_schema import SUBJECT_IDS, placeholders
from tactful.storage.sqlite.connection import rows_param

SubjectIds = Sequence[int]


STATE_TABLES = ("signal_counts", "signal_last", "signal_distinct")

# Rows keyed by pseudonym, stored for the admitted ones (see storage/sqlite/behavior.py: the writer
# decides who is admitted, inside its transaction).
ADMITTED = "(:admitted IS NULL OR j.value->>0 IN (SELECT value FROM json_each(:admitted)))"
_FROM_ROWS = (
    f" FROM json_each(:rows) j JOIN subjects s ON s.pseudonym = j.value->>0 WHERE {ADMITTED}"
)
_ADD_COUNTS = f"""
INSERT INTO signal_counts (subject_id, purpose, type, hour, n)
SELECT s.id, j.value->>1, j.value->>2, j.value->>3, j.value->>4{_FROM_ROWS}
ON CONFLICT DO UPDATE SET n = n + excluded.n
"""
_SET_LAST = f"""
INSERT INTO signal_last (subject_id, purpose, type, attribute, value, at_us)
SELECT s.id, j.value->>1, j.value->>2, j.value->>3, j.value->>4, j.value->>5{_FROM_ROWS}
ON CONFLICT DO UPDATE SET value = excluded.value, at_us = excluded.at_us
WHERE excluded.at_us >= signal_last.at_us
"""
_SEE_DISTINCT = f"""
INSERT INTO signal_distinct (subject_id, purpose, type, attribute, value, last_at_us)
SELECT s.id, j.value->>1, j.value->>2, j.value->>3, j.value->>4, j.value->>5{_FROM_ROWS}
ON CONFLICT DO UPDATE SET last_at_us = max(last_at_us, excluded.last_at_us)
"""


# -- ingest ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EncodedSignals:
    """What a batch adds to the signal state, as JSON rows keyed by pseudonym."""

    counts: str
    last: str | None
    distinct: str | None


def encode(tracked: Tracked, events: Iterable[StoredEvent]) -> EncodedSignals:
    """A batch folded (segments/signal_state.py) into JSON rows (no database)."""
    delta = fold(tracked, events)
    return EncodedSignals(
        rows_param([(*k, n) for k, n in delta.counts.items()]),
        rows_param([(*k, v, at) for k, (at, v) in delta.last.items()]) if delta.last else None,
        rows_param([(*k, at) for k, at in delta.distinct.items()]) if delta.distinct else None,
    )


def append(conn: sqlite3.Connection, batch: EncodedSignals, who: Mapping[str, str | None]) -> None:
    """Add an encoded batch to the state, for the admitted pseudonyms (`who`), inside the
    transaction that stores its events."""
    conn.execute(_ADD_COUNTS, {**who, "rows": batch.counts})
    if batch.last is not None:
        conn.execute(_SET_LAST, {**who, "rows": batch.last})
    if batch.distinct is not None:
        conn.execute(_SEE_DISTINCT, {**who, "rows": batch.distinct})


# -- reads -------------------------------------------------------------------------------


def values(
    conn: sqlite3.Connection,
    tracked: Tracked,
    pseudonyms: Sequence[str],
    purpose: str,
    queries: Sequence[SignalQuery],
) -> list[Any]:
    """The raw value of each signal in `queries` for one subject, in one statement: a
    count or a number of distinct values (int), or a latest value (None if none)."""
    if not queries:
        return []
    parts = [_scalar(tracked, pseudonyms, purpose, q) for q in queries]
    row = conn.execute(
        "SELECT " + ", ".join(sql for sql, _ in parts), [p for _, ps in parts for p in ps]
    ).fetchone()
    return list(row)


def _scalar(
    tracked: Tracked, pseudonyms: Sequence[str], purpose: str, q: SignalQuery
) -> tuple[str, list[object]]:
    """One signal as a scalar subquery, with its parameters."""
    ids = SUBJECT_IDS.format(placeholders(pseudonyms))
    if q.kind == "count":
        hour = q.since_us // HOUR_US
        return (
            f"(SELECT coalesce(sum(n), 0) FROM signal_counts WHERE subject_id IN ({ids})"
            " AND purpose = ? AND type = ? AND hour > ?)"
            f" + (SELECT count(*) FROM events WHERE subject_id IN ({ids}) AND purpose = ?"
            " AND type = ? AND occurred_at_us > ? AND occurred_at_us < ?)",
            [
                *pseudonyms,
                purpose,
                q.event,
                hour,
                *pseudonyms,
                purpose,
                q.event,
                q.since_us,
                (hour + 1) * HOUR_US,
            ],
        )
    assert q.attribute is not None
    if q.kind == "distinct":
        tracked.require("distinct", q.event, q.attribute)
        return (
            "(SELECT count(DISTINCT value) FROM signal_distinct"
            f" WHERE subject_id IN ({ids}) AND purpose = ? AND type = ? AND attribute = ?"
            " AND last_at_us > ?)",
            [*pseudonyms, purpose, q.event, q.attribute, q.since_us],
        )
    tracked.require("last_value", q.event, q.attribute)
    # One row per pseudonym at most; between pseudonyms, a tie in time goes to the one
    # named first, which holds the later writes (`BehaviorReads.signal_values`).
    return (
        "(SELECT x.value FROM json_each(?) p JOIN subjects s ON s.pseudonym = p.value"
        " JOIN signal_last x ON x.subject_id = s.id WHERE x.purpose = ? AND x.type = ?"
        " AND x.attribute = ? ORDER BY x.at_us DESC, p.key LIMIT 1)",
        [json.dumps(list(pseudonyms)), purpose, q.event, q.attribute],
    )


def census(conn: sqlite3.Connection, purpose: str, q: SignalQuery) -> Iterable[tuple[str, Any]]:
    """(pseudonym, raw value) of one signal for every subject with state under `purpose`."""
    join = " FROM {} x JOIN subjects s ON s.id = x.subject_id WHERE x.purpose = ? AND x.type = ?"
    if q.kind == "count":
        hour = q.since_us // HOUR_US
        whole = conn.execute(
            "SELECT s.pseudonym, sum(x.n)"
            + join.format("signal_counts")
            + " AND x.hour > ? GROUP BY s.pseudonym",
            [purpose, q.event, hour],
        )
        totals: dict[str, int] = dict(whole.fetchall())
        partial = conn.execute(
            "SELECT s.pseudonym, count(*)"
            + join.format("events")
            + " AND x.occurred_at_us > ? AND x.occurred_at_us < ? GROUP BY s.pseudonym",
            [purpose, q.event, q.since_us, (hour + 1) * HOUR_US],
        )
        for pseudonym, n in partial:
            totals[pseudonym] = totals.get(pseudonym, 0) + n
        return totals.items()
    if q.kind == "distinct":
        return conn.execute(
            "SELECT s.pseudonym, count(DISTINCT x.value)"
            + join.format("signal_distinct")
            + " AND x.attribute = ? AND x.last_at_us > ? GROUP BY s.pseudonym",
            [purpose, q.event, q.attribute, q.since_us],
        ).fetchall()
    return conn.execute(
        "SELECT s.pseudonym, x.value" + join.format("signal_last") + " AND x.attribute = ?",
        [purpose, q.event, q.attribute],
    ).fetchall()


# -- keeping the state in step -------------------------------------------------------------


def track(conn: sqlite3.Connection, tracked: Tracked) -> list[str]:
    """Make the state hold exactly the pairs `tracked` names: build the new ones from the
    stored events, drop the ones no longer declared. Returns what changed, for the log."""
    held = set(conn.execute("SELECT kind, type, attribute FROM signal_tracking").fetchall())
    wanted = set(tracked.rows())
    changed = []
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        for kind, event_type, attribute in sorted(held - wanted):
            table = "signal_last" if kind == "last_value" else "signal_distinct"
            conn.execute(
                f"DELETE FROM {table} WHERE type = ? AND attribute = ?", (event_type, attribute)
            )
            conn.execute(
                "DELETE FROM signal_tracking WHERE kind = ? AND type = ? AND attribute = ?",
                (kind, event_type, attribute),
            )
            changed.append(f"dropped {kind} {event_type}.{attribute}")
        for kind, event_type, attribute in sorted(wanted - held):
            _build(conn, kind, event_type, attribute)
            conn.execute(
                "INSERT INTO signal_tracking VALUES (?, ?, ?)", (kind, event_type, attribute)
            )
            changed.append(f"built {kind} {event_type}.{attribute}")
    return changed


def _build(conn: sqlite3.Connection, kind: str, event_type: str, attribute: str) -> None:
    """Compute one newly tracked pair, for every subject, from the stored events."""
    path = f'$."{attribute}"'
    where = " WHERE type = ? AND json_type(attributes, ?) IS NOT NULL"
    params: list[object] = [event_type, path]
    if kind == "last_value":
        conn.execute(
            "INSERT OR REPLACE INTO signal_last SELECT subject_id, purpose, ?, ?, value, at_us"
            " FROM (SELECT subject_id, purpose, json_extract(attributes, ?) AS value,"
            " occurred_at_us AS at_us, row_number() OVER (PARTITION BY subject_id, purpose"
            f" ORDER BY occurred_at_us DESC, id DESC) AS n FROM events{where}) WHERE n = 1",
            [event_type, attribute, path, *params],
        )
    else:
        conn.execute(
            "INSERT OR REPLACE INTO signal_distinct SELECT subject_id, purpose, ?, ?,"
            " json_extract(attributes, ?), max(occurred_at_us)"
            f" FROM events{where} GROUP BY 1, 2, 5",
            [event_type, attribute, path, *params],
        )


def forget(conn: sqlite3.Connection, subject_ids: SubjectIds, purpose: str | None = None) -> None:
    """Drop the state of these subjects (under one purpose, or all). Inside a transaction."""
    if not subject_ids:
        return
    only = "" if purpose is None else " AND purpose = ?"
    params = [*subject_ids] + ([] if purpose is None else [purpose])
    for table in STATE_TABLES:
        conn.execute(
            f"DELETE FROM {table} WHERE subject_id IN ({placeholders(subject_ids)}){only}", params
        )


def after_purge(
    conn: sqlite3.Connection, purpose: str, cutoff_us: int, deleted: Sequence[tuple[int, str, int]]
) -> None:
    """Take events deleted under `purpose` before `cutoff_us`, as (subject id, type,
    occurred_at_us), out of the state. Inside the purge's transaction: the counts drop
    by what went; a latest value, or a value last seen, that may have gone with its
    event is recomputed from the events left (a purge goes in chunks)."""
    gone = Counter((subject_id, purpose, t, at // HOUR_US) for subject_id, t, at in deleted)
    conn.executemany(
        "UPDATE signal_counts SET n = n - ?"
        " WHERE subject_id = ? AND purpose = ? AND type = ? AND hour = ?",
        [(n, *key) for key, n in gone.items()],
    )
    conn.executemany(
        "DELETE FROM signal_counts"
        " WHERE subject_id = ? AND purpose = ? AND type = ? AND hour = ? AND n <= 0",
        list(gone),
    )
    kept = {t for (t,) in conn.execute("SELECT DISTINCT type FROM signal_tracking")}
    for subject_id, event_type in sorted({(s, t) for s, t, _ in deleted if t in kept}):
        key = (subject_id, purpose, event_type)
        for (attribute,) in conn.execute(
            "DELETE FROM signal_last WHERE subject_id = ? AND purpose = ? AND type = ?"
            " AND at_us < ? RETURNING attribute",
            (*key, cutoff_us),
        ).fetchall():
            path = f'$."{attribute}"'
            conn.execute(
                "INSERT INTO signal_last SELECT subject_id, purpose, type, ?,"
                " json_extract(attributes, ?), occurred_at_us FROM events"
                " WHERE subject_id = ? AND purpose = ? AND type = ? AND json_type(attributes, ?)"
                " IS NOT NULL ORDER BY occurred_at_us DESC, id DESC LIMIT 1",
                (attribute, path, *key, path),
            )
        for attribute in {
            a
            for (a,) in conn.execute(
                "DELETE FROM signal_distinct WHERE subject_id = ? AND purpose = ? AND type = ?"
                " AND last_at_us < ? RETURNING attribute",
                (*key, cutoff_us),
            ).fetchall()
        }:
            path = f'$."{attribute}"'
            conn.execute(
                "INSERT INTO signal_distinct SELECT subject_id, purpose, type, ?,"
                " json_extract(attributes, ?), max(occurred_at_us) FROM events"
                " WHERE subject_id = ? AND purpose = ? AND type = ? AND occurred_at_us < ?"
                " AND json_type(attributes, ?) IS NOT NULL GROUP BY 5"
                " ON CONFLICT DO UPDATE SET last_at_us = max(last_at_us, excluded.last_at_us)",
                (attribute, path, *key, cutoff_us, path),
            )


def merge(conn: sqlite3.Connection, old: int, new: int) -> None:
    """Fold the state of subject `old` into subject `new` (a rekey met both), then drop it."""
    conn.execute(
        "INSERT INTO signal_counts SELECT ?, purpose, type, hour, n FROM signal_counts"
        " WHERE subject_id = ? ON CONFLICT DO UPDATE SET n = n + excluded.n",
        (new, old),
    )
    conn.execute(
        "INSERT INTO signal_last SELECT ?, purpose, type, attribute, value, at_us"
        " FROM signal_last WHERE subject_id = ? ON CONFLICT DO UPDATE SET"
        " value = excluded.value, at_us = excluded.at_us"
        " WHERE excluded.at_us > signal_last.at_us",
        (new, old),
    )
    conn.execute(
        "INSERT INTO signal_distinct SELECT ?, purpose, type, attribute, value, last_at_us"
        " FROM signal_distinct WHERE subject_id = ? ON CONFLICT DO UPDATE SET"
        " last_at_us = max(last_at_us, excluded.last_at_us)",
        (new, old),
    )
    forget(conn, [old])
