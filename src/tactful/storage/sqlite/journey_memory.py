"""The journey's memory on SQLite (journeys/memory.py's JourneyMemory), in a table of the
behavior file (behavior_schema.py, m011), so that erasure, export, retention and
rekeying (subjects.py) reach it in the transactions they already run.

Connections of its own, used by whichever thread serves a call (the event loop, a
reader or a writer thread) while the behavior store writes on its own: SQLite
connections are not shared between threads that run at once, so a lock takes the
calls in turn on each. Without it, writes from a few threads fail as "database is
locked", and a read joins the snapshot of another thread's read still under way on
the connection, older than the offer its own thread has just remembered (the
contract suite's test_contract_journey_memory.py sees both). Reads and writes have
a connection each: a write waits for the file's write lock (the behavior store's
batch, up to the busy timeout, then StoreBusy), and a read need not wait behind it.
Each call is one statement.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from tactful.journeys.memory import OfferResult, Remembered
from tactful.storage.journey_rows import COLUMNS, remembered
from tactful.storage.sqlite.behavior_schema import migrations, placeholders
from tactful.storage.sqlite.connection import connect
from tactful.storage.sqlite.errors import translated


@translated
class SqliteJourneyMemory:
    def __init__(self, path: Path) -> None:
        self._writer = connect(path)
        migrations.apply(self._writer)
        self._reader = connect(path)
        self._writing, self._reading = threading.Lock(), threading.Lock()

    def remember(self, offer: Remembered) -> None:
        o = offer
        with self._writing:
            kept = self._writer.conn.execute(
                f"INSERT INTO journey_memory ({COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (decision_id) DO NOTHING",
                (o.decision_id, o.pseudonym, o.purpose, o.journey, o.action, o.kind, o.rung,
                 o.playbook_version, o.offered_at_us, o.result.value, o.amount, o.arm),
            ).rowcount  # fmt: skip
        if not kept:
            raise ValueError(f"decision {offer.decision_id} is already remembered")

    def recall(
        self, pseudonyms: Sequence[str], purpose: str, journey: str, since_us: int
    ) -> list[Remembered]:
        with self._reading:
            rows = self._reader.conn.execute(
                f"SELECT {COLUMNS} FROM journey_memory INDEXED BY journey_memory_recall"
                f" WHERE pseudonym IN ({placeholders(pseudonyms)}) AND journey = ?"
                " AND offered_at_us >= ? AND purpose = ? ORDER BY offered_at_us, decision_id",
                [*pseudonyms, journey, since_us, purpose],
            ).fetchall()
        return [remembered(row) for row in rows]

    def settle(self, pseudonyms: Sequence[str], decision_id: str, result: OfferResult) -> bool:
        with self._writing:
            changed = self._writer.conn.execute(
                "UPDATE journey_memory SET result = ? WHERE decision_id = ?"
                f" AND pseudonym IN ({placeholders(pseudonyms)})",
                [result.value, decision_id, *pseudonyms],
            ).rowcount
        return changed > 0

    def find(self, pseudonyms: Sequence[str], decision_id: str) -> Remembered | None:
        with self._reading:
            row = self._reader.conn.execute(
                f"SELECT {COLUMNS} FROM journey_memory WHERE decision_id = ?"
                f" AND pseudonym IN ({placeholders(pseudonyms)})",
                [decision_id, *pseudonyms],
            ).fetchone()
        return None if row is None else remembered(row)

    def compensation_spent(self, journey: str, since_us: int) -> float:
        with self._reading:
            row = self._reader.conn.execute(
                "SELECT total(amount) FROM journey_memory INDEXED BY journey_memory_spent"
                " WHERE journey = ? AND offered_at_us >= ? AND kind = 'compensate'",
                [journey, since_us],
            ).fetchone()
        return float(row[0])

    def close(self) -> None:
        with self._writing, self._reading:
            self._writer.close()
            self._reader.close()
