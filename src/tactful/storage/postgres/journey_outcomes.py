"""The journey outcomes on PostgreSQL (journeys/outcomes.py's OutcomeStore), in the
behavior store's database (behavior_schema.py, step 6) beside the journey memory, so
that erasure, export, retention and the rekey's renames (subjects.py) reach them, and
the scorecard joins the two in one statement.

Each call is one statement on a connection of its own pool. An outcome recorded while
an erasure of its person runs is kept if it commits after the erasure, as the journey
memory's offers are (journey_memory.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from tactful.journeys.outcomes import RecordedOutcome, ScoredDecision
from tactful.journeys.tallies import PersonValue, Tally
from tactful.storage import outcome_rows, outcome_tallies
from tactful.storage.outcome_rows import COLUMNS, SCORED_COLUMNS, WIDTH
from tactful.storage.postgres import behavior_schema as layout
from tactful.storage.postgres.connection import Database
from tactful.storage.postgres.errors import translated

_BOOLEAN = frozenset(outcome_rows.FLAGS)
# Each person's latest decision in one pass over the journey's rows, hashed by person
# (sorting a million of them by person costs twice as much): the greatest of time,
# decision id and the cell as one text in byte order (times are after 1970, so their
# zero-padded digits sort as numbers; ties on time go to the greatest decision id, as
# `scored` orders them), taken apart again.
_KEY = (
    "max(lpad(offered_at_us::text, 19, '0') || decision_id || chr(1) || playbook_version"
    ' || chr(1) || arm || chr(1) || action || chr(1) || rung COLLATE "C")'
)
_DIALECT = outcome_tallies.Dialect(
    chosen=(
        'SELECT substr(split_part(k, chr(1), 1), 20) COLLATE "default" AS decision_id,'
        " split_part(k, chr(1), 2)::integer AS playbook_version,"
        ' split_part(k, chr(1), 3) COLLATE "default" AS arm,'
        ' split_part(k, chr(1), 4) COLLATE "default" AS action,'
        ' split_part(k, chr(1), 5) COLLATE "default" AS rung'
        f" FROM (SELECT {_KEY} AS k FROM journey_memory WHERE journey = %(journey)s"
        " AND offered_at_us >= %(since)s AND offered_at_us < %(until)s GROUP BY pseudonym) l"
    ),
    floor=lambda value: f"CAST(floor({value}) AS bigint)",
    # PostgreSQL has no MAX of a boolean.
    one=lambda field: f"bool_or(o.{field})" if field in _BOOLEAN else f"MAX(o.{field})",
    outcomes="journey_outcomes x",
)


@translated
class PostgresJourneyOutcomes:
    def __init__(self, db: Database) -> None:
        """On `db` (which it owns). SchemaMismatch unless `tactful db migrate` is current."""
        try:
            layout.SCHEMA.check(db)
        except BaseException:
            db.close()
            raise
        self._db = db

    def record(self, outcome: RecordedOutcome) -> None:
        # One statement: its own transaction, one round trip (journey_memory.py).
        with self._db.autocommit() as conn:
            conn.execute(
                f"INSERT INTO journey_outcomes ({COLUMNS}) VALUES ({', '.join(['%s'] * WIDTH)})",
                outcome_rows.row_of(outcome),
            )

    def scored(self, journey: str, since_us: int, until_us: int) -> list[ScoredDecision]:
        with self._db.transaction() as conn:
            rows = conn.execute(
                f"SELECT {SCORED_COLUMNS} FROM journey_memory m"
                " LEFT JOIN journey_outcomes o ON o.decision_id = m.decision_id"
                " WHERE m.journey = %s AND m.offered_at_us >= %s AND m.offered_at_us < %s"
                # Byte order, as the scorecard's tallies break ties.
                ' ORDER BY m.offered_at_us, m.decision_id COLLATE "C", o.recorded_at_us, o.id',
                [journey, since_us, until_us],
            ).fetchall()
        return outcome_rows.merged(rows)

    def tallied(
        self, journey: str, since_us: int, until_us: int, values: Sequence[PersonValue]
    ) -> list[Tally]:
        """The scorecard's tallies, summed in one statement (storage/outcome_tallies.py)."""
        sql = outcome_tallies.statement(_DIALECT, values)
        with self._db.transaction() as conn:
            # Its hash tables in memory (the default 4 MB would spill a million rows to
            # disk), and no JIT (compiling costs more than it saves here); for this
            # transaction only.
            conn.execute("SET LOCAL work_mem = '128MB'")
            conn.execute("SET LOCAL jit = off")
            rows = conn.execute(
                sql, {"journey": journey, "since": since_us, "until": until_us}
            ).fetchall()
        return outcome_tallies.tallies(rows)

    def close(self) -> None:
        self._db.close()
