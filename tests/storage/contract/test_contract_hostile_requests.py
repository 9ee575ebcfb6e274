"""Invariant: whatever a caller sends, on every engine, the answer is never INTERNAL and
the access log holds exactly one record of the call.

U+0000 in any string field is refused at the edge (INVALID_ARGUMENT) before a method
runs: PostgreSQL cannot store it in text (it answered INTERNAL), SQLite stored it. A
method Tactful does not have is answered UNIMPLEMENTED, and recorded like any call.
The fuzz run calls every method of every service with hostile values (U+0000, huge,
undecodable UTF-8, negative and extreme numbers, empty) and counts the records by
request id.
"""

from __future__ import annotations

import collections
import random
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import grpc
import pytest
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tactful.api.decoding import UNIMPLEMENTED_METHOD
from tactful.api.server import SERVICE_NAMES
from tactful.app.settings import EXAMPLE_CONTRACT
from tactful.privacy.contract import load_contract
from tactful.privacy.pseudonym import NORMALIZERS
from tactful.v1 import access_log_pb2, access_log_pb2_grpc, common_pb2, personalization_pb2
from tests.conftest import T0, Tactful, bearer, timestamp
from tests.storage.engines import Engine

T = TypeVar("T")
COMPLIANCE = "compliance_officer"
ADA = common_pb2.SubjectRef(namespace="email", id="ada@example.com")


@pytest.fixture
def served(engine: Engine, start_tactful: Callable[..., Tactful], tmp_path: Path) -> Tactful:
    """A server on `engine`: fresh databases, or a fresh data folder."""
    prepared = engine.settings(tmp_path / "engine")
    return start_tactful(storage_url=prepared.storage_url, vault_url=prepared.vault_url)


def call(
    tactful: Tactful, method: str, payload: bytes, principal: str | None
) -> tuple[grpc.StatusCode, str, str]:
    """One call of `method` with `payload` as its bytes: (code, details, request id)."""
    request_id = uuid.uuid4().hex
    metadata = (*(bearer(principal) if principal else ()), ("x-request-id", request_id))
    try:
        tactful.channel.unary_unary(f"/{method}")(payload, metadata=metadata, timeout=30)
    except grpc.RpcError as error:
        return error.code(), error.details() or "", request_id
    return grpc.StatusCode.OK, "", request_id


def records_by_request_id(tactful: Tactful) -> collections.Counter[str]:
    """How many records the access log holds of each request id (read as the compliance
    officer, a page at a time; the reads add records of their own)."""
    stub = access_log_pb2_grpc.AccessLogStub(tactful.channel)
    counts: collections.Counter[str] = collections.Counter()
    token = ""
    while True:
        request = access_log_pb2.QueryAccessLogRequest(page_size=1000, page_token=token)
        reply = stub.QueryAccessLog(request, metadata=bearer(COMPLIANCE), timeout=30)
        counts.update(r.request_id for r in reply.records)
        token = reply.next_page_token
        if not token:
            return counts


def record_of(tactful: Tactful, request_id: str) -> access_log_pb2.AccessRecord:
    request = access_log_pb2.QueryAccessLogRequest(page_size=1000)
    stub = access_log_pb2_grpc.AccessLogStub(tactful.channel)
    reply = stub.QueryAccessLog(request, metadata=bearer(COMPLIANCE), timeout=30)
    (record,) = [r for r in reply.records if r.request_id == request_id]
    return record


def _event(**attributes: str) -> common_pb2.Event:
    values = {k: common_pb2.AttributeValue(string_value=v) for k, v in attributes.items()}
    return common_pb2.Event(
        subject=ADA, type="page_viewed", occurred_at=timestamp(T0), attributes=values
    )


