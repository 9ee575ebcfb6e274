"""Protobuf <-> domain conversion; the domain never sees a generated type."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from tactful.journeys.memory import OfferResult
from tactful.journeys.next_action import Ask, Attempt, JourneyDecision, JourneyHandoff, Previous
from tactful.journeys.outcome_recorder import OutcomeDecision
from tactful.journeys.outcomes import AgentVerdict, OutcomeReport
from tactful.privacy.errors import InvalidRequest, Violation
from tactful.segments.ingest import EventInput, SubjectInput
from tactful.segments.store import AttributeScalar
from tactful.v1 import common_pb2, journeys_pb2, personalization_pb2


def subject_from_proto(subject: common_pb2.SubjectRef) -> SubjectInput:
    return SubjectInput(subject.namespace, subject.id)


# The range google.protobuf.Timestamp defines; protobuf itself does not enforce it.
EARLIEST_SECONDS = -62135596800  # 0001-01-01T00:00:00Z
LATEST_SECONDS = 253402300799  # 9999-12-31T23:59:59Z


def timestamp_problem(timestamp: Timestamp) -> str | None:
    """What makes `timestamp` no valid point in time, or None: the one check for every
    Timestamp a client sends (a bad one would otherwise fail deep inside as INTERNAL).

    >>> timestamp_problem(Timestamp(seconds=0, nanos=10**9))
    'nanos is 1000000000; must be 0 to 999999999'
    """
    if not 0 <= timestamp.nanos <= 999_999_999:
        return f"nanos is {timestamp.nanos}; must be 0 to 999999999"
    if not EARLIEST_SECONDS <= timestamp.seconds <= LATEST_SECONDS:
        return (
            f"seconds is {timestamp.seconds}; must be between years 1 and 9999"
            f" ({EARLIEST_SECONDS} to {LATEST_SECONDS})"
        )
    return None


def timestamp_to_us(timestamp: Timestamp) -> int:
    """Microseconds since the epoch of a timestamp `timestamp_problem` accepts."""
    return timestamp.seconds * 1_000_000 + timestamp.nanos // 1000


def timestamp_from(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def attribute_from_proto(value: common_pb2.AttributeValue) -> AttributeScalar:
    kind = value.WhichOneof("value")
    if kind == "timestamp_value":
        return value.timestamp_value.ToDatetime(tzinfo=UTC)
    if kind is None:
        return ""
    result: AttributeScalar = getattr(value, kind)
    return result


def attribute_to_proto(value: AttributeScalar) -> common_pb2.AttributeValue:
    if isinstance(value, bool):
        return common_pb2.AttributeValue(bool_value=value)
    if isinstance(value, int):
        return common_pb2.AttributeValue(int_value=value)
    if isinstance(value, float):
        return common_pb2.AttributeValue(double_value=value)
    if isinstance(value, datetime):
        return common_pb2.AttributeValue(timestamp_value=timestamp_from(value))
    return common_pb2.AttributeValue(string_value=value)


def event_from_proto(event: common_pb2.Event) -> EventInput:
    """The event for the domain; timestamps that are no point in time stay out of it and
    are named in `malformed`, which the ingest check reports with the event's index.
    (`attribute_from_proto` inlined: this runs for every event of every batch; a map's
    keys and subscripts cost a third of its `items()`.)"""
    malformed: list[Violation] | None = None
    attributes: dict[str, AttributeScalar] = {}
    given = event.attributes
    for name in given:
        value = given[name]
        kind = value.WhichOneof("value")
        if kind == "timestamp_value":
            problem = timestamp_problem(value.timestamp_value)
            if problem:
                malformed = malformed or []
                malformed.append(Violation(f"attributes.{name}", problem))
            else:
                attributes[name] = value.timestamp_value.ToDatetime(tzinfo=UTC)
        elif kind is None:
            attributes[name] = ""
        else:
            attributes[name] = getattr(value, kind)
    occurred_at_us = None
    if event.HasField("occurred_at"):
        occurred_at = event.occurred_at
        seconds, nanos = occurred_at.seconds, occurred_at.nanos
        if 0 <= nanos <= 999_999_999 and EARLIEST_SECONDS <= seconds <= LATEST_SECONDS:
            occurred_at_us = seconds * 1_000_000 + nanos // 1000  # timestamp_to_us
        else:
            malformed = malformed or []
            malformed.append(Violation("occurred_at", str(timestamp_problem(occurred_at))))
    subject = event.subject
    return EventInput(
        SubjectInput(subject.namespace, subject.id),
        event.type,
        occurred_at_us,
        attributes,
        tuple(malformed) if malformed else (),
    )


def handoff_to_proto(
    journey_handoff: JourneyHandoff,
) -> personalization_pb2.GetHandoffContextResponse:
    """Withheld parts stay empty; `withheld` names them. The journey's parts are empty
    when the purpose has no journey."""
    handoff = journey_handoff.handoff
    reply = personalization_pb2.GetHandoffContextResponse(withheld=handoff.withheld)
    if handoff.intent is not None:
        reply.intent = str(handoff.intent.intent)
        reply.intent_confidence = handoff.intent.confidence
        if handoff.intent.runner_up is not None:
            reply.runner_up_intent = str(handoff.intent.runner_up)
            reply.runner_up_confidence = handoff.intent.runner_up_confidence
    for step in handoff.recent_steps or ():
        reply.recent_steps.add(type=step.type, occurred_at=timestamp_from(step.occurred_at))
    reply.last_error_codes.extend(handoff.last_error_codes or ())
    reply.frustration = "" if handoff.frustration is None else str(handoff.frustration)
    reply.next_action = handoff.next_action or ""
    reply.attempts.extend(attempt_to_proto(a) for a in journey_handoff.attempts or ())
    if journey_handoff.recommended is not None:
        reply.recommended.CopyFrom(recommended_to_proto(journey_handoff.recommended))
    return reply


# -- journeys --------------------------------------------------------------------------

OFFER_RESULTS: dict[OfferResult, journeys_pb2.OfferResult] = {
    OfferResult.ACCEPTED: journeys_pb2.OFFER_RESULT_ACCEPTED,
    OfferResult.REFUSED: journeys_pb2.OFFER_RESULT_REFUSED,
    OfferResult.FAILED: journeys_pb2.OFFER_RESULT_FAILED,
    OfferResult.IGNORED: journeys_pb2.OFFER_RESULT_IGNORED,
    OfferResult.OFFERED: journeys_pb2.OFFER_RESULT_OFFERED,
}
# What a frontend may report of an offer; "offered" is the engine's own word.
REPORTED_RESULTS = {
    wire: result for result, wire in OFFER_RESULTS.items() if result is not OfferResult.OFFERED
}


def next_action_from_proto(
    request: journeys_pb2.NextActionRequest,
) -> tuple[SubjectInput, Ask]:
    """Who the decision is about, and the question; a previous decision whose result
    is not one a frontend reports is refused, naming the field."""
    previous = None
    if request.HasField("previous"):
        result = REPORTED_RESULTS.get(request.previous.result)
        if result is None:
            raise InvalidRequest(
                [Violation("previous.result", "must be accepted, refused, failed or ignored")]
            )
        previous = Previous(request.previous.decision_id, result)
    ask = Ask(request.journey, channel=request.channel, step=request.step, previous=previous)
    return subject_from_proto(request.subject), ask


AGENT_VERDICTS = {
    journeys_pb2.AGENT_VERDICT_USED: AgentVerdict.USED,
    journeys_pb2.AGENT_VERDICT_CHANGED: AgentVerdict.CHANGED,
    journeys_pb2.AGENT_VERDICT_REJECTED: AgentVerdict.REJECTED,
}
_REPORTED_FLAGS = ("resolved", "contained", "handed_off", "reopened", "abandoned", "converted",
                   "complaint")  # fmt: skip
_REPORTED_NUMBERS = ("recovered_amount", "effort", "time_to_resolution_s", "handle_time_s")


def record_outcome_from_proto(
    request: journeys_pb2.RecordOutcomeRequest,
) -> tuple[SubjectInput, str, str | None, OutcomeReport]:
    """Who, which decision, the journey if named, and the report: an outcome is reported
    when its field is present (`optional`), the verdict when it is not UNSPECIFIED; an
    unknown verdict is refused, naming the field."""
    verdict = None
    if request.agent_verdict != journeys_pb2.AGENT_VERDICT_UNSPECIFIED:
        verdict = AGENT_VERDICTS.get(request.agent_verdict)
        if verdict is None:
            raise InvalidRequest(
                [Violation("report.agent_verdict", "must be used, changed or rejected")]
            )
    present = {
        name: getattr(request, name)
        for name in (*_REPORTED_FLAGS, *_REPORTED_NUMBERS)
        if request.HasField(name)
    }
    report = OutcomeReport(**present, agent_verdict=verdict)
    subject = subject_from_proto(request.subject)
    return subject, request.decision_id, request.journey or None, report


def outcome_to_proto(decided: OutcomeDecision) -> journeys_pb2.RecordOutcomeResponse:
    outcome = decided.outcome
    recorded_at = Timestamp()
    recorded_at.FromMicroseconds(outcome.recorded_at_us)
    return journeys_pb2.RecordOutcomeResponse(
        recorded_at=recorded_at, journey=outcome.journey, purpose=outcome.purpose
    )


def action_to_proto(decided: JourneyDecision) -> journeys_pb2.JourneyAction:
    decision = decided.decision
    return journeys_pb2.JourneyAction(
        id=decision.action or "",
        kind=str(decision.kind or ""),
        template=decision.template or "",
        parameters=decision.parameters,
    )


def journey_decision_to_proto(decided: JourneyDecision) -> journeys_pb2.NextActionResponse:
    decision = decided.decision
    return journeys_pb2.NextActionResponse(
        decision_id=decided.decision_id,
        action=action_to_proto(decided),
        confidence=decision.confidence,
        rung=str(decision.rung),
        runner_up=decision.runner_up or "",
        reasons=[str(r) for r in decision.reasons],
        playbook_version=decision.playbook_version,
        explanation=decided.explanation,
        data_categories=sorted(decision.categories),
        journey=decided.journey,
        purpose=decided.purpose,
        arm=str(decision.arm),
    )


def attempt_to_proto(attempt: Attempt) -> journeys_pb2.JourneyAttempt:
    return journeys_pb2.JourneyAttempt(
        decision_id=attempt.decision_id,
        journey=attempt.journey,
        action=attempt.action,
        kind=attempt.kind,
        rung=attempt.rung,
        offered_at=timestamp_from(attempt.offered_at),
        result=OFFER_RESULTS[attempt.result],
    )


def recommended_to_proto(decided: JourneyDecision) -> journeys_pb2.RecommendedAction:
    return journeys_pb2.RecommendedAction(
        decision_id=decided.decision_id,
        action=action_to_proto(decided),
        rung=str(decided.decision.rung),
        reasons=[str(r) for r in decided.decision.reasons],
        explanation=decided.explanation,
        arm=str(decided.decision.arm),
    )
