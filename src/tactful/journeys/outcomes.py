"""What happened after a journey decision, as values: the outcome a frontend or an
agent reports (RecordOutcome), the recorded row, one decision with every outcome
reported on it merged (what the scorecard reads), and the store's protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class AgentVerdict(StrEnum):
    """The agent's verdict on the recommendation."""

    USED = "used"
    CHANGED = "changed"
    REJECTED = "rejected"


@dataclass(frozen=True)
class OutcomeReport:
    """What RecordOutcome carries; None = not reported."""

    resolved: bool | None = None
    contained: bool | None = None
    handed_off: bool | None = None
    reopened: bool | None = None
    abandoned: bool | None = None
    converted: bool | None = None
    complaint: bool | None = None
    recovered_amount: float | None = None  # >= 0
    effort: int | None = None  # 1..7
    time_to_resolution_s: float | None = None  # >= 0
    handle_time_s: float | None = None  # >= 0
    agent_verdict: AgentVerdict | None = None


@dataclass(frozen=True)
class RecordedOutcome:
    """One RecordOutcome call as stored."""

    decision_id: str
    pseudonym: str
    purpose: str
    journey: str
    recorded_at_us: int
    report: OutcomeReport


@dataclass(frozen=True)
class ScoredDecision:
    """One decision with every outcome reported on it, merged."""

    pseudonym: str
    playbook_version: int
    arm: str
    action: str
    rung: str
    decided_at_us: int
    report: OutcomeReport  # per field the latest non-None value reported; all None if none


class OutcomeStore(Protocol):
    def record(self, outcome: RecordedOutcome) -> None: ...

    def scored(self, journey: str, since_us: int, until_us: int) -> list[ScoredDecision]:
        """Every decision on `journey` made in [since_us, until_us) (from the journey
        memory, joined with its outcomes), whether or not an outcome was reported."""
        ...
