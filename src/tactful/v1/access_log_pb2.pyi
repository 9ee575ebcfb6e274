import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tactful.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class QueryAccessLogRequest(_message.Message):
    __slots__ = ("since", "until", "principal", "purpose", "method", "decision", "subject", "page_size", "page_token")
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    principal: str
    purpose: str
    method: str
    decision: str
    subject: _common_pb2.SubjectRef
    page_size: int
    page_token: str
    def __init__(self, since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., principal: _Optional[str] = ..., purpose: _Optional[str] = ..., method: _Optional[str] = ..., decision: _Optional[str] = ..., subject: _Optional[_Union[_common_pb2.SubjectRef, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class AccessRecord(_message.Message):
    __slots__ = ("sequence", "time", "principal", "role", "method", "purpose", "subject", "requested", "released", "decision", "status", "reason", "request_id", "latency_us", "previous_hash", "record_hash", "subjects", "request_id_origin", "authenticated_by", "certificate_sha256")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_FIELD_NUMBER: _ClassVar[int]
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    LATENCY_US_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_HASH_FIELD_NUMBER: _ClassVar[int]
    RECORD_HASH_FIELD_NUMBER: _ClassVar[int]
    SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_ORIGIN_FIELD_NUMBER: _ClassVar[int]
    AUTHENTICATED_BY_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_SHA256_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    time: _timestamp_pb2.Timestamp
    principal: str
    role: str
    method: str
    purpose: str
    subject: str
    requested: _containers.RepeatedScalarFieldContainer[str]
    released: _containers.RepeatedScalarFieldContainer[str]
    decision: str
    status: str
    reason: str
    request_id: str
    latency_us: int
    previous_hash: str
    record_hash: str
    subjects: _containers.RepeatedScalarFieldContainer[str]
    request_id_origin: str
    authenticated_by: str
    certificate_sha256: str
    def __init__(self, sequence: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., principal: _Optional[str] = ..., role: _Optional[str] = ..., method: _Optional[str] = ..., purpose: _Optional[str] = ..., subject: _Optional[str] = ..., requested: _Optional[_Iterable[str]] = ..., released: _Optional[_Iterable[str]] = ..., decision: _Optional[str] = ..., status: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ..., latency_us: _Optional[int] = ..., previous_hash: _Optional[str] = ..., record_hash: _Optional[str] = ..., subjects: _Optional[_Iterable[str]] = ..., request_id_origin: _Optional[str] = ..., authenticated_by: _Optional[str] = ..., certificate_sha256: _Optional[str] = ...) -> None: ...

class QueryAccessLogResponse(_message.Message):
    __slots__ = ("records", "next_page_token")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[AccessRecord]
    next_page_token: str
    def __init__(self, records: _Optional[_Iterable[_Union[AccessRecord, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class VerifyAccessLogRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VerifyAccessLogResponse(_message.Message):
    __slots__ = ("intact", "records", "first_bad_sequence", "problem", "truncations", "warnings")
    class Truncation(_message.Message):
        __slots__ = ("first_removed", "last_removed", "truncated_at")
        FIRST_REMOVED_FIELD_NUMBER: _ClassVar[int]
        LAST_REMOVED_FIELD_NUMBER: _ClassVar[int]
        TRUNCATED_AT_FIELD_NUMBER: _ClassVar[int]
        first_removed: int
        last_removed: int
        truncated_at: _timestamp_pb2.Timestamp
        def __init__(self, first_removed: _Optional[int] = ..., last_removed: _Optional[int] = ..., truncated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
    INTACT_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    FIRST_BAD_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    TRUNCATIONS_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    intact: bool
    records: int
    first_bad_sequence: int
    problem: str
    truncations: _containers.RepeatedCompositeFieldContainer[VerifyAccessLogResponse.Truncation]
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, intact: _Optional[bool] = ..., records: _Optional[int] = ..., first_bad_sequence: _Optional[int] = ..., problem: _Optional[str] = ..., truncations: _Optional[_Iterable[_Union[VerifyAccessLogResponse.Truncation, _Mapping]]] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...
