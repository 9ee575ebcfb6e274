import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
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

class GetScorecardRequest(_message.Message):
    __slots__ = ("journey", "since", "until", "epsilon")
    JOURNEY_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    EPSILON_FIELD_NUMBER: _ClassVar[int]
    journey: str
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    epsilon: float
    def __init__(self, journey: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., epsilon: _Optional[float] = ...) -> None: ...

class ScorecardFigure(_message.Message):
    __slots__ = ("name", "value", "low", "high")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: float
    low: float
    high: float
    def __init__(self, name: _Optional[str] = ..., value: _Optional[float] = ..., low: _Optional[float] = ..., high: _Optional[float] = ...) -> None: ...

class ScorecardGroup(_message.Message):
    __slots__ = ("playbook_version", "arm", "action", "noisy_people", "withheld", "figures")
    PLAYBOOK_VERSION_FIELD_NUMBER: _ClassVar[int]
    ARM_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    NOISY_PEOPLE_FIELD_NUMBER: _ClassVar[int]
    WITHHELD_FIELD_NUMBER: _ClassVar[int]
    FIGURES_FIELD_NUMBER: _ClassVar[int]
    playbook_version: int
    arm: str
    action: str
    noisy_people: int
    withheld: bool
    figures: _containers.RepeatedCompositeFieldContainer[ScorecardFigure]
    def __init__(self, playbook_version: _Optional[int] = ..., arm: _Optional[str] = ..., action: _Optional[str] = ..., noisy_people: _Optional[int] = ..., withheld: _Optional[bool] = ..., figures: _Optional[_Iterable[_Union[ScorecardFigure, _Mapping]]] = ...) -> None: ...

class ScorecardUplift(_message.Message):
    __slots__ = ("playbook_version", "figure", "treatment", "holdout", "difference", "low", "high")
    PLAYBOOK_VERSION_FIELD_NUMBER: _ClassVar[int]
    FIGURE_FIELD_NUMBER: _ClassVar[int]
    TREATMENT_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_FIELD_NUMBER: _ClassVar[int]
    DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    playbook_version: int
    figure: str
    treatment: float
    holdout: float
    difference: float
    low: float
    high: float
    def __init__(self, playbook_version: _Optional[int] = ..., figure: _Optional[str] = ..., treatment: _Optional[float] = ..., holdout: _Optional[float] = ..., difference: _Optional[float] = ..., low: _Optional[float] = ..., high: _Optional[float] = ...) -> None: ...

class ReleasedStatistic(_message.Message):
    __slots__ = ("name", "epsilon", "sensitivity", "scale")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EPSILON_FIELD_NUMBER: _ClassVar[int]
    SENSITIVITY_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    name: str
    epsilon: float
    sensitivity: int
    scale: float
    def __init__(self, name: _Optional[str] = ..., epsilon: _Optional[float] = ..., sensitivity: _Optional[int] = ..., scale: _Optional[float] = ...) -> None: ...

class GetScorecardResponse(_message.Message):
    __slots__ = ("journey", "success_metric", "groups", "uplifts", "statistics", "min_people", "since", "until", "epsilon_spent", "epsilon_remaining")
    JOURNEY_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_METRIC_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    UPLIFTS_FIELD_NUMBER: _ClassVar[int]
    STATISTICS_FIELD_NUMBER: _ClassVar[int]
    MIN_PEOPLE_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    EPSILON_SPENT_FIELD_NUMBER: _ClassVar[int]
    EPSILON_REMAINING_FIELD_NUMBER: _ClassVar[int]
    journey: str
    success_metric: str
    groups: _containers.RepeatedCompositeFieldContainer[ScorecardGroup]
    uplifts: _containers.RepeatedCompositeFieldContainer[ScorecardUplift]
    statistics: _containers.RepeatedCompositeFieldContainer[ReleasedStatistic]
    min_people: int
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    epsilon_spent: float
    epsilon_remaining: float
    def __init__(self, journey: _Optional[str] = ..., success_metric: _Optional[str] = ..., groups: _Optional[_Iterable[_Union[ScorecardGroup, _Mapping]]] = ..., uplifts: _Optional[_Iterable[_Union[ScorecardUplift, _Mapping]]] = ..., statistics: _Optional[_Iterable[_Union[ReleasedStatistic, _Mapping]]] = ..., min_people: _Optional[int] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., epsilon_spent: _Optional[float] = ..., epsilon_remaining: _Optional[float] = ...) -> None: ...
