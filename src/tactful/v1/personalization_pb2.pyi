import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tactful.v1 import common_pb2 as _common_pb2
from tactful.v1 import journeys_pb2 as _journeys_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RecordEventsRequest(_message.Message):
    __slots__ = ("purpose", "events")
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    purpose: str
    events: _containers.RepeatedCompositeFieldContainer[_common_pb2.Event]
    def __init__(self, purpose: _Optional[str] = ..., events: _Optional[_Iterable[_Union[_common_pb2.Event, _Mapping]]] = ...) -> None: ...

class RecordEventsResponse(_message.Message):
    __slots__ = ("stored", "not_stored", "dropped_attributes")
    STORED_FIELD_NUMBER: _ClassVar[int]
    NOT_STORED_FIELD_NUMBER: _ClassVar[int]
    DROPPED_ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    stored: int
    not_stored: int
    dropped_attributes: int
    def __init__(self, stored: _Optional[int] = ..., not_stored: _Optional[int] = ..., dropped_attributes: _Optional[int] = ...) -> None: ...

class SetConsentRequest(_message.Message):
    __slots__ = ("subject", "purpose", "granted", "source")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    subject: _common_pb2.SubjectRef
    purpose: str
    granted: bool
    source: str
    def __init__(self, subject: _Optional[_Union[_common_pb2.SubjectRef, _Mapping]] = ..., purpose: _Optional[str] = ..., granted: _Optional[bool] = ..., source: _Optional[str] = ...) -> None: ...

class SetConsentResponse(_message.Message):
    __slots__ = ("recorded_at",)
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    recorded_at: _timestamp_pb2.Timestamp
    def __init__(self, recorded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetSegmentsRequest(_message.Message):
    __slots__ = ("subject", "purpose")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    subject: _common_pb2.SubjectRef
    purpose: str
    def __init__(self, subject: _Optional[_Union[_common_pb2.SubjectRef, _Mapping]] = ..., purpose: _Optional[str] = ...) -> None: ...

class GetSegmentsResponse(_message.Message):
    __slots__ = ("segments",)
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    segments: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, segments: _Optional[_Iterable[str]] = ...) -> None: ...

class GetSignalsRequest(_message.Message):
    __slots__ = ("subject", "purpose", "names")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    subject: _common_pb2.SubjectRef
    purpose: str
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, subject: _Optional[_Union[_common_pb2.SubjectRef, _Mapping]] = ..., purpose: _Optional[str] = ..., names: _Optional[_Iterable[str]] = ...) -> None: ...

class GetSignalsResponse(_message.Message):
    __slots__ = ("signals",)
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    signals: _containers.RepeatedCompositeFieldContainer[_common_pb2.Signal]
    def __init__(self, signals: _Optional[_Iterable[_Union[_common_pb2.Signal, _Mapping]]] = ...) -> None: ...

class GetHandoffContextRequest(_message.Message):
    __slots__ = ("subject", "purpose")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    subject: _common_pb2.SubjectRef
    purpose: str
    def __init__(self, subject: _Optional[_Union[_common_pb2.SubjectRef, _Mapping]] = ..., purpose: _Optional[str] = ...) -> None: ...

class JourneyStep(_message.Message):
    __slots__ = ("type", "occurred_at")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    type: str
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, type: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetHandoffContextResponse(_message.Message):
    __slots__ = ("intent", "intent_confidence", "recent_steps", "last_error_codes", "frustration", "next_action", "withheld", "runner_up_intent", "runner_up_confidence", "attempts", "recommended")
    INTENT_FIELD_NUMBER: _ClassVar[int]
    INTENT_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    RECENT_STEPS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_CODES_FIELD_NUMBER: _ClassVar[int]
    FRUSTRATION_FIELD_NUMBER: _ClassVar[int]
    NEXT_ACTION_FIELD_NUMBER: _ClassVar[int]
    WITHHELD_FIELD_NUMBER: _ClassVar[int]
    RUNNER_UP_INTENT_FIELD_NUMBER: _ClassVar[int]
    RUNNER_UP_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDED_FIELD_NUMBER: _ClassVar[int]
    intent: str
    intent_confidence: float
    recent_steps: _containers.RepeatedCompositeFieldContainer[JourneyStep]
    last_error_codes: _containers.RepeatedScalarFieldContainer[str]
    frustration: str
    next_action: str
    withheld: _containers.RepeatedScalarFieldContainer[str]
    runner_up_intent: str
    runner_up_confidence: float
    attempts: _containers.RepeatedCompositeFieldContainer[_journeys_pb2.JourneyAttempt]
    recommended: _journeys_pb2.RecommendedAction
    def __init__(self, intent: _Optional[str] = ..., intent_confidence: _Optional[float] = ..., recent_steps: _Optional[_Iterable[_Union[JourneyStep, _Mapping]]] = ..., last_error_codes: _Optional[_Iterable[str]] = ..., frustration: _Optional[str] = ..., next_action: _Optional[str] = ..., withheld: _Optional[_Iterable[str]] = ..., runner_up_intent: _Optional[str] = ..., runner_up_confidence: _Optional[float] = ..., attempts: _Optional[_Iterable[_Union[_journeys_pb2.JourneyAttempt, _Mapping]]] = ..., recommended: _Optional[_Union[_journeys_pb2.RecommendedAction, _Mapping]] = ...) -> None: ...
