"""Signal state on PostgreSQL, maintained at ingest as storage/sqlite/signals.py does
on SQLite: ``signal_counts`` (events per type per hour), ``signal_last`` (the latest
value of each tracked attribute) and ``signal_distinct`` (each value a tracked
attribute took, with when it was last seen), keyed by subject id and purpose and
written in the transaction that stores the events. Values are jsonb, as
`tactful.segments.signal_state.state_value` gives them (a bool as 0/1, a timestamp as ISO
text), whether they come from a batch or are recomputed from stored events (`_VALUE`).

Every write visits rows in subject-id order, so two transactions touching the same
rows take their row locks in the same order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tactful.segments.signal_state import HOUR_US, fold
from tactful.segments.store import SignalQuery, StoredEvent, Tracked
from tactful.storage.postgres.connection import Connection

STATE_TABLES = ("signal_counts", "signal_last", "signal_distinct")

# The rows of a batch, keyed by subject id (`keyed`), in key order: two batches touching
# the same rows lock them in the same order.
_ADD_COUNTS = """
INSERT INTO signal_counts (subject_id, purpose, type, hour, n)
SELECT * FROM unnest(%(s)s::bigint[], %(purpose)s::text[], %(type)s::text[], %(hour)s::bigint[],
                     %(n)s::bigint[]) AS r(s, purpose, type, hour, n)
ORDER BY 1, 2, 3, 4
ON CONFLICT (subject_id, purpose, type, hour) DO UPDATE SET n = signal_counts.n + excluded.n
"""
_FROM_VALUES = """
FROM unnest(%(s)s::bigint[], %(purpose)s::text[], %(type)s::text[], %(attribute)s::text[],
            %(value)s::text[], %(at)s::bigint[]) AS r(s, purpose, type, attribute, value, at)
