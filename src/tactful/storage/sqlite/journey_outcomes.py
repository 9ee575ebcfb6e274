"""The journey outcomes on SQLite (journeys/outcomes.py's OutcomeStore), in a table of
the behavior file (behavior_schema.py, m013) beside the journey memory, so that
erasure, export, retention and rekeying (subjects.py) reach them in the transactions
they already run, and the scorecard joins the two in one statement.

Connections of its own, a write's and a read's, each taken in turn under a lock, for
the reasons the journey memory gives (journey_memory.py).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from tactful.journeys.outcomes import RecordedOutcome, ScoredDecision
from tactful.journeys.tallies import PersonValue, Tally
from tactful.storage import outcome_rows, outcome_tallies
from tactful.storage.outcome_rows import COLUMNS, SCORED_COLUMNS, WIDTH
from tactful.storage.sqlite.behavior_schema import migrations
from tactful.storage.sqlite.connection import connect
from tactful.storage.sqlite.errors import translated

# Each person's latest decision in one covering read of the `recall` index (pseudonym,
# journey, time, and the decision id it carries): the greatest time, then decision id,
# as one text (times are after 1970, so their zero-padded digits sort as numbers).
# The decision ids come out sorted, so the lookups of their rows and outcomes walk
# the tables in order (half the time of looking them up in the people's order); a
# window function over the journey's rows would sort them all.
_DIALECT = outcome_tallies.Dialect(
    chosen=(
        "SELECT d.decision_id, d.playbook_version, d.arm, d.action, d.rung FROM ("
        " SELECT substr(MAX(printf('%019d', offered_at_us) || decision_id), 20) AS decision_id"
        " FROM journey_memory INDEXED BY journey_memory_recall"
        " WHERE journey = :journey AND offered_at_us >= :since AND offered_at_us < :until"
        " GROUP BY pseudonym ORDER BY 1) l"
        " JOIN journey_memory d ON d.decision_id = l.decision_id"
    ),
    floor=lambda value: f"CAST({value} AS INTEGER)",  # truncates: the floor of a positive
    one=lambda field: f"MAX(o.{field})",
    outcomes="journey_outcomes x INDEXED BY journey_outcomes_decision",
)


@translated
class SqliteJourneyOutcomes:
    def __init__(self, path: Path) -> None:
        self._writer = connect(path)
        migrations.apply(self._writer)
        self._reader = connect(path)
        self._writing, self._reading = threading.Lock(), threading.Lock()

    def record(self, outcome: RecordedOutcome) -> None:
        with self._writing:
            self._writer.conn.execute(
                f"INSERT INTO journey_outcomes ({COLUMNS}) VALUES ({', '.join('?' * WIDTH)})",
                outcome_rows.row_of(outcome),
            )

    def scored(self, journey: str, since_us: int, until_us: int) -> list[ScoredDecision]:
        with self._reading:
            rows = self._reader.conn.execute(
                f"SELECT {SCORED_COLUMNS} FROM journey_memory m INDEXED BY journey_memory_spent"
                " LEFT JOIN journey_outcomes o INDEXED BY journey_outcomes_decision"
                " ON o.decision_id = m.decision_id"
                " WHERE m.journey = ? AND m.offered_at_us >= ? AND m.offered_at_us < ?"
                # The order the loops give (the index's), so only each decision's few
                # outcomes are sorted.
                " ORDER BY m.offered_at_us, m.decision_id, o.recorded_at_us, o.id",
                [journey, since_us, until_us],
            )
            return outcome_rows.merged(rows)

    def tallied(
        self, journey: str, since_us: int, until_us: int, values: Sequence[PersonValue]
    ) -> list[Tally]:
        """The scorecard's tallies, summed in one statement (storage/outcome_tallies.py)."""
        sql = outcome_tallies.statement(_DIALECT, values)
        with self._reading:
            rows = self._reader.conn.execute(
                sql, {"journey": journey, "since": since_us, "until": until_us}
            ).fetchall()
        return outcome_tallies.tallies(rows)

    def close(self) -> None:
        with self._writing, self._reading:
            self._writer.close()
            self._reader.close()
