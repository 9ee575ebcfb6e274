"""Release gates: a playbook's test cases, each a short journey of events and the action
and rung the engine must choose after them, run through the same code a server runs
(the contract's signals and segments over a replayed journey, the journey states, the
decision). A server refuses to load a playbook whose cases fail; `tactful journeys test`
runs them by hand.

A case's events happen one minute apart, the last one minute before the decision, at
`CASE_TIME` (a weekday noon in UTC, outside any quiet hours a playbook is likely to
declare), with nothing offered before. The person's consent is taken as granted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tactful.journeys.decide import Decision, Reason
from tactful.journeys.decider import Decider
from tactful.journeys.memory import MemoryJourneyMemory
from tactful.journeys.next_action import Ask
from tactful.journeys.playbook import Case, Playbook, Rung
from tactful.privacy.contract import Contract
from tactful.segments.reader import Reader
from tactful.segments.replay import ReplayedBehavior
from tactful.segments.store import AttributeScalar, JourneyEvent
from tactful.timestamps import to_us

CASE_TIME = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
_GAP = timedelta(minutes=1)
_SUBJECT = ("case",)


@dataclass(frozen=True)
class CaseResult:
    case: Case
    action: str | None
    rung: Rung
    reasons: tuple[Reason, ...]

    @property
    def passed(self) -> bool:
        return self.action == self.case.action and self.rung is self.case.rung

    def describe(self) -> str:
        """One line: the case, and what the engine chose when it differs."""
        if self.passed:
            return f"ok    {self.case.name}: {self.action} on rung {self.rung}"
        why = ", ".join(self.reasons) or "confident"
        return (
            f"FAIL  {self.case.name}: expected {self.case.action} on rung {self.case.rung}, "
            f"got {self.action} on rung {self.rung} ({why})"
        )


def replayed(case: Case, *, now: datetime = CASE_TIME) -> list[JourneyEvent]:
    count = len(case.events)
    return [
        JourneyEvent(event.type, to_us(now - _GAP * (count - i)), _scalars(event.attributes))
        for i, event in enumerate(case.events)
    ]


def run_case(playbook: Playbook, contract: Contract, case: Case) -> CaseResult:
    reader = Reader(contract, ReplayedBehavior(replayed(case)))
    decider = Decider(contract, {playbook.journey: playbook}, reader, MemoryJourneyMemory())
    decision: Decision
    decision, _, _ = decider.recommend(
        playbook, _SUBJECT, Ask(playbook.journey, step="case"), now=CASE_TIME
    )
    return CaseResult(case, decision.action, decision.rung, decision.reasons)


def run_cases(playbook: Playbook, contract: Contract) -> list[CaseResult]:
    return [run_case(playbook, contract, case) for case in playbook.cases]


def failures(playbook: Playbook, contract: Contract) -> list[str]:
    """A problem for each case that fails, named as a playbook problem is."""
    return [
        f"cases[{i}] ({r.case.name}): expected {r.case.action} on rung {r.case.rung}, "
        f"got {r.action} on rung {r.rung} ({', '.join(r.reasons) or 'confident'})"
        for i, r in enumerate(run_cases(playbook, contract))
        if not r.passed
    ]


def _scalars(attributes: Mapping[str, object]) -> dict[str, AttributeScalar]:
    """The case's attributes as a store would give them back (TOML values are scalars;
    anything else was refused when the playbook loaded)."""
    return {k: v for k, v in attributes.items() if isinstance(v, str | int | float | bool)}
