"""Protobuf <-> domain conversion; the domain never sees a generated type."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from segments.ingest import EventInput, SubjectInput
from segments.journey import Handoff
from segments.store import AttributeScalar
from tactful.v1 import common_pb2, personalization_pb2


def subject_from_proto(subject: common_pb2.SubjectRef) -> SubjectInput:
    return SubjectInput(subject.namespace, subject.id)


def timestamp_to_us(timestamp: Timestamp) -> int:
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
    attributes: Mapping[str, AttributeScalar] = {
        name: attribute_from_proto(value) for name, value in event.attributes.items()
    }
    return EventInput(
        subject=SubjectInput(event.subject.namespace, event.subject.id),
        type=event.type,
        occurred_at_us=timestamp_to_us(event.occurred_at)
        if event.HasField("occurred_at")
        else None,
        attributes=attributes,
    )


def handoff_to_proto(handoff: Handoff) -> personalization_pb2.GetHandoffContextResponse:
    """Withheld parts stay empty; `withheld` names them."""
    reply = personalization_pb2.GetHandoffContextResponse(withheld=handoff.withheld)
    if handoff.intent is not None:
        reply.intent = str(handoff.intent.intent)
        reply.intent_confidence = handoff.intent.confidence
    for step in handoff.recent_steps or ():
        reply.recent_steps.add(type=step.type, occurred_at=timestamp_from(step.occurred_at))
    reply.last_error_codes.extend(handoff.last_error_codes or ())
    reply.frustration = "" if handoff.frustration is None else str(handoff.frustration)
    reply.next_action = handoff.next_action or ""
    return reply