# (method, principal, request, the field the refusal names)
NUL_CASES: dict[str, tuple[str, str, Message, str]] = {
    "attribute_value": (
        "tactful.v1.Personalization/RecordEvents",
        "support_widget",
        personalization_pb2.RecordEventsRequest(
            purpose="support_triage", events=[_event(path="/pricing\x00")]
        ),
        "events[0].attributes.path",
    ),
    "event_type": (
        "tactful.v1.Personalization/RecordEvents",
        "support_widget",
        personalization_pb2.RecordEventsRequest(
            purpose="support_triage",
            events=[
                _event(path="/a"),
                common_pb2.Event(subject=ADA, type="page\x00viewed", occurred_at=timestamp(T0)),
            ],
        ),
        "events[1].type",
    ),
    "consent_source": (
        "tactful.v1.Personalization/SetConsent",
        "web_frontend",
        personalization_pb2.SetConsentRequest(
            subject=ADA, purpose="onboarding", granted=True, source="banner\x00v2"
        ),
        "source",
    ),
    "signal_name": (
        "tactful.v1.Personalization/GetSignals",
        "support_widget",
        personalization_pb2.GetSignalsRequest(
            subject=ADA, purpose="support_triage", names=["x", "\x00"]
        ),
        "names[1]",
    ),
    "access_log_principal_filter": (
        "tactful.v1.AccessLog/QueryAccessLog",
        COMPLIANCE,
        access_log_pb2.QueryAccessLogRequest(principal="support_widget\x00"),
        "principal",
    ),
    "access_log_method_filter": (
        "tactful.v1.AccessLog/QueryAccessLog",
        COMPLIANCE,
        access_log_pb2.QueryAccessLogRequest(method="\x00"),
        "method",
    ),
    "subject_id": (
        "tactful.v1.Subjects/ExportSubject",
        "privacy_ops",
        access_log_pb2.QueryAccessLogRequest(),  # replaced below
        "subject.id",
    ),
}


@pytest.mark.parametrize("case", NUL_CASES.values(), ids=NUL_CASES.keys())
def test_nul_in_any_string_is_refused_at_the_edge_and_recorded_once(
    served: Tactful, case: tuple[str, str, Message, str]
) -> None:
    method, principal, request, field = case
    if field == "subject.id":
        from tactful.v1 import subjects_pb2

        request = subjects_pb2.ExportSubjectRequest(
            subject=common_pb2.SubjectRef(namespace="email", id="ada\x00@example.com")
        )
    code, details, request_id = call(served, method, request.SerializeToString(), principal)
    assert code is grpc.StatusCode.INVALID_ARGUMENT, (code, details)
    assert field in details and "U+0000" in details, details
    assert records_by_request_id(served)[request_id] == 1
    record = record_of(served, request_id)
    assert (record.method, record.status) == (method, "INVALID_ARGUMENT")


def test_a_refused_consent_with_nul_stores_nothing(served: Tactful) -> None:
    """SQLite stored a consent whose source held U+0000: now nothing is stored."""
    _, principal, request, _ = NUL_CASES["consent_source"]
    code, _, _ = call(
        served, "tactful.v1.Personalization/SetConsent", request.SerializeToString(), principal
    )
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    segments = personalization_pb2.GetSegmentsRequest(subject=ADA, purpose="onboarding")
    with pytest.raises(grpc.RpcError) as refused:  # onboarding needs consent: none was given
        served.personalization.GetSegments(segments, metadata=bearer("web_frontend"), timeout=10)
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION


@pytest.mark.parametrize(
    "path",
    [
        "tactful.v1.Personalization/Nope",
        "tactful.v1.Nowhere/GetSegments",
        "grpc.health.v1.Health/Nope",
        "ada@example.com/x",
    ],
)
@pytest.mark.parametrize("principal", ["support_widget", None], ids=["token", "no_token"])
def test_a_method_tactful_does_not_have_is_answered_unimplemented_and_recorded(
    served: Tactful, path: str, principal: str | None
) -> None:
    code, details, request_id = call(served, path, b"\x0a\x00", principal)
    expected = grpc.StatusCode.UNIMPLEMENTED if principal else grpc.StatusCode.UNAUTHENTICATED
    assert code is expected, details
    assert records_by_request_id(served)[request_id] == 1
    record = record_of(served, request_id)
    # The path the caller sent is not kept: it could hold anything.
    assert (record.method, record.status) == (UNIMPLEMENTED_METHOD, expected.name)
    assert record.principal == (principal or "anonymous")


