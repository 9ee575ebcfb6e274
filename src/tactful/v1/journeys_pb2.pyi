import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tactful.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OfferResult(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OFFER_RESULT_UNSPECIFIED: _ClassVar[OfferResult]
    OFFER_RESULT_ACCEPTED: _ClassVar[OfferResult]
    OFFER_RESULT_REFUSED: _ClassVar[OfferResult]
    OFFER_RESULT_FAILED: _ClassVar[OfferResult]
    OFFER_RESULT_IGNORED: _ClassVar[OfferResult]
    OFFER_RESULT_OFFERED: _ClassVar[OfferResult]

class AgentVerdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGENT_VERDICT_UNSPECIFIED: _ClassVar[AgentVerdict]
    AGENT_VERDICT_USED: _ClassVar[AgentVerdict]
    AGENT_VERDICT_CHANGED: _ClassVar[AgentVerdict]
    AGENT_VERDICT_REJECTED: _ClassVar[AgentVerdict]
OFFER_RESULT_UNSPECIFIED: OfferResult
OFFER_RESULT_ACCEPTED: OfferResult
OFFER_RESULT_REFUSED: OfferResult
OFFER_RESULT_FAILED: OfferResult
OFFER_RESULT_IGNORED: OfferResult
OFFER_RESULT_OFFERED: OfferResult
AGENT_VERDICT_UNSPECIFIED: AgentVerdict
AGENT_VERDICT_USED: AgentVerdict
AGENT_VERDICT_CHANGED: AgentVerdict
AGENT_VERDICT_REJECTED: AgentVerdict

class PreviousDecision(_message.Message):
    __slots__ = ("decision_id", "result")
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    result: OfferResult
    def __init__(self, decision_id: _Optional[str] = ..., result: _Optional[_Union[OfferResult, str]] = ...) -> None: ...

class NextActionRequest(_message.Message):
    __slots__ = ("subject", "journey", "channel", "step", "previous")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    JOURNEY_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    subject: _common_pb2.SubjectRef
    journey: str
    channel: str
    step: str
    previous: PreviousDecision
    def __init__(self, subject: _Optional[_Union[_common_pb2.SubjectRef, _Mapping]] = ..., journey: _Optional[str] = ..., channel: _Optional[str] = ..., step: _Optional[str] = ..., previous: _Optional[_Union[PreviousDecision, _Mapping]] = ...) -> None: ...

class JourneyAction(_message.Message):
    __slots__ = ("id", "kind", "template", "parameters")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: str
    template: str
    parameters: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[str] = ..., template: _Optional[str] = ..., parameters: _Optional[_Iterable[str]] = ...) -> None: ...

class NextActionResponse(_message.Message):
    __slots__ = ("decision_id", "action", "confidence", "rung", "runner_up", "reasons", "playbook_version", "explanation", "data_categories", "journey", "purpose", "arm")
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    RUNG_FIELD_NUMBER: _ClassVar[int]
    RUNNER_UP_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    PLAYBOOK_VERSION_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    DATA_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    JOURNEY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    ARM_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    action: JourneyAction
    confidence: float
    rung: str
    runner_up: str
    reasons: _containers.RepeatedScalarFieldContainer[str]
    playbook_version: int
    explanation: str
    data_categories: _containers.RepeatedScalarFieldContainer[str]
    journey: str
    purpose: str
    arm: str
    def __init__(self, decision_id: _Optional[str] = ..., action: _Optional[_Union[JourneyAction, _Mapping]] = ..., confidence: _Optional[float] = ..., rung: _Optional[str] = ..., runner_up: _Optional[str] = ..., reasons: _Optional[_Iterable[str]] = ..., playbook_version: _Optional[int] = ..., explanation: _Optional[str] = ..., data_categories: _Optional[_Iterable[str]] = ..., journey: _Optional[str] = ..., purpose: _Optional[str] = ..., arm: _Optional[str] = ...) -> None: ...

class JourneyAttempt(_message.Message):
    __slots__ = ("decision_id", "journey", "action", "kind", "rung", "offered_at", "result")
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    JOURNEY_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    RUNG_FIELD_NUMBER: _ClassVar[int]
    OFFERED_AT_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    journey: str
    action: str
    kind: str
    rung: str
    offered_at: _timestamp_pb2.Timestamp
    result: OfferResult
    def __init__(self, decision_id: _Optional[str] = ..., journey: _Optional[str] = ..., action: _Optional[str] = ..., kind: _Optional[str] = ..., rung: _Optional[str] = ..., offered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., result: _Optional[_Union[OfferResult, str]] = ...) -> None: ...

class RecommendedAction(_message.Message):
    __slots__ = ("decision_id", "action", "rung", "reasons", "explanation", "arm")
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RUNG_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    ARM_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    action: JourneyAction
    rung: str
    reasons: _containers.RepeatedScalarFieldContainer[str]
    explanation: str
    arm: str
    def __init__(self, decision_id: _Optional[str] = ..., action: _Optional[_Union[JourneyAction, _Mapping]] = ..., rung: _Optional[str] = ..., reasons: _Optional[_Iterable[str]] = ..., explanation: _Optional[str] = ..., arm: _Optional[str] = ...) -> None: ...

class RecordOutcomeRequest(_message.Message):
    __slots__ = ("subject", "decision_id", "journey", "resolved", "contained", "handed_off", "reopened", "abandoned", "converted", "complaint", "recovered_amount", "effort", "time_to_resolution_s", "handle_time_s", "agent_verdict")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    JOURNEY_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_FIELD_NUMBER: _ClassVar[int]
    CONTAINED_FIELD_NUMBER: _ClassVar[int]
    HANDED_OFF_FIELD_NUMBER: _ClassVar[int]
    REOPENED_FIELD_NUMBER: _ClassVar[int]
    ABANDONED_FIELD_NUMBER: _ClassVar[int]
    CONVERTED_FIELD_NUMBER: _ClassVar[int]
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    RECOVERED_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    EFFORT_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_RESOLUTION_S_FIELD_NUMBER: _ClassVar[int]
    HANDLE_TIME_S_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERDICT_FIELD_NUMBER: _ClassVar[int]
    subject: _common_pb2.SubjectRef
    decision_id: str
    journey: str
    resolved: bool
    contained: bool
    handed_off: bool
    reopened: bool
    abandoned: bool
    converted: bool
    complaint: bool
    recovered_amount: float
    effort: int
    time_to_resolution_s: float
    handle_time_s: float
    agent_verdict: AgentVerdict
    def __init__(self, subject: _Optional[_Union[_common_pb2.SubjectRef, _Mapping]] = ..., decision_id: _Optional[str] = ..., journey: _Optional[str] = ..., resolved: _Optional[bool] = ..., contained: _Optional[bool] = ..., handed_off: _Optional[bool] = ..., reopened: _Optional[bool] = ..., abandoned: _Optional[bool] = ..., converted: _Optional[bool] = ..., complaint: _Optional[bool] = ..., recovered_amount: _Optional[float] = ..., effort: _Optional[int] = ..., time_to_resolution_s: _Optional[float] = ..., handle_time_s: _Optional[float] = ..., agent_verdict: _Optional[_Union[AgentVerdict, str]] = ...) -> None: ...

class RecordOutcomeResponse(_message.Message):
    __slots__ = ("recorded_at", "journey", "purpose")
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    JOURNEY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    recorded_at: _timestamp_pb2.Timestamp
    journey: str
    purpose: str
    def __init__(self, recorded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., journey: _Optional[str] = ..., purpose: _Optional[str] = ...) -> None: ...
