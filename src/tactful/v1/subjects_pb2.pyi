import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tactful.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExportSubjectRequest(_message.Message):
    __slots__ = ("subject",)
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    subject: _common_pb2.SubjectRef
    def __init__(self, subject: _Optional[_Union[_common_pb2.SubjectRef, _Mapping]] = ...) -> None: ...

class ExportSubjectResponse(_message.Message):
    __slots__ = ("export_json",)
    EXPORT_JSON_FIELD_NUMBER: _ClassVar[int]
    export_json: bytes
    def __init__(self, export_json: _Optional[bytes] = ...) -> None: ...

class EraseSubjectRequest(_message.Message):
    __slots__ = ("subject", "suppress")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    SUPPRESS_FIELD_NUMBER: _ClassVar[int]
    subject: _common_pb2.SubjectRef
    suppress: bool
    def __init__(self, subject: _Optional[_Union[_common_pb2.SubjectRef, _Mapping]] = ..., suppress: _Optional[bool] = ...) -> None: ...

class EraseSubjectResponse(_message.Message):
    __slots__ = ("erased_at", "deleted")
    class DeletedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ERASED_AT_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    erased_at: _timestamp_pb2.Timestamp
    deleted: _containers.ScalarMap[str, int]
    def __init__(self, erased_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deleted: _Optional[_Mapping[str, int]] = ...) -> None: ...
