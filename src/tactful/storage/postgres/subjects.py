"""Whole-subject and whole-purpose operations on the PostgreSQL behavior store:
erasure, suppression, export reads, the retention purge and the rekey's renames; the
journey memory's rows (journey_memory.py) and the journey outcomes'
(journey_outcomes.py) included, as the behaviour data they are.

Each takes the advisory locks a batch respects (behavior_schema.py) before it reads or
changes what a batch may be writing: an erasure and a rename hold their people's
stripes exclusively, a suppression its tombstone's, a purge that drops a partition its
purpose's. A purge drops each whole expired day partition of a purpose (after taking
its events out of activity and signal state) and deletes the day that straddles the
cut-off in chunks, as SQLite deletes everything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from psycopg import sql

from tactful.journeys.memory import Remembered
from tactful.journeys.outcomes import RecordedOutcome
from tactful.lifecycle.subject_requests import HeldConsent, HeldEvent
from tactful.segments.signal_state import HOUR_US
from tactful.storage import journey_rows, outcome_rows
from tactful.storage.postgres import behavior_schema as layout
from tactful.storage.postgres import signals as signal_state
from tactful.storage.postgres.connection import Connection, Database
from tactful.storage.postgres.errors import translated

_IDS = "SELECT id FROM subjects WHERE pseudonym = ANY(%s::text[])"


# The tables keyed by a pseudonym, `subjects` last (erasure deletes in this order).
_KEYED = ("consent", "consent_history", "journey_memory", "journey_outcomes", "subjects")


@translated
class PostgresSubjectData:
    def __init__(self, db: Database) -> None:
        """On `db` (which it owns). SchemaMismatch unless `tactful db migrate` is current."""
        try:
            layout.SCHEMA.check(db)
        except BaseException:
            db.close()
            raise
        self._db = db

    # -- erasure and suppression ---------------------------------------------------------

    def erase(self, pseudonyms: Sequence[str]) -> dict[str, int]:
        """Delete everything held under any of `pseudonyms`, in one transaction, after every
        batch storing for them has committed."""
        names = list(pseudonyms)
        deleted = {}
        with self._db.transaction() as conn:
            layout.lock(conn, layout.stripes(layout.SUBJECT, names), shared=False)
            subject_ids = [i for (i,) in conn.execute(_IDS, [names])]
            signal_state.forget(conn, subject_ids)
            for table in ("events", "purpose_activity"):
                deleted[table] = conn.execute(
                    sql.SQL("DELETE FROM {} WHERE subject_id = ANY(%s::bigint[])").format(
                        sql.Identifier(table)
                    ),
                    [subject_ids],
                ).rowcount
            for table in _KEYED:
                deleted[table] = conn.execute(
                    sql.SQL("DELETE FROM {} WHERE pseudonym = ANY(%s::text[])").format(
                        sql.Identifier(table)
                    ),
                    [names],
                ).rowcount
        return deleted

    def suppress(self, tombstone: str, *, at_us: int) -> None:
        """Record a suppression tombstone (privacy/suppression.py), after every batch that
        checked it has committed; a batch checking it later sees it."""
        with self._db.transaction() as conn:
            layout.lock(conn, layout.stripes(layout.TOMBSTONE, [tombstone]), shared=False)
            conn.execute(
                "INSERT INTO suppression_tombstones VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (tombstone, at_us),
            )

    def legacy_tombstones(self) -> list[str]:
        """Tombstones from before the suppression key: the person's pseudonym."""
        with self._db.transaction() as conn:
            return [row[0] for row in conn.execute("SELECT pseudonym FROM suppressed")]

    def rename_legacy_tombstones(self, renamed: Sequence[tuple[str, str]]) -> None:
        with self._db.transaction() as conn:
            layout.lock(conn, layout.stripes(layout.TOMBSTONE, [n for _, n in renamed]),
                        shared=False)  # fmt: skip
            for old, new in renamed:
                conn.execute(
                    "INSERT INTO suppression_tombstones SELECT %s, coalesce(recorded_at_us, 0)"
                    " FROM suppressed WHERE pseudonym = %s ON CONFLICT DO NOTHING",
                    (new, old),
                )
                conn.execute("DELETE FROM suppressed WHERE pseudonym = %s", (old,))

    # -- export ---------------------------------------------------------------------------

    def events_of(self, pseudonyms: Sequence[str]) -> list[HeldEvent]:
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT purpose, type, occurred_at_us, received_at_us, attributes FROM events"
                f" WHERE subject_id IN ({_IDS}) ORDER BY occurred_at_us, id",
                [list(pseudonyms)],
            ).fetchall()
        return [HeldEvent(p, t, o, r, a or {}) for p, t, o, r, a in rows]

    def consent_history_of(self, pseudonyms: Sequence[str]) -> list[HeldConsent]:
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT purpose, granted, source, recorded_at_us FROM consent_history"
                " WHERE pseudonym = ANY(%s::text[]) ORDER BY id",
                [list(pseudonyms)],
            ).fetchall()
        return [HeldConsent(p, bool(g), s, at) for p, g, s, at in rows]

    def journey_memory_of(self, pseudonyms: Sequence[str]) -> list[Remembered]:
        with self._db.transaction() as conn:
            rows = conn.execute(
                f"SELECT {journey_rows.COLUMNS} FROM journey_memory"
                " WHERE pseudonym = ANY(%s::text[]) ORDER BY offered_at_us, decision_id",
                [list(pseudonyms)],
            ).fetchall()
        return [journey_rows.remembered(row) for row in rows]

    def journey_outcomes_of(self, pseudonyms: Sequence[str]) -> list[RecordedOutcome]:
        with self._db.transaction() as conn:
            rows = conn.execute(
                f"SELECT {outcome_rows.COLUMNS} FROM journey_outcomes"
                " WHERE pseudonym = ANY(%s::text[]) ORDER BY recorded_at_us, id",
                [list(pseudonyms)],
            ).fetchall()
        return [outcome_rows.recorded(row) for row in rows]

    # -- retention --------------------------------------------------------------------------

    def count_older(self, purpose: str, cutoff_us: int) -> int:
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT count(*) FROM events WHERE purpose = %s AND occurred_at_us < %s",
                (purpose, cutoff_us),
            ).fetchone()
        assert row is not None
        return int(row[0])

    def purge_older(self, purpose: str, cutoff_us: int, *, limit: int) -> int:
        """Delete the events of `purpose` older than the cut-off: every whole day partition
        before it (dropped, each in a transaction of its own), then up to `limit` events of
        the day that straddles it; activity and signal state of the subjects they
        belonged to brought up to date in the same transactions. Returns how many events
        went: fewer than `limit` only when none older is left."""
        total = 0
        with self._db.transaction() as conn:
            days = layout.days_of(conn, purpose)
        for day in days:
            if (day + 1) * layout.DAY_US > cutoff_us:
                break
            total += self._drop_day(purpose, day, cutoff_us)
        return total + self._delete_chunk(purpose, cutoff_us, limit)

    def _drop_day(self, purpose: str, day: int, cutoff_us: int) -> int:
        table = layout.day_table(purpose, day)
        with self._db.transaction() as conn:
            # No batch stores under the purpose meanwhile: nothing arrives in the day
            # between counting what goes and dropping it.
            layout.lock(conn, [layout.purpose_key(purpose)], shared=False)
            if conn.execute("SELECT to_regclass(%s)", [table]).fetchone() == (None,):
                return 0  # another purge dropped it
            _gone_table(conn)
            # Through the parent (the partition is pruned to this day's): the server
            # role has rights on the parent, not on the partitions the owner made.
            conn.execute(
                "INSERT INTO gone SELECT subject_id, type, occurred_at_us / %s, count(*)"
                " FROM events WHERE purpose = %s AND occurred_at_us >= %s"
                " AND occurred_at_us < %s GROUP BY 1, 2, 3",
                [HOUR_US, purpose, day * layout.DAY_US, (day + 1) * layout.DAY_US],
            )
            gone = _forget_gone(conn, purpose, cutoff_us, kept_from_us=(day + 1) * layout.DAY_US)
            conn.execute("SELECT tactful_drop_day(%s, %s)", [purpose, day])
        return gone

    def _delete_chunk(self, purpose: str, cutoff_us: int, limit: int) -> int:
        with self._db.transaction() as conn:
            _gone_table(conn)
            conn.execute(
                "WITH d AS (DELETE FROM events WHERE purpose = %(purpose)s"
                " AND occurred_at_us < %(cutoff)s AND id IN (SELECT id FROM events"
                " WHERE purpose = %(purpose)s AND occurred_at_us < %(cutoff)s"
                " ORDER BY occurred_at_us LIMIT %(limit)s)"
                " RETURNING subject_id, type, occurred_at_us)"
                " INSERT INTO gone SELECT subject_id, type, occurred_at_us / %(hour)s, count(*)"
                " FROM d GROUP BY 1, 2, 3",
                {"purpose": purpose, "cutoff": cutoff_us, "limit": limit, "hour": HOUR_US},
            )
            return _forget_gone(conn, purpose, cutoff_us, kept_from_us=0)

    def count_journey_memory_older(self, purpose: str, cutoff_us: int) -> int:
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT count(*) FROM journey_memory WHERE purpose = %s AND offered_at_us < %s",
                (purpose, cutoff_us),
            ).fetchone()
        assert row is not None
        return int(row[0])

    def purge_journey_memory_older(self, purpose: str, cutoff_us: int, *, limit: int) -> int:
        """Delete up to `limit` remembered offers of `purpose` older than the cut-off."""
        with self._db.transaction() as conn:
            return conn.execute(
                "DELETE FROM journey_memory WHERE decision_id IN (SELECT decision_id"
                " FROM journey_memory WHERE purpose = %s AND offered_at_us < %s"
                " ORDER BY offered_at_us LIMIT %s)",
                (purpose, cutoff_us, limit),
            ).rowcount

    def count_journey_outcomes_older(self, purpose: str, cutoff_us: int) -> int:
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT count(*) FROM journey_outcomes WHERE purpose = %s AND recorded_at_us < %s",
                (purpose, cutoff_us),
            ).fetchone()
        assert row is not None
        return int(row[0])

    def purge_journey_outcomes_older(self, purpose: str, cutoff_us: int, *, limit: int) -> int:
        """Delete up to `limit` outcomes of `purpose` recorded before the cut-off."""
        with self._db.transaction() as conn:
            return conn.execute(
                "DELETE FROM journey_outcomes WHERE id IN (SELECT id FROM journey_outcomes"
                " WHERE purpose = %s AND recorded_at_us < %s ORDER BY recorded_at_us LIMIT %s)",
                (purpose, cutoff_us, limit),
            ).rowcount

    def active_since(
        self, pseudonyms: Sequence[str], since_us: int, kept_from: Mapping[str, int]
    ) -> set[str]:
        """Those of `pseudonyms` with an event at or after `since_us` that their purpose
        also keeps (`kept_from`: purpose -> its retention cut-off)."""
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT DISTINCT s.pseudonym FROM purpose_activity a"
                " JOIN unnest(%s::text[], %s::bigint[]) AS kept(purpose, cutoff) USING (purpose)"
                " JOIN subjects s ON s.id = a.subject_id WHERE s.pseudonym = ANY(%s::text[])"
                " AND a.last_seen_us >= greatest(%s, kept.cutoff)",
                [list(kept_from), list(kept_from.values()), list(pseudonyms), since_us],
            ).fetchall()
        return {row[0] for row in rows}

    def forget_deleted(self) -> None:
        """Nothing the engine can do from here: deleted rows' old versions stay in their
        pages until VACUUM reclaims them (autovacuum does), and in the WAL, replicas and
        backups until the operator's retention of those expires them
        (docs/operations/backups.md)."""

    def close(self) -> None:
        self._db.close()

    # -- key rotation -------------------------------------------------------------------

    def rename(self, old: str, new: str) -> None:
        """Everything held under `old` now under `new`, merged with what `new` already has
        (a server may have recorded the person under the new key meanwhile)."""
        with self._db.transaction() as conn:
            layout.lock(conn, layout.stripes(layout.SUBJECT, [old, new]), shared=False)
            ids = dict(
                conn.execute(
                    "SELECT pseudonym, id FROM subjects WHERE pseudonym IN (%s, %s)", (old, new)
                ).fetchall()
            )
            if old in ids and new in ids:
                _merge(conn, ids[old], ids[new])
            elif old in ids:  # everything derived is keyed by the subject id, which stays
                conn.execute("UPDATE subjects SET pseudonym = %s WHERE id = %s", (new, ids[old]))
            conn.execute(
                "INSERT INTO consent SELECT %s, purpose, granted, updated_at_us"
                " FROM consent WHERE pseudonym = %s ON CONFLICT (pseudonym, purpose) DO UPDATE"
                " SET granted = excluded.granted, updated_at_us = excluded.updated_at_us"
                " WHERE excluded.updated_at_us > consent.updated_at_us",
                (new, old),
            )
            conn.execute("DELETE FROM consent WHERE pseudonym = %s", (old,))
            for table in ("consent_history", "journey_memory", "journey_outcomes"):
                conn.execute(
                    sql.SQL("UPDATE {} SET pseudonym = %s WHERE pseudonym = %s").format(
                        sql.Identifier(table)
                    ),
                    (new, old),
                )

    def count_with_prefix(self, prefix: str) -> int:
        """Rows of any table keyed by a pseudonym that starts with `prefix`. Suppression
        tombstones are keyed by a key of their own, which no pseudonym version retires."""
        total = 0
        with self._db.transaction() as conn:
            for table in _KEYED:
                row = conn.execute(
                    sql.SQL("SELECT count(*) FROM {} WHERE starts_with(pseudonym, %s)").format(
                        sql.Identifier(table)
                    ),
                    [prefix],
                ).fetchone()
                assert row is not None
                total += int(row[0])
        return total