ORDER BY 1, 2, 3, 4, 5
"""
_SET_LAST = f"""
INSERT INTO signal_last (subject_id, purpose, type, attribute, value, at_us)
SELECT r.s, r.purpose, r.type, r.attribute, r.value::jsonb, r.at{_FROM_VALUES}
ON CONFLICT (subject_id, purpose, type, attribute) DO UPDATE
SET value = excluded.value, at_us = excluded.at_us WHERE excluded.at_us >= signal_last.at_us
"""
_SEE_DISTINCT = f"""
INSERT INTO signal_distinct (subject_id, purpose, type, attribute, value, last_at_us)
SELECT r.s, r.purpose, r.type, r.attribute, r.value::jsonb, r.at{_FROM_VALUES}
ON CONFLICT (subject_id, purpose, type, attribute, value) DO UPDATE
SET last_at_us = greatest(signal_distinct.last_at_us, excluded.last_at_us)
"""
# An attribute of stored events as the state holds it: a bool as 0/1, like state_value.
_VALUE = (
    "CASE jsonb_typeof(attributes -> %(attribute)s) WHEN 'boolean'"
    " THEN to_jsonb((attributes ->> %(attribute)s)::boolean::int)"
    " ELSE attributes -> %(attribute)s END"
)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


# -- ingest ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EncodedSignals:
    """What a batch adds to the signal state, as columns (lists) keyed by pseudonym."""

    counts: dict[str, list[Any]]
    last: dict[str, list[Any]] | None
    distinct: dict[str, list[Any]] | None


def _columns(names: Sequence[str], rows: Iterable[Sequence[Any]]) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {n: [] for n in names}
    for row in rows:
        for name, value in zip(names, row, strict=True):
            columns[name].append(value)
    return columns


_VALUE_COLUMNS = ("p", "purpose", "type", "attribute", "value", "at")


def encode(tracked: Tracked, events: Iterable[StoredEvent]) -> EncodedSignals:
    """A batch folded (segments/signal_state.py) into columns (no database); values as
    JSON text, as the jsonb columns take them."""
    delta = fold(tracked, events)
    last = ((*k, _json(v), at) for k, (at, v) in delta.last.items())
    distinct = ((*k[:4], _json(k[4]), at) for k, at in delta.distinct.items())
    return EncodedSignals(
        _columns(("p", "purpose", "type", "hour", "n"), ((*k, n) for k, n in delta.counts.items())),
        _columns(_VALUE_COLUMNS, last) if delta.last else None,
        _columns(_VALUE_COLUMNS, distinct) if delta.distinct else None,
    )


def keyed(columns: Mapping[str, list[Any]], ids: Mapping[str, int]) -> dict[str, list[Any]]:
    """`columns` (rows keyed by pseudonym, "p") keyed by subject id instead ("s"), keeping
    only the rows of the pseudonyms `ids` maps (those admitted)."""
    pseudonyms = columns["p"]
    if all(p in ids for p in pseudonyms):
        found = {n: v for n, v in columns.items() if n != "p"}
        found["s"] = [ids[p] for p in pseudonyms]
        return found
    kept = [i for i, p in enumerate(pseudonyms) if p in ids]
    found = {n: [v[i] for i in kept] for n, v in columns.items() if n != "p"}
    found["s"] = [ids[pseudonyms[i]] for i in kept]
    return found


def append(conn: Connection, batch: EncodedSignals, ids: Mapping[str, int]) -> None:
    """Add an encoded batch to the state, for the pseudonyms `ids` maps to their subject
    ids (the admitted ones), inside the transaction that stores its events."""
    conn.execute(_ADD_COUNTS, keyed(batch.counts, ids))
    if batch.last is not None:
        conn.execute(_SET_LAST, keyed(batch.last, ids))
    if batch.distinct is not None:
        conn.execute(_SEE_DISTINCT, keyed(batch.distinct, ids))


# -- reads -------------------------------------------------------------------------------

_IDS = "(SELECT id FROM subjects WHERE pseudonym = ANY(%s::text[]))"


def scalar(
    tracked: Tracked, pseudonyms: Sequence[str], purpose: str, q: SignalQuery
) -> tuple[str, list[object]]:
    """One signal as a scalar subquery, with its parameters."""
    ids = list(pseudonyms)
    if q.kind == "count":
        hour = q.since_us // HOUR_US
        return (
            "((SELECT coalesce(sum(n), 0) FROM signal_counts WHERE subject_id IN"
            f" {_IDS} AND purpose = %s AND type = %s AND hour > %s)"
            f" + (SELECT count(*) FROM events WHERE subject_id IN {_IDS} AND purpose = %s"
            " AND type = %s AND occurred_at_us > %s AND occurred_at_us < %s))::bigint",
            [ids, purpose, q.event, hour, ids, purpose, q.event, q.since_us,
             (hour + 1) * HOUR_US],
        )  # fmt: skip
    assert q.attribute is not None
    if q.kind == "distinct":
        tracked.require("distinct", q.event, q.attribute)
        return (
            "(SELECT count(DISTINCT value) FROM signal_distinct"
            f" WHERE subject_id IN {_IDS} AND purpose = %s AND type = %s AND attribute = %s"
            " AND last_at_us > %s)",
            [ids, purpose, q.event, q.attribute, q.since_us],
        )
    tracked.require("last_value", q.event, q.attribute)
    # One row per pseudonym at most; between pseudonyms, a tie in time goes to the one
    # named first, which holds the later writes (`BehaviorReads.signal_values`).
    return (
        "(SELECT x.value FROM unnest(%s::text[]) WITH ORDINALITY AS p(pseudonym, position)"
        " JOIN subjects s ON s.pseudonym = p.pseudonym"
        " JOIN signal_last x ON x.subject_id = s.id WHERE x.purpose = %s AND x.type = %s"
        " AND x.attribute = %s ORDER BY x.at_us DESC, p.position LIMIT 1)",
        [ids, purpose, q.event, q.attribute],
    )


def census(conn: Connection, purpose: str, q: SignalQuery) -> Iterable[tuple[str, Any]]:
    """(pseudonym, raw value) of one signal for every subject with state under `purpose`."""
    join = " FROM {} x JOIN subjects s ON s.id = x.subject_id WHERE x.purpose = %s AND x.type = %s"
    if q.kind == "count":
        hour = q.since_us // HOUR_US
        totals: dict[str, int] = {
            p: int(n)
            for p, n in conn.execute(
                "SELECT s.pseudonym, sum(x.n)" + join.format("signal_counts")
                + " AND x.hour > %s GROUP BY s.pseudonym",
                [purpose, q.event, hour],
            )
        }  # fmt: skip
        for pseudonym, n in conn.execute(
            "SELECT s.pseudonym, count(*)" + join.format("events")
            + " AND x.occurred_at_us > %s AND x.occurred_at_us < %s GROUP BY s.pseudonym",
            [purpose, q.event, q.since_us, (hour + 1) * HOUR_US],
        ):  # fmt: skip
            totals[pseudonym] = totals.get(pseudonym, 0) + int(n)
        return totals.items()
    if q.kind == "distinct":
        return conn.execute(
            "SELECT s.pseudonym, count(DISTINCT x.value)" + join.format("signal_distinct")
            + " AND x.attribute = %s AND x.last_at_us > %s GROUP BY s.pseudonym",
            [purpose, q.event, q.attribute, q.since_us],
        ).fetchall()  # fmt: skip
    return conn.execute(
        "SELECT s.pseudonym, x.value" + join.format("signal_last") + " AND x.attribute = %s",
        [purpose, q.event, q.attribute],
    ).fetchall()


# -- keeping the state in step -------------------------------------------------------------

_TRACKING_LOCK = (0x7AC7_0105, 0)


def track(conn: Connection, tracked: Tracked) -> list[str]:
    """Make the state hold exactly the pairs `tracked` names, inside the caller's
    transaction (two servers opening at once take turns): build the new ones from the
    stored events, drop the ones no longer declared. Returns what changed."""
    conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", list(_TRACKING_LOCK))
    held = {tuple(r) for r in conn.execute("SELECT kind, type, attribute FROM signal_tracking")}
    wanted = set(tracked.rows())
    changed = []
    for kind, event_type, attribute in sorted(held - wanted):
        table = "signal_last" if kind == "last_value" else "signal_distinct"
        conn.execute(
            f"DELETE FROM {table} WHERE type = %s AND attribute = %s",
            (event_type, attribute),
        )
        conn.execute(
            "DELETE FROM signal_tracking WHERE kind = %s AND type = %s AND attribute = %s",
            (kind, event_type, attribute),
        )
        changed.append(f"dropped {kind} {event_type}.{attribute}")
    for kind, event_type, attribute in sorted(wanted - held):
        _build(conn, kind, event_type, attribute)
        conn.execute(
            "INSERT INTO signal_tracking VALUES (%s, %s, %s)", (kind, event_type, attribute)
        )
        changed.append(f"built {kind} {event_type}.{attribute}")
    return changed


def _build(conn: Connection, kind: str, event_type: str, attribute: str) -> None:
    """Compute one newly tracked pair, for every subject, from the stored events."""
    params = {"type": event_type, "attribute": attribute}
    if kind == "last_value":
        conn.execute(
            "INSERT INTO signal_last SELECT DISTINCT ON (subject_id, purpose) subject_id,"
            f" purpose, %(type)s, %(attribute)s, {_VALUE}, occurred_at_us FROM events"
            " WHERE type = %(type)s AND attributes ? %(attribute)s"
            " ORDER BY subject_id, purpose, occurred_at_us DESC, id DESC"
            " ON CONFLICT DO NOTHING",
            params,
        )
    else:
        conn.execute(
            "INSERT INTO signal_distinct SELECT subject_id, purpose, %(type)s, %(attribute)s,"
            f" {_VALUE} AS v, max(occurred_at_us) FROM events"
            " WHERE type = %(type)s AND attributes ? %(attribute)s GROUP BY 1, 2, 5"
            " ON CONFLICT DO NOTHING",
            params,
        )


def forget(conn: Connection, subject_ids: Sequence[int], purpose: str | None = None) -> None:
    """Drop the state of these subjects (under one purpose, or all). Inside a transaction."""
    if not subject_ids:
        return
    only = "" if purpose is None else " AND purpose = %s"
    params: list[object] = [list(subject_ids)] + ([] if purpose is None else [purpose])
    for table in STATE_TABLES:
        conn.execute(
            f"DELETE FROM {table} WHERE subject_id = ANY(%s::bigint[]){only}",
            params,
        )


def after_purge(conn: Connection, purpose: str, cutoff_us: int, kept_from_us: int) -> None:
    """Take the events of `purpose` listed in the temporary table ``gone`` (subject_id,
    type, hour, n) out of the state, inside the purge's transaction: counts drop by what
    went; a latest value, or a value last seen, older than `cutoff_us` that may have gone
    with its event is recomputed from the events left, those at or after `kept_from_us`
    (0 once the chunk is deleted; a partition's end while it is still there). Set-based:
    a dropped partition may hold a million events."""
    p = {"purpose": purpose, "cutoff": cutoff_us, "kept": kept_from_us}
    conn.execute(
        "UPDATE signal_counts c SET n = c.n - g.n FROM (SELECT subject_id, type, hour,"
        " sum(n) AS n FROM gone GROUP BY 1, 2, 3) g WHERE c.subject_id = g.subject_id"
        " AND c.purpose = %(purpose)s AND c.type = g.type AND c.hour = g.hour",
        p,
    )
    conn.execute(
        "DELETE FROM signal_counts c USING gone g WHERE c.subject_id = g.subject_id"
        " AND c.purpose = %(purpose)s AND c.type = g.type AND c.hour = g.hour AND c.n <= 0",
        p,
    )
    conn.execute(
        "CREATE TEMP TABLE redo (subject_id bigint, type text, attribute text) ON COMMIT DROP"
    )
    for table, at, values in (
        ("signal_last", "at_us", _LAST_AGAIN),
        ("signal_distinct", "last_at_us", _DISTINCT_AGAIN),
    ):
        conn.execute(
            f"WITH d AS (DELETE FROM {table} x USING (SELECT DISTINCT subject_id, type"
            " FROM gone WHERE type IN (SELECT type FROM signal_tracking)) g"
            " WHERE x.subject_id = g.subject_id AND x.purpose = %(purpose)s AND x.type = g.type"
            f" AND x.{at} < %(cutoff)s RETURNING x.subject_id, x.type, x.attribute)"
            " INSERT INTO redo SELECT DISTINCT subject_id, type, attribute FROM d",
            p,
        )
        conn.execute(values, p)
        conn.execute("TRUNCATE redo")


# A recomputed attribute of the stored events, as the state holds it (a bool as 0/1).
_AGAIN_VALUE = (
    "CASE jsonb_typeof(e.attributes -> r.attribute) WHEN 'boolean'"
    " THEN to_jsonb((e.attributes ->> r.attribute)::boolean::int)"
    " ELSE e.attributes -> r.attribute END"
)
_AGAIN_FROM = (
    " FROM redo r JOIN events e ON e.subject_id = r.subject_id AND e.purpose = %(purpose)s"
    " AND e.type = r.type AND e.attributes ? r.attribute AND e.occurred_at_us >= %(kept)s"
)
_LAST_AGAIN = (
    "INSERT INTO signal_last SELECT DISTINCT ON (r.subject_id, r.type, r.attribute)"
    f" r.subject_id, %(purpose)s, r.type, r.attribute, {_AGAIN_VALUE}, e.occurred_at_us"
    + _AGAIN_FROM
    + " ORDER BY r.subject_id, r.type, r.attribute, e.occurred_at_us DESC, e.id DESC"
    " ON CONFLICT (subject_id, purpose, type, attribute) DO UPDATE"
    " SET value = excluded.value, at_us = excluded.at_us"
    " WHERE excluded.at_us > signal_last.at_us"
)
_DISTINCT_AGAIN = (
    "INSERT INTO signal_distinct SELECT r.subject_id, %(purpose)s, r.type, r.attribute,"
    f" {_AGAIN_VALUE} AS v, max(e.occurred_at_us)"
    + _AGAIN_FROM
    + " AND e.occurred_at_us < %(cutoff)s GROUP BY r.subject_id, r.type, r.attribute, v"
    " ON CONFLICT (subject_id, purpose, type, attribute, value) DO UPDATE"
    " SET last_at_us = greatest(signal_distinct.last_at_us, excluded.last_at_us)"
)


def merge(conn: Connection, old: int, new: int) -> None:
    """Fold the state of subject `old` into subject `new` (a rekey met both), then drop it."""
    conn.execute(
        "INSERT INTO signal_counts SELECT %s, purpose, type, hour, n FROM signal_counts"
        " WHERE subject_id = %s ON CONFLICT (subject_id, purpose, type, hour)"
        " DO UPDATE SET n = signal_counts.n + excluded.n",
        (new, old),
    )
    conn.execute(
        "INSERT INTO signal_last SELECT %s, purpose, type, attribute, value, at_us"
        " FROM signal_last WHERE subject_id = %s ON CONFLICT (subject_id, purpose, type,"
        " attribute) DO UPDATE SET value = excluded.value, at_us = excluded.at_us"
        " WHERE excluded.at_us > signal_last.at_us",
        (new, old),
    )
    conn.execute(
        "INSERT INTO signal_distinct SELECT %s, purpose, type, attribute, value, last_at_us"
        " FROM signal_distinct WHERE subject_id = %s ON CONFLICT (subject_id, purpose, type,"
        " attribute, value) DO UPDATE"
        " SET last_at_us = greatest(signal_distinct.last_at_us, excluded.last_at_us)",
        (new, old),
    )
    forget(conn, [old])
