"""The journey's memory on PostgreSQL (journeys/memory.py's JourneyMemory), in the
behavior store's database (behavior_schema.py, step 4), so that erasure, export,
retention and the rekey's renames (subjects.py) reach it.

Each call is one statement on a connection of its own pool: calls from many threads
run at once. A statement alone is its own transaction, so it runs in autocommit: one
round trip to PostgreSQL, not three (BEGIN, the statement, COMMIT), on NextAction's
path twice (the recall, the remember). An offer remembered while an erasure of its
person runs is kept if it commits after the erasure, as on SQLite (where it waits for
the erasure's write lock): a decision made after an erasure is new data, as an event
recorded after it is.
"""

from __future__ import annotations

from collections.abc import Sequence

from tactful.journeys.memory import OfferResult, Remembered
from tactful.storage.journey_rows import COLUMNS, remembered
from tactful.storage.postgres import behavior_schema as layout
from tactful.storage.postgres.connection import Database
from tactful.storage.postgres.errors import translated


@translated
class PostgresJourneyMemory:
    def __init__(self, db: Database) -> None:
        """On `db` (which it owns). SchemaMismatch unless `tactful db migrate` is current."""
        try:
            layout.SCHEMA.check(db)
        except BaseException:
            db.close()
            raise
        self._db = db

    def remember(self, offer: Remembered) -> None:
        o = offer
        with self._db.autocommit() as conn:
            kept = conn.execute(
                f"INSERT INTO journey_memory ({COLUMNS})"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (decision_id) DO NOTHING",
                (o.decision_id, o.pseudonym, o.purpose, o.journey, o.action, o.kind, o.rung,
                 o.playbook_version, o.offered_at_us, o.result.value, o.amount, o.arm),
            ).rowcount  # fmt: skip
        if not kept:
            raise ValueError(f"decision {offer.decision_id} is already remembered")

    def recall(
        self, pseudonyms: Sequence[str], purpose: str, journey: str, since_us: int
    ) -> list[Remembered]:
        with self._db.autocommit() as conn:
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM journey_memory WHERE pseudonym = ANY(%s::text[])"
                " AND journey = %s AND offered_at_us >= %s AND purpose = %s"
                " ORDER BY offered_at_us, decision_id",
                [list(pseudonyms), journey, since_us, purpose],
            ).fetchall()
        return [remembered(row) for row in rows]

    def settle(self, pseudonyms: Sequence[str], decision_id: str, result: OfferResult) -> bool:
        with self._db.autocommit() as conn:
            changed = conn.execute(
                "UPDATE journey_memory SET result = %s WHERE decision_id = %s"
                " AND pseudonym = ANY(%s::text[])",
                [result.value, decision_id, list(pseudonyms)],
            ).rowcount
        return changed > 0

    def find(self, pseudonyms: Sequence[str], decision_id: str) -> Remembered | None:
        with self._db.autocommit() as conn:
            row = conn.execute(
                f"SELECT {COLUMNS} FROM journey_memory WHERE decision_id = %s"
                " AND pseudonym = ANY(%s::text[])",
                [decision_id, list(pseudonyms)],
            ).fetchone()
        return None if row is None else remembered(row)

    def compensation_spent(self, journey: str, since_us: int) -> float:
        with self._db.autocommit() as conn:
            row = conn.execute(
                "SELECT coalesce(sum(amount), 0) FROM journey_memory"
                " WHERE journey = %s AND offered_at_us >= %s AND kind = 'compensate'",
                [journey, since_us],
            ).fetchone()
        assert row is not None
        return float(row[0])

    def close(self) -> None:
        self._db.close()
