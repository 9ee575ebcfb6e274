"""RecordOutcome as a use case: what happened after a journey decision, checked against
the contract and kept by pseudonym under the journey's purpose (journeys/outcomes.py
holds the values).

A report names its decision by id and its subject: the decision must be that person's
(an unknown id and another person's get the same answer), and only the outcomes the
contract declares for the decision's journey are kept. The id is required rather than
"the person's latest decision on the journey": two decisions close together would make
that guess wrong, and an outcome counted against the wrong decision skews the
scorecard silently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime

from tactful.journeys.memory import JourneyMemory
from tactful.journeys.outcomes import OutcomeReport, OutcomeStore, RecordedOutcome
from tactful.journeys.playbook import Playbook
from tactful.privacy.consent import ConsentRecorder
from tactful.privacy.contract import Contract
from tactful.privacy.decisions import Action, Actor, Verdict, enforce
from tactful.privacy.decisions import Decision as AccessDecision
from tactful.privacy.decisions import decide as decide_access
from tactful.privacy.errors import InvalidRequest, Violation
from tactful.privacy.journey_specs import Outcome
from tactful.privacy.pseudonym import Pseudonymizer
from tactful.segments.ingest import SubjectInput
from tactful.timestamps import to_us

# The report's field -> the contract's outcome name it reports.
OUTCOME_OF: Mapping[str, Outcome] = {
    f.name: Outcome(f.name.removesuffix("_s")) for f in fields(OutcomeReport)
}
_AMOUNTS = ("recovered_amount", "time_to_resolution_s", "handle_time_s")  # >= 0, finite
EFFORT_RANGE = (1, 7)


@dataclass(frozen=True)
class OutcomeDecision:
    """RecordOutcome's answer before it is kept: the row, and what the access record says
    (requested: the journey and the outcome names, never their values; released: the
    decision)."""

    access: AccessDecision
    outcome: RecordedOutcome


def reported(report: OutcomeReport) -> tuple[str, ...]:
    """The names of the outcomes a report carries, in the report's order."""
    return tuple(
        OUTCOME_OF[f.name].value for f in fields(report) if getattr(report, f.name) is not None
    )


def check_report(report: OutcomeReport) -> None:
    """InvalidRequest naming `report.<field>` for every value out of range, or the report
    when it carries nothing."""
    problems = []
    for name in _AMOUNTS:
        value = getattr(report, name)
        if value is not None and not (math.isfinite(value) and value >= 0):
            problems.append(Violation(f"report.{name}", f"must be 0 or more, not {value}"))
    low, high = EFFORT_RANGE
    if report.effort is not None and not low <= report.effort <= high:
        problems.append(Violation("report.effort", f"must be {low} to {high}, not {report.effort}"))
    if not reported(report):
        problems.append(Violation("report", "reports no outcome"))
    if problems:
        raise InvalidRequest(problems)


class OutcomeRecorder:
    """RecordOutcome over the journey memory and the outcome store: the purpose's
    decision first (no lookup for a caller who may not record under the named journey's
    purpose), then the decision, the contract's outcomes, the purpose with the subject's
    consent, and the row."""

    def __init__(
        self,
        contract: Contract,
        playbooks: Mapping[str, Playbook],
        pseudonymizer: Pseudonymizer,
        consent: ConsentRecorder,
        memory: JourneyMemory,
        store: OutcomeStore,
    ) -> None:
        self._contract = contract
        self._purposes = {name: p.purpose for name, p in playbooks.items()}
        self._pseudonymizer = pseudonymizer
        self._consent = consent
        self._memory = memory
        self._store = store

    def check(
        self,
        actor: Actor,
        subject: SubjectInput,
        decision_id: str,
        journey: str | None,
        report: OutcomeReport,
        *,
        now: datetime,
    ) -> OutcomeDecision:
        """Everything but the write (reads only): `keep` stores what this returns."""
        if journey:
            self._may_record(actor, self._purpose(journey))
        else:
            self._may_record(actor, None)
        check_report(report)
        if not decision_id:
            raise InvalidRequest([Violation("decision_id", "is required")])
        candidates = self._pseudonymizer.resolve(subject.namespace, subject.identifier)
        found = self._memory.find(candidates, decision_id)
        if found is None or (journey and found.journey != journey):
            raise InvalidRequest(
                [Violation("decision_id", f"no decision {decision_id} for this subject")]
            )
        self._declared(found.journey, report)
        names = reported(report)
        access = enforce(
            decide_access(
                self._contract,
                actor,
                Action.RECORD_OUTCOME,
                found.purpose,
                (f"journey:{found.journey}", *(f"outcome:{n}" for n in names)),
                consent_granted=self._consent.is_granted(candidates, found.purpose),
            )
        )
        outcome = RecordedOutcome(
            decision_id, found.pseudonym, found.purpose, found.journey, to_us(now), report
        )
        return OutcomeDecision(replace(access, released=(f"decision:{decision_id}",)), outcome)

    def keep(self, decided: OutcomeDecision) -> None:
        self._store.record(decided.outcome)

    def record(
        self,
        actor: Actor,
        subject: SubjectInput,
        decision_id: str,
        journey: str | None,
        report: OutcomeReport,
        *,
        now: datetime,
    ) -> OutcomeDecision:
        """Check and keep, in one call (the server checks where it reads and keeps on its
        writer)."""
        decided = self.check(actor, subject, decision_id, journey, report, now=now)
        self.keep(decided)
        return decided

    def _purpose(self, journey: str) -> str:
        found = self._purposes.get(journey)
        if found is None:
            known = ", ".join(sorted(self._purposes)) or "none"
            raise InvalidRequest(
                [Violation("journey", f"journey {journey!r} is not declared; declared: {known}")]
            )
        return found

    def _may_record(self, actor: Actor, purpose: str | None) -> None:
        """Refuse a caller who may not record outcomes at all, or not under `purpose`,
        before anything about the subject is looked up."""
        decision = decide_access(
            self._contract, actor, Action.RECORD_OUTCOME, purpose or "", consent_granted=True
        )
        if purpose is not None or decision.verdict is Verdict.ROLE_NOT_ALLOWED:
            enforce(decision)

    def _declared(self, journey: str, report: OutcomeReport) -> None:
        spec = self._contract.journeys.get(journey)
        declared = spec.outcomes if spec is not None else frozenset()
        undeclared = [
            Violation(
                f"report.{f.name}",
                f"journey {journey} declares no outcome {OUTCOME_OF[f.name].value}"
                f" (declared: {', '.join(sorted(declared)) or 'none'})",
            )
            for f in fields(report)
            if getattr(report, f.name) is not None and OUTCOME_OF[f.name] not in declared
        ]
        if undeclared:
            raise InvalidRequest(undeclared)