def test_a_streaming_call_to_a_method_tactful_does_not_have_is_recorded(served: Tactful) -> None:
    request_id = uuid.uuid4().hex
    metadata = (*bearer("support_widget"), ("x-request-id", request_id))
    stream = served.channel.stream_stream("/tactful.v1.Personalization/Stream")
    with pytest.raises(grpc.RpcError) as failed:
        list(stream(iter([b"a", b"b"]), metadata=metadata, timeout=10))
    assert failed.value.code() is grpc.StatusCode.UNIMPLEMENTED
    assert records_by_request_id(served)[request_id] == 1


# -- the fuzz run -------------------------------------------------------------------------

CONTRACT = load_contract(EXAMPLE_CONTRACT)
PRINCIPALS = [
    "web_frontend", "support_widget", "agent_console", "analyst", "compliance_officer",
    "privacy_ops", None,
]  # fmt: skip
METHODS = [
    (service, method)
    for service in SERVICE_NAMES
    for method in descriptor_pool.Default().FindServiceByName(service).methods
]
# Names the contract declares, so that some calls pass validation and reach the stores.
VOCABULARY: dict[str, list[str]] = {
    "purpose": sorted(CONTRACT.purposes),
    "journey": sorted(CONTRACT.journeys),
    "namespace": sorted(NORMALIZERS),
    "id": ["ada@example.com", "+44 20 7946 0000", "c-1"],
    "type": sorted(CONTRACT.events),
    "names": sorted(CONTRACT.signals),
    "decision": ["allowed", "denied"],
    "method": [f"{s}/{m.name}" for s, m in METHODS],
    "principal": [p for p in PRINCIPALS if p],
    "source": ["banner"],
}
HOSTILE_TEXT = st.one_of(
    st.sampled_from(["", "\x00", "a\x00", "\x00" * 300, "x" * 70_000, "\u202e\ufeff", "é" * 999]),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=8).map(lambda s: s + "\x00" + s),
)
INTS = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
}