def _gone_table(conn: Connection) -> None:
    conn.execute(
        "CREATE TEMP TABLE gone (subject_id bigint, type text, hour bigint, n bigint)"
        " ON COMMIT DROP"
    )


def _forget_gone(conn: Connection, purpose: str, cutoff_us: int, *, kept_from_us: int) -> int:
    """Take the events listed in ``gone`` out of activity and signal state; how many."""
    p = {"purpose": purpose, "kept": kept_from_us}
    # The activity rows first, in subject order: a batch that has written them commits
    # before the recount reads the events; one that has not waits, and adds to it after.
    conn.execute(
        "SELECT 1 FROM purpose_activity WHERE purpose = %(purpose)s AND subject_id IN"
        " (SELECT subject_id FROM gone) ORDER BY subject_id FOR UPDATE",
        p,
    )
    conn.execute(
        "UPDATE purpose_activity a SET event_count = a.event_count - g.n, first_seen_us ="
        " coalesce((SELECT e.occurred_at_us FROM events e WHERE e.subject_id = a.subject_id"
        " AND e.purpose = %(purpose)s AND e.occurred_at_us >= %(kept)s"
        " ORDER BY e.occurred_at_us LIMIT 1), a.first_seen_us)"
        " FROM (SELECT subject_id, sum(n) AS n FROM gone GROUP BY 1) g"
        " WHERE a.subject_id = g.subject_id AND a.purpose = %(purpose)s",
        p,
    )
    conn.execute(
        "DELETE FROM purpose_activity a USING (SELECT DISTINCT subject_id FROM gone) g"
        " WHERE a.subject_id = g.subject_id AND a.purpose = %(purpose)s AND a.event_count <= 0",
        p,
    )
    signal_state.after_purge(conn, purpose, cutoff_us, kept_from_us)
    row = conn.execute("SELECT coalesce(sum(n), 0) FROM gone").fetchone()
    assert row is not None
    return int(row[0])


def _merge(conn: Connection, old: int, new: int) -> None:
    """Subject `old`'s events, activity and state folded into subject `new`'s."""
    conn.execute("UPDATE events SET subject_id = %s WHERE subject_id = %s", (new, old))
    signal_state.merge(conn, old, new)
    conn.execute(
        "INSERT INTO purpose_activity SELECT %s, purpose, first_seen_us, last_seen_us,"
        " event_count FROM purpose_activity WHERE subject_id = %s"
        " ON CONFLICT (subject_id, purpose) DO UPDATE SET"
        " first_seen_us = least(purpose_activity.first_seen_us, excluded.first_seen_us),"
        " last_seen_us = greatest(purpose_activity.last_seen_us, excluded.last_seen_us),"
        " event_count = purpose_activity.event_count + excluded.event_count",
        (new, old),
    )
    conn.execute("DELETE FROM purpose_activity WHERE subject_id = %s", (old,))
    conn.execute("DELETE FROM subjects WHERE id = %s", (old,))
