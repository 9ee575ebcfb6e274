"""Journeys.RecordOutcome over a real channel: an outcome kept for the person's decision
and read back merged, the refusals (an unknown decision, another person's, an
undeclared outcome, an effort of 8, a caller that may not claim the purpose), the
access record (names, never values), the export and the erasure, and the client's
record_outcome."""

from __future__ import annotations

import json
from datetime import timedelta

import grpc
import pytest

from tactful.app import stores
from tactful.client import InvalidArgument, PermissionDenied, connect
from tactful.client import Subject as ClientSubject
from tactful.journeys.outcomes import AgentVerdict, OutcomeReport
from tactful.v1 import common_pb2, journeys_pb2, journeys_pb2_grpc, subjects_pb2, subjects_pb2_grpc
from tests.api.test_access_log_service import pseudonym_of, query
from tests.api.test_journeys import CHECKOUT, FRONTEND, checkout, failed_payment, next_action
from tests.api.test_journeys import record as record_events
from tests.api.test_signals import error_info
from tests.conftest import T0, Tactful, bearer, email, token_for, violations

ADA, BOB = email("ada@example.com"), email("bob@example.org")
METHOD = "tactful.v1.Journeys/RecordOutcome"


def decided(tactful: Tactful, subject: common_pb2.SubjectRef = ADA) -> str:
    """A checkout_recovery decision for `subject`: its id."""
    record_events(tactful, *(e for e in (checkout(3), failed_payment(2))))
    return next_action(tactful, subject).decision_id


def record_outcome(
    tactful: Tactful, principal: str = FRONTEND, **fields: object
) -> journeys_pb2.RecordOutcomeResponse:
    fields.setdefault("subject", ADA)
    request = journeys_pb2.RecordOutcomeRequest(**fields)  # type: ignore[arg-type]
    stub = journeys_pb2_grpc.JourneysStub(tactful.channel)
    reply: journeys_pb2.RecordOutcomeResponse = stub.RecordOutcome(
        request, metadata=bearer(principal), timeout=10
    )
    return reply


def refused(tactful: Tactful, principal: str = FRONTEND, **fields: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        record_outcome(tactful, principal, **fields)
    return caught.value


def export(tactful: Tactful, subject: common_pb2.SubjectRef = ADA) -> dict[str, object]:
    stub = subjects_pb2_grpc.SubjectsStub(tactful.channel)
    reply = stub.ExportSubject(
        subjects_pb2.ExportSubjectRequest(subject=subject), metadata=bearer("privacy_ops"),
        timeout=10,
    )  # fmt: skip
    document: dict[str, object] = json.loads(reply.export_json)
    return document


def test_an_outcome_is_kept_for_the_persons_decision_and_scored_merged(tactful: Tactful) -> None:
    decision_id = decided(tactful)
    tactful.clock.advance(timedelta(minutes=5))

    reply = record_outcome(tactful, decision_id=decision_id, converted=False, effort=3)
    record_outcome(tactful, decision_id=decision_id, journey=CHECKOUT, converted=True,
                   recovered_amount=42.5)  # fmt: skip

    assert reply.recorded_at.ToDatetime().replace(tzinfo=T0.tzinfo) == T0 + timedelta(minutes=5)
    assert (reply.journey, reply.purpose) == (CHECKOUT, CHECKOUT)
    store = stores.open_journey_outcomes(tactful.settings)  # as the scorecard reads it
    try:
        [scored] = store.scored(CHECKOUT, 0, 2**62)
    finally:
        store.close()
    assert scored.pseudonym == pseudonym_of(tactful, ADA)
    assert scored.report == OutcomeReport(converted=True, recovered_amount=42.5, effort=3)


def test_the_access_record_names_the_outcomes_never_their_values(tactful: Tactful) -> None:
    decision_id = decided(tactful)
    record_outcome(tactful, decision_id=decision_id, converted=True, recovered_amount=1234.5,
                   effort=6)  # fmt: skip
    (logged,) = query(tactful, method=METHOD)
    assert (logged.purpose, logged.decision, logged.status) == (CHECKOUT, "allowed", "OK")
    assert list(logged.subjects) == [pseudonym_of(tactful, ADA)]
    assert list(logged.requested) == [
        "journey:checkout_recovery", "outcome:converted", "outcome:effort",
        "outcome:recovered_amount",
    ]  # fmt: skip
    assert list(logged.released) == [f"decision:{decision_id}"]
    everything = str(query(tactful, method=METHOD))
    for value in ("1234.5", "ada@example.com", "true", "True"):
        assert value not in everything


def test_an_unknown_decision_and_another_persons_are_refused_alike(tactful: Tactful) -> None:
    decision_id = decided(tactful)
    unknown = refused(tactful, decision_id="dec_unknown", converted=True)
    bobs = refused(tactful, subject=BOB, decision_id=decision_id, converted=True)
    for error in (unknown, bobs):
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert list(violations(error)) == ["decision_id"]
    assert "outcome:" not in str(query(tactful, method=METHOD))  # refused before the names
    assert export(tactful, BOB)["journey_outcomes"] == []
    assert export(tactful)["journey_outcomes"] == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"resolved": True}, "report.resolved"),  # checkout_recovery does not declare it
        ({"agent_verdict": journeys_pb2.AGENT_VERDICT_USED}, "report.agent_verdict"),
        ({"effort": 8}, "report.effort"),
        ({"recovered_amount": -5.0}, "report.recovered_amount"),
        ({}, "report"),
        ({"agent_verdict": 9}, "report.agent_verdict"),  # no such verdict
    ],
)
def test_undeclared_outcomes_and_bad_values_are_invalid_naming_the_field(
    tactful: Tactful, fields: dict[str, object], field: str
) -> None:
    decision_id = decided(tactful)
    error = refused(tactful, decision_id=decision_id, **fields)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert list(violations(error)) == [field]
    assert export(tactful)["journey_outcomes"] == []


