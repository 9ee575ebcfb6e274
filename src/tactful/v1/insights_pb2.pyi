from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetSegmentSizesRequest(_message.Message):
    __slots__ = ("purpose", "epsilon")
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    EPSILON_FIELD_NUMBER: _ClassVar[int]
    purpose: str
    epsilon: float
    def __init__(self, purpose: _Optional[str] = ..., epsilon: _Optional[float] = ...) -> None: ...

class SegmentSize(_message.Message):
    __slots__ = ("segment", "noisy_count")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    NOISY_COUNT_FIELD_NUMBER: _ClassVar[int]
    segment: str
    noisy_count: int
    def __init__(self, segment: _Optional[str] = ..., noisy_count: _Optional[int] = ...) -> None: ...

class GetSegmentSizesResponse(_message.Message):
    __slots__ = ("sizes", "epsilon_spent", "epsilon_remaining", "sensitivity", "scale")
    SIZES_FIELD_NUMBER: _ClassVar[int]
    EPSILON_SPENT_FIELD_NUMBER: _ClassVar[int]
    EPSILON_REMAINING_FIELD_NUMBER: _ClassVar[int]
    SENSITIVITY_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    sizes: _containers.RepeatedCompositeFieldContainer[SegmentSize]
    epsilon_spent: float
    epsilon_remaining: float
    sensitivity: int
    scale: float
    def __init__(self, sizes: _Optional[_Iterable[_Union[SegmentSize, _Mapping]]] = ..., epsilon_spent: _Optional[float] = ..., epsilon_remaining: _Optional[float] = ..., sensitivity: _Optional[int] = ..., scale: _Optional[float] = ...) -> None: ...