def _mostly(usual: st.SearchStrategy[T], other: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """`usual` four times in five: most calls should get past validation."""
    return st.integers(0, 4).flatmap(lambda i: other if i == 0 else usual)


def _mostly(usual: st.SearchStrategy[T], other: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """`usual` four times in five: most calls should get past validation."""
    return st.integers(0, 4).flatmap(lambda i: other if i == 4 else usual)


def _text(field: FieldDescriptor) -> st.SearchStrategy[str]:
    known = VOCABULARY.get(field.name)
    return _mostly(st.sampled_from(known), HOSTILE_TEXT) if known else HOSTILE_TEXT


def _scalar(field: FieldDescriptor) -> st.SearchStrategy[object]:
    if field.type == FieldDescriptor.TYPE_STRING:
        return _text(field)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        width = 64 if field.type == FieldDescriptor.TYPE_DOUBLE else 32
        edges = st.sampled_from([0.1, 1.0, 0.0, -0.0, 1e-300, -1.0, 1e308])
        return _mostly(edges, st.floats(width=width))  # NaN and infinities included
    if field.type == FieldDescriptor.TYPE_ENUM:
        return st.integers(-5, 10)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=40)
    low, high = INTS.get(field.type, (-(2**31), 2**31 - 1))
    return st.one_of(
        st.sampled_from([0, 1, 10, 1_800_000_000, -1, low, high]), st.integers(low, high)
    )


@st.composite
def _message(draw: st.DrawFn, descriptor: Descriptor, depth: int = 0) -> Message:
    """A message of `descriptor` with most of its fields set, many to hostile values."""
    message = GetMessageClass(descriptor)()
    for field in descriptor.fields:
        if draw(st.integers(0, 4)) == 4:  # a field left unset, one time in five
            continue
        target = getattr(message, field.name)
        many = draw(st.integers(1, 3 if depth < 2 else 1))
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
            for _ in range(many):
                name = draw(_mostly(st.sampled_from(["path", "plan", "code"]), _text(key)))
                if value.message_type is not None:
                    target[name].CopyFrom(draw(_message(value.message_type, depth + 1)))
                else:
                    target[name] = draw(_scalar(value))
        elif entry is not None and field.is_repeated:
            target.extend(draw(_message(entry, depth + 1)) for _ in range(many))
        elif entry is not None:
            target.CopyFrom(draw(_message(entry, depth + 1)))
        elif field.is_repeated:
            target.extend(draw(_scalar(field)) for _ in range(many))
        else:
            setattr(message, field.name, draw(_scalar(field)))
    return message


def _undecodable_utf8(descriptor: Descriptor) -> bytes:
    """A top-level string field whose bytes are not UTF-8 (protobuf refuses to decode it)."""
    strings = [f for f in descriptor.fields if f.type == FieldDescriptor.TYPE_STRING]
    if not strings:
        return b"\xff\xff"
    return bytes([(strings[0].number << 3) | 2, 3]) + b"\xc3\x28\xff"


@st.composite
def _payload(draw: st.DrawFn, descriptor: Descriptor) -> bytes:
    body = draw(_message(descriptor)).SerializeToString()
    tail = draw(st.sampled_from(["none", "none", "none", "bad_utf8", "garbage"]))
    if tail == "bad_utf8":
        return body + _undecodable_utf8(descriptor)
    if tail == "garbage":
        return body + draw(st.binary(min_size=1, max_size=16))
    return body


# Who may call each service (the development principals), so most calls are let in.
CALLERS = {
    "tactful.v1.Personalization": ["support_widget", "web_frontend", "agent_console"],
    "tactful.v1.AccessLog": [COMPLIANCE],
    "tactful.v1.Subjects": ["privacy_ops"],
    "tactful.v1.Insights": ["analyst"],
    "tactful.v1.Journeys": ["web_frontend", "support_widget", "agent_console"],
}
UNKNOWN_METHOD = "tactful.v1.Personalization/Nope"
FUZZ_CALLS = 25  # per method and engine: a few seconds in all


def _calls(method: str) -> st.SearchStrategy[tuple[bytes, str | None]]:
    """The bytes and the caller of a call of `method`, mostly by a principal it admits."""
    if method == UNKNOWN_METHOD:
        return st.tuples(st.binary(max_size=8), st.sampled_from(PRINCIPALS))
    service, _, name = method.partition("/")
    descriptor = descriptor_pool.Default().FindServiceByName(service).FindMethodByName(name)
    callers = _mostly(st.sampled_from(CALLERS[service]), st.sampled_from(PRINCIPALS))
    return st.tuples(_payload(descriptor.input_type), callers)


def test_a_fuzz_run_of_every_method_gives_no_internal_and_one_record_per_call(
    served: Tactful, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Hypothesis fails a draw during which the global `random` moved; psycopg's pool
    # draws its reconnection jitter from it, on its own threads, whenever it opens a
    # connection. Here it draws from a generator of its own.
    pool = sys.modules.get("psycopg_pool.base")
    if pool is not None:
        monkeypatch.setattr(pool, "random", random.Random(20).random)
    sent: list[str] = []
    codes: collections.Counter[str] = collections.Counter()

    def fuzz(method: str) -> None:
        @settings(
            max_examples=FUZZ_CALLS,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(_calls(method))
        def one_call(drawn: tuple[bytes, str | None]) -> None:
            payload, principal = drawn
            code, details, request_id = call(served, method, payload, principal)
            sent.append(request_id)
            codes[code.name] += 1
            assert code is not grpc.StatusCode.INTERNAL, (method, principal, payload, details)
            assert code is not grpc.StatusCode.UNKNOWN, (method, principal, payload, details)

        one_call()

    for method in [*(f"{s}/{m.name}" for s, m in METHODS), UNKNOWN_METHOD]:
        fuzz(method)
    recorded = records_by_request_id(served)
    per_call = collections.Counter(recorded[r] for r in sent)
    print(
        f"\nfuzz on {engine.name}: {len(sent)} calls of {len(METHODS) + 1} methods, "
        f"codes {dict(sorted(codes.items()))}, records per call {dict(per_call)}"
    )
    assert per_call == {1: len(sent)}, per_call
    assert codes["OK"] > 0  # some calls got past validation to the stores
