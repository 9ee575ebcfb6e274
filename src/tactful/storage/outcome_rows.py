"""The journey outcome's row, the same on every engine: its columns in order, the row a
RecordedOutcome stores, and the merge `scored` makes of a decision's outcomes
(journeys/outcomes.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields
from typing import Any

from tactful.journeys.outcomes import AgentVerdict, OutcomeReport, RecordedOutcome, ScoredDecision

# The report's fields, in the table's order (one nullable column each).
REPORT_FIELDS = tuple(f.name for f in fields(OutcomeReport))
_FLAGS = frozenset(f.name for f in fields(OutcomeReport) if f.type == "bool | None")
COLUMNS = "decision_id, pseudonym, purpose, journey, recorded_at_us, " + ", ".join(REPORT_FIELDS)
WIDTH = 5 + len(REPORT_FIELDS)


def row_of(outcome: RecordedOutcome) -> tuple[Any, ...]:
    o, r = outcome, outcome.report
    stored = [getattr(r, name) for name in REPORT_FIELDS]
    if r.agent_verdict is not None:
        stored[-1] = r.agent_verdict.value
    return (o.decision_id, o.pseudonym, o.purpose, o.journey, o.recorded_at_us, *stored)


def report_of(values: Sequence[Any]) -> OutcomeReport:
    """The report a row's REPORT_FIELDS columns store."""
    kept: dict[str, Any] = {
        name: (bool(v) if name in _FLAGS else v)
        for name, v in zip(REPORT_FIELDS, values, strict=True)
        if v is not None
    }
    if "agent_verdict" in kept:
        kept["agent_verdict"] = AgentVerdict(kept["agent_verdict"])
    if "recovered_amount" in kept:
        kept["recovered_amount"] = float(kept["recovered_amount"])
    for name in ("time_to_resolution_s", "handle_time_s"):
        if name in kept:
            kept[name] = float(kept[name])
    return OutcomeReport(**kept)


def recorded(row: Sequence[Any]) -> RecordedOutcome:
    """A row of COLUMNS as the value it stores."""
    decision_id, pseudonym, purpose, journey, at = row[:5]
    return RecordedOutcome(decision_id, pseudonym, purpose, journey, at, report_of(row[5:]))


# `scored` reads the journey memory's decisions joined with their outcomes, oldest
# outcome first per decision: SCORED_COLUMNS, then REPORT_FIELDS (NULL where none).
SCORED_COLUMNS = (
    "m.decision_id, m.pseudonym, m.playbook_version, m.arm, m.action, m.rung,"
    " m.offered_at_us, " + ", ".join(f"o.{name}" for name in REPORT_FIELDS)
)
_EMPTY = OutcomeReport()


def merged(rows: Iterable[Sequence[Any]]) -> list[ScoredDecision]:
    """One ScoredDecision per decision from rows of the join ordered by decision and
    then by when each outcome was recorded: per field, the latest value reported."""
    scored: list[ScoredDecision] = []
    current: str | None = None
    latest: list[Any] = []
    head: Sequence[Any] = ()

    def close() -> None:
        report = _EMPTY if all(v is None for v in latest) else report_of(latest)
        _, pseudonym, version, arm, action, rung, at = head
        scored.append(ScoredDecision(pseudonym, version, arm, action, rung, at, report))

    for row in rows:
        if row[0] != current:
            if current is not None:
                close()
            current, head, latest = row[0], row[:7], list(row[7:])
        else:
            for i, v in enumerate(row[7:]):
                if v is not None:
                    latest[i] = v
    if current is not None:
        close()
    return scored
