"""The journey outcome's row, the same on every engine: its columns in order, the row a
RecordedOutcome stores, and the merge `scored` makes of a decision's outcomes
(journeys/outcomes.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import astuple, fields, replace
from typing import Any

from tactful.journeys.outcomes import AgentVerdict, OutcomeReport, RecordedOutcome, ScoredDecision

# The report's fields, in the table's order (one nullable column each).
REPORT_FIELDS = tuple(f.name for f in fields(OutcomeReport))
FLAGS = frozenset(f.name for f in fields(OutcomeReport) if f.type == "bool | None")
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
        name: (bool(v) if name in FLAGS else v)
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


# `scored` reads the journey memory's decisions joined with their outcomes, each
# decision's rows together and its outcomes oldest first: SCORED_COLUMNS, that is the
# decision's, the outcome's id (NULL: none reported), then REPORT_FIELDS.
SCORED_COLUMNS = (
    "m.decision_id, m.pseudonym, m.playbook_version, m.arm, m.action, m.rung,"
    " m.offered_at_us, o.id, " + ", ".join(f"o.{name}" for name in REPORT_FIELDS)
)
_EMPTY = OutcomeReport()
_FLAG_AT = tuple(i for i, name in enumerate(REPORT_FIELDS) if name in FLAGS)
_VERDICT_AT = REPORT_FIELDS.index("agent_verdict")
_VERDICTS: dict[Any, Any] = {None: None, **{v.value: v for v in AgentVerdict}}
_REPORT = 8  # where the report's columns start


def _report(values: list[Any]) -> OutcomeReport:
    """The report a row's REPORT_FIELDS store, made for a million rows: SQLite's flags
    (0 or 1) as bools, the verdict as its enum; every number arrives as its type (REAL
    columns give floats)."""
    for i in _FLAG_AT:
        if values[i] is not None:
            values[i] = bool(values[i])
    values[_VERDICT_AT] = _VERDICTS[values[_VERDICT_AT]]
    return OutcomeReport(*values)


def merged(rows: Iterable[Sequence[Any]]) -> list[ScoredDecision]:
    """One ScoredDecision per decision, from rows of the join with each decision's rows
    together and its outcomes oldest first: per field, the latest value reported."""
    scored: list[ScoredDecision] = []
    add = scored.append
    last: str | None = None
    for row in rows:
        decision_id = row[0]
        if decision_id == last:  # a later outcome of the same decision: fold it in
            earlier = scored[-1]
            values = list(row[_REPORT:])
            for i, value in enumerate(astuple(earlier.report)):
                if values[i] is None:
                    values[i] = value
            values[_VERDICT_AT] = getattr(values[_VERDICT_AT], "value", values[_VERDICT_AT])
            scored[-1] = replace(earlier, report=_report(values))
            continue
        last = decision_id
        report = _EMPTY if row[7] is None else _report(list(row[_REPORT:]))
        add(ScoredDecision(row[1], row[2], row[3], row[4], row[5], row[6], report))
    return scored
