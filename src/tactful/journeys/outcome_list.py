"""The journey outcomes in a list, joined with the journey memory's list
(journeys/memory.py's MemoryJourneyMemory): the OutcomeStore every engine must agree
with, for tests, never for a server."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields

from tactful.journeys.memory import MemoryJourneyMemory
from tactful.journeys.outcomes import OutcomeReport, RecordedOutcome, ScoredDecision


class MemoryJourneyOutcomes:
    """An OutcomeStore in a list, joined with the memory's list: for tests, never for a
    server."""

    def __init__(self, memory: MemoryJourneyMemory) -> None:
        self._memory = memory
        self.outcomes: list[RecordedOutcome] = []

    def record(self, outcome: RecordedOutcome) -> None:
        self.outcomes.append(outcome)

    def scored(self, journey: str, since_us: int, until_us: int) -> list[ScoredDecision]:
        decisions = sorted(
            (
                d
                for d in self._memory.offers
                if d.journey == journey and since_us <= d.offered_at_us < until_us
            ),
            key=lambda d: (d.offered_at_us, d.decision_id),
        )
        return [
            ScoredDecision(
                d.pseudonym,
                d.playbook_version,
                d.arm,
                d.action,
                d.rung,
                d.offered_at_us,
                merge([o.report for o in self._of(d.decision_id)]),
            )  # fmt: skip
            for d in decisions
        ]

    def _of(self, decision_id: str) -> list[RecordedOutcome]:
        return sorted(
            (o for o in self.outcomes if o.decision_id == decision_id),
            key=lambda o: o.recorded_at_us,
        )


def merge(reports: Sequence[OutcomeReport]) -> OutcomeReport:
    """Per field, the latest value reported (reports oldest first)."""
    latest = {
        f.name: value
        for report in reports
        for f in fields(report)
        if (value := getattr(report, f.name)) is not None
    }
    return OutcomeReport(**latest)