@pytest.mark.parametrize(
    ("principal", "verdict"),
    [("support_widget", "PURPOSE_NOT_CLAIMABLE"), ("analyst", "ROLE_NOT_ALLOWED")],
)
def test_a_caller_that_may_not_claim_the_purpose_is_denied(
    tactful: Tactful, principal: str, verdict: str
) -> None:
    decision_id = decided(tactful)
    error = refused(tactful, principal, decision_id=decision_id, converted=True)
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    assert error_info(error).reason == verdict
    (logged,) = query(tactful, method=METHOD)
    assert (logged.decision, logged.status) == ("denied", "PERMISSION_DENIED")
    assert list(logged.released) == []
    assert export(tactful)["journey_outcomes"] == []


def test_the_export_lists_the_outcomes_and_the_erasure_removes_them(tactful: Tactful) -> None:
    decision_id = decided(tactful)
    record_outcome(tactful, decision_id=decision_id, abandoned=True, complaint=True)
    [listed] = export(tactful)["journey_outcomes"]  # type: ignore[misc]
    assert listed == {
        "decision_id": decision_id, "journey": CHECKOUT, "purpose": CHECKOUT,
        "recorded_at": T0.isoformat(), "abandoned": True, "complaint": True,
    }  # fmt: skip

    stub = subjects_pb2_grpc.SubjectsStub(tactful.channel)
    erased = stub.EraseSubject(
        subjects_pb2.EraseSubjectRequest(subject=ADA), metadata=bearer("privacy_ops"), timeout=10
    )
    assert erased.deleted["behavior.journey_outcomes"] == 1
    assert export(tactful)["journey_outcomes"] == []


def test_the_client_records_an_outcome_and_reports_a_refusal(tactful: Tactful) -> None:
    ada = ClientSubject("email", "ada@example.com")
    agent = "agent_console"
    record_events(tactful, checkout(3), failed_payment(2), purpose="agent_assist",
                  principal=agent)  # fmt: skip
    with connect(tactful.target, token_for(agent), plaintext=True) as client:
        decision = client.next_action(ada, "agent_assist", step="chat")
        kept = client.record_outcome(ada, decision.decision_id, resolved=True, handle_time_s=240.0,
                                     agent_verdict="changed")  # fmt: skip
        with pytest.raises(InvalidArgument) as unknown:
            client.record_outcome(ada, "dec_unknown", resolved=True)
        with pytest.raises(ValueError, match="agent_verdict"):
            client.record_outcome(ada, decision.decision_id, agent_verdict="ignored")
    analyst = connect(tactful.target, token_for("analyst"), plaintext=True)
    with analyst, pytest.raises(PermissionDenied):
        analyst.record_outcome(ada, decision.decision_id, resolved=True)
    assert (kept.journey, kept.purpose, kept.recorded_at) == ("agent_assist", "agent_assist", T0)
    assert kept.request_id
    assert [v.field for v in unknown.value.field_violations] == ["decision_id"]
    [listed] = export(tactful)["journey_outcomes"]  # type: ignore[misc]
    assert listed["agent_verdict"] == AgentVerdict.CHANGED.value
    assert listed["handle_time_s"] == 240.0
