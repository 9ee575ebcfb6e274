"""Whole-subject and whole-purpose operations on the behavior store: erasure,
suppression, export reads, and the retention purge; the journey memory's rows
(journey_memory.py) and the journey outcomes' (journey_outcomes.py) included, as the
behaviour data they are.

A connection of its own, so these can run from the command line while the
server is up; the server's writer notices their commits (`PRAGMA data_version`)
and drops what it had cached.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from tactful.journeys.memory import Remembered
from tactful.journeys.outcomes import RecordedOutcome
from tactful.lifecycle.subject_requests import HeldConsent, HeldEvent
from tactful.storage import journey_rows, outcome_rows
from tactful.storage.sqlite import signals as signal_state
from tactful.storage.sqlite.behavior_schema import SUBJECT_IDS, migrations, placeholders
from tactful.storage.sqlite.connection import connect
from tactful.storage.sqlite.errors import translated

# The tables keyed by a pseudonym, `subjects` last (erasure deletes in this order).
_KEYED = ("consent", "consent_history", "journey_memory", "journey_outcomes", "subjects")


@translated
class SqliteSubjectData:
    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        migrations.apply(self._db)

    # -- erasure and suppression ---------------------------------------------------------

    def erase(self, pseudonyms: Sequence[str]) -> dict[str, int]:
        """Delete everything held under any of `pseudonyms`, in one transaction."""
        marks, ids = placeholders(pseudonyms), SUBJECT_IDS.format(placeholders(pseudonyms))
        conn = self._db.conn
        deleted = {}
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            subject_ids = [i for (i,) in conn.execute(ids, pseudonyms)]
            signal_state.forget(conn, subject_ids)
            for table in ("events", "purpose_activity"):
                deleted[table] = conn.execute(
                    f"DELETE FROM {table} WHERE subject_id IN ({ids})", pseudonyms
                ).rowcount
            for table in _KEYED:
                deleted[table] = conn.execute(
                    f"DELETE FROM {table} WHERE pseudonym IN ({marks})", pseudonyms
                ).rowcount
        self.forget_deleted()
        return deleted

    def suppress(self, tombstone: str, *, at_us: int) -> None:
        """Record a suppression tombstone (privacy/suppression.py)."""
        with self._db.conn as conn:
            conn.execute(
                "INSERT OR IGNORE INTO suppression_tombstones VALUES (?, ?)", (tombstone, at_us)
            )

    def legacy_tombstones(self) -> list[str]:
        """Tombstones from before the suppression key: the person's pseudonym."""
        return [row[0] for row in self._db.conn.execute("SELECT pseudonym FROM suppressed")]

    def rename_legacy_tombstones(self, renamed: Sequence[tuple[str, str]]) -> None:
        conn = self._db.conn
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            for old, new in renamed:
                conn.execute(
                    "INSERT OR IGNORE INTO suppression_tombstones"
                    " SELECT ?, coalesce(recorded_at_us, 0) FROM suppressed WHERE pseudonym = ?",
                    (new, old),
                )
                conn.execute("DELETE FROM suppressed WHERE pseudonym = ?", (old,))

    # -- export ---------------------------------------------------------------------------

    def events_of(self, pseudonyms: Sequence[str]) -> list[HeldEvent]:
        rows = self._db.conn.execute(
            "SELECT purpose, type, occurred_at_us, received_at_us, attributes FROM events"
            f" WHERE subject_id IN ({SUBJECT_IDS.format(placeholders(pseudonyms))})"
            " ORDER BY occurred_at_us, id",
            pseudonyms,
        )
        return [HeldEvent(p, t, o, r, json.loads(a) if a else {}) for p, t, o, r, a in rows]

    def consent_history_of(self, pseudonyms: Sequence[str]) -> list[HeldConsent]:
        rows = self._db.conn.execute(
            "SELECT purpose, granted, source, recorded_at_us FROM consent_history"
            f" WHERE pseudonym IN ({placeholders(pseudonyms)}) ORDER BY id",
            pseudonyms,
        )
        return [HeldConsent(p, bool(g), s, at) for p, g, s, at in rows]

    def journey_memory_of(self, pseudonyms: Sequence[str]) -> list[Remembered]:
        rows = self._db.conn.execute(
            f"SELECT {journey_rows.COLUMNS} FROM journey_memory"
            f" WHERE pseudonym IN ({placeholders(pseudonyms)}) ORDER BY offered_at_us, decision_id",
            pseudonyms,
        )
        return [journey_rows.remembered(row) for row in rows]

    def journey_outcomes_of(self, pseudonyms: Sequence[str]) -> list[RecordedOutcome]:
        rows = self._db.conn.execute(
            f"SELECT {outcome_rows.COLUMNS} FROM journey_outcomes"
            f" WHERE pseudonym IN ({placeholders(pseudonyms)}) ORDER BY recorded_at_us, id",
            pseudonyms,
        )
        return [outcome_rows.recorded(row) for row in rows]

    # -- retention --------------------------------------------------------------------------

    def count_older(self, purpose: str, cutoff_us: int) -> int:
        row = self._db.conn.execute(
            "SELECT count(*) FROM events WHERE purpose = ? AND occurred_at_us < ?",
            (purpose, cutoff_us),
        ).fetchone()
        return int(row[0])

    def purge_older(self, purpose: str, cutoff_us: int, *, limit: int) -> int:
        """Delete up to `limit` events of `purpose` older than the cut-off, and bring the
        activity of the subjects they belonged to up to date, in one transaction."""
        conn = self._db.conn
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            doomed = conn.execute(
                "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE purpose = ?"
                " AND occurred_at_us < ? ORDER BY occurred_at_us LIMIT ?)"
                " RETURNING subject_id, type, occurred_at_us",
                (purpose, cutoff_us, limit),
            ).fetchall()
            if not doomed:
                return 0
            # The oldest events went: counts drop, first-seen moves to the oldest left,
            # last-seen stays (or the row goes with the subject's last event).
            per_subject = Counter(s for s, _, _ in doomed)
            conn.executemany(
                "UPDATE purpose_activity SET event_count = event_count - ?3, first_seen_us ="
                " coalesce((SELECT min(occurred_at_us) FROM events INDEXED BY events_subject"
                " WHERE subject_id = ?1 AND purpose = ?2), first_seen_us)"
                " WHERE subject_id = ?1 AND purpose = ?2",
                [(sid, purpose, n) for sid, n in per_subject.items()],
            )
            conn.executemany(
                "DELETE FROM purpose_activity"
                " WHERE subject_id = ? AND purpose = ? AND event_count <= 0",
                [(sid, purpose) for sid in per_subject],
            )
            signal_state.after_purge(conn, purpose, cutoff_us, doomed)
        return len(doomed)

    def count_journey_memory_older(self, purpose: str, cutoff_us: int) -> int:
        row = self._db.conn.execute(
            "SELECT count(*) FROM journey_memory WHERE purpose = ? AND offered_at_us < ?",
            (purpose, cutoff_us),
        ).fetchone()
        return int(row[0])

    def purge_journey_memory_older(self, purpose: str, cutoff_us: int, *, limit: int) -> int:
        """Delete up to `limit` remembered offers of `purpose` older than the cut-off."""
        with self._db.conn as conn:
            return conn.execute(
                "DELETE FROM journey_memory WHERE decision_id IN (SELECT decision_id"
                " FROM journey_memory INDEXED BY journey_memory_purpose WHERE purpose = ?"
                " AND offered_at_us < ? ORDER BY offered_at_us LIMIT ?)",
                (purpose, cutoff_us, limit),
            ).rowcount

    def count_journey_outcomes_older(self, purpose: str, cutoff_us: int) -> int:
        row = self._db.conn.execute(
            "SELECT count(*) FROM journey_outcomes WHERE purpose = ? AND recorded_at_us < ?",
            (purpose, cutoff_us),
        ).fetchone()
        return int(row[0])

    def purge_journey_outcomes_older(self, purpose: str, cutoff_us: int, *, limit: int) -> int:
        """Delete up to `limit` outcomes of `purpose` recorded before the cut-off."""
        with self._db.conn as conn:
            return conn.execute(
                "DELETE FROM journey_outcomes WHERE id IN (SELECT id FROM journey_outcomes"
                " INDEXED BY journey_outcomes_purpose WHERE purpose = ?"
                " AND recorded_at_us < ? ORDER BY recorded_at_us LIMIT ?)",
                (purpose, cutoff_us, limit),
            ).rowcount

    def active_since(
        self, pseudonyms: Sequence[str], since_us: int, kept_from: Mapping[str, int]
    ) -> set[str]:
        """Those of `pseudonyms` with an event at or after `since_us` that their purpose
        also keeps (`kept_from`: purpose -> its retention cut-off): activity the purge
        is removing, or would remove in a dry run, does not count."""
        cutoffs = ",".join("(?, ?)" for _ in kept_from)
        rows = self._db.conn.execute(
            f"WITH kept(purpose, cutoff) AS (VALUES {cutoffs})"
            " SELECT DISTINCT s.pseudonym FROM purpose_activity a JOIN kept USING (purpose)"
            " JOIN subjects s ON s.id = a.subject_id"
            f" WHERE s.pseudonym IN ({placeholders(pseudonyms)})"
            " AND a.last_seen_us >= max(?, kept.cutoff)",
            [*(v for item in kept_from.items() for v in item), *pseudonyms, since_us],
        )
        return {row[0] for row in rows}

    def forget_deleted(self) -> None:
        """Fold the WAL into the database and empty it: deleted rows' old page images
        must not outlive the deletion there (secure_delete overwrote them in the file)."""
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        self._db.close()

    # -- key rotation -------------------------------------------------------------------

    def rename(self, old: str, new: str) -> None:
        """Everything held under `old` now under `new`, merged with what `new` already has
        (the server may have recorded the person under the new key meanwhile)."""
        conn = self._db.conn
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            ids = dict(
                conn.execute(
                    "SELECT pseudonym, id FROM subjects WHERE pseudonym IN (?, ?)", (old, new)
                ).fetchall()
            )
            if old in ids and new in ids:
                conn.execute(
                    "UPDATE events SET subject_id = ? WHERE subject_id = ?", (ids[new], ids[old])
                )
                signal_state.merge(conn, ids[old], ids[new])
                conn.execute(
                    """
                    INSERT INTO purpose_activity
                    SELECT ?, purpose, first_seen_us, last_seen_us, event_count
                    FROM purpose_activity WHERE subject_id = ?
                    ON CONFLICT (subject_id, purpose) DO UPDATE SET
                        first_seen_us = min(first_seen_us, excluded.first_seen_us),
                        last_seen_us = max(last_seen_us, excluded.last_seen_us),
                        event_count = event_count + excluded.event_count""",
                    (ids[new], ids[old]),
                )
                conn.execute("DELETE FROM purpose_activity WHERE subject_id = ?", (ids[old],))
                conn.execute("DELETE FROM subjects WHERE id = ?", (ids[old],))
            elif old in ids:  # everything derived is keyed by the subject id, which stays
                conn.execute("UPDATE subjects SET pseudonym = ? WHERE id = ?", (new, ids[old]))
            conn.execute(
                """
                INSERT INTO consent SELECT ?, purpose, granted, updated_at_us
                FROM consent WHERE pseudonym = ?
                ON CONFLICT (pseudonym, purpose) DO UPDATE SET
                    granted = excluded.granted, updated_at_us = excluded.updated_at_us
                WHERE excluded.updated_at_us > consent.updated_at_us""",
                (new, old),
            )
            conn.execute("DELETE FROM consent WHERE pseudonym = ?", (old,))
            for table in ("consent_history", "journey_memory", "journey_outcomes"):
                conn.execute(f"UPDATE {table} SET pseudonym = ? WHERE pseudonym = ?", (new, old))

    def count_with_prefix(self, prefix: str) -> int:
        """Rows of any table keyed by a pseudonym that starts with `prefix`. Suppression
        tombstones are keyed by a key of their own, which no pseudonym version retires."""
        total = 0
        for table in _KEYED:
            row = self._db.execute(
                f"SELECT count(*) FROM {table} WHERE substr(pseudonym, 1, ?) = ?",
                [len(prefix), prefix],
            ).fetchone()
            total += int(row[0])
        return total
