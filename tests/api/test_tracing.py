"""Tracing by OpenTelemetry's conventions: a server span continues the caller's trace
(W3C traceparent and tracestate in the call's metadata), is named and attributed as
the OpenTelemetry gRPC instrumentation names them, and the client library sends the
current trace context with every call."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.trace.propagation.tracecontext import (  # noqa: E402
    TraceContextTextMapPropagator,
)

from tactful.client import Client, Subject  # noqa: E402
from tactful.privacy.errors import PrivacyError  # noqa: E402
from tactful.storage.sqlite.access_log import SqliteAccessLog  # noqa: E402
from tactful.timestamps import to_us  # noqa: E402
from tactful.v1 import personalization_pb2  # noqa: E402
from tests.conftest import T0, Tactful, bearer, email, token_for  # noqa: E402

SEGMENTS = "tactful.v1.Personalization/GetSegments"
REQUEST = personalization_pb2.GetSegmentsRequest(
    subject=email("ada@example.com"), purpose="support_triage"
)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def frontend() -> Iterator[trace.Tracer]:
    """The caller's tracer: a provider of its own, as a frontend process has."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    yield provider.get_tracer("frontend")
    provider.shutdown()


def traced(start_tactful: Callable[..., Tactful], exporter: InMemorySpanExporter) -> Tactful:
    return start_tactful(tracing_enabled=True, span_exporter=exporter)


def server_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    """The one span ended since the last; a refused call's may end just after its answer
    left (the edge tells its observers last)."""
    deadline = time.monotonic() + 5
    while not exporter.get_finished_spans() and time.monotonic() < deadline:
        time.sleep(0.01)
    (span,) = exporter.get_finished_spans()
    exporter.clear()
    return span


def test_the_server_span_continues_the_callers_trace_over_a_real_channel(
    start_tactful: Callable[..., Tactful],
    exporter: InMemorySpanExporter,
    frontend: trace.Tracer,
) -> None:
    tactful = traced(start_tactful, exporter)
    with frontend.start_as_current_span("checkout", kind=trace.SpanKind.CLIENT) as parent:
        carrier: dict[str, str] = {}
        TraceContextTextMapPropagator().inject(carrier)
    carrier["tracestate"] = "vendor=a1b2"
    metadata = (*bearer("support_widget"), ("x-request-id", "req-span-1"), *carrier.items())
    tactful.personalization.GetSegments(REQUEST, metadata=metadata, timeout=10)

    span = server_span(exporter)
    sent = parent.get_span_context()
    assert span.parent is not None and span.parent.is_remote
    assert span.parent.span_id == sent.span_id
    assert span.context is not None and span.context.trace_id == sent.trace_id
    assert span.context.trace_state.get("vendor") == "a1b2"
    assert span.name == SEGMENTS and span.kind is trace.SpanKind.SERVER
    port = int(tactful.target.rpartition(":")[2])
    assert dict(span.attributes or {}) | {"tactful.latency_ms": 0} == {
        "rpc.system": "grpc", "rpc.service": "tactful.v1.Personalization",
        "rpc.method": "GetSegments", "rpc.grpc.status_code": 0,
        "server.address": "127.0.0.1", "server.port": port,
        "tactful.time": "2026-11-27T12:00:00.000+00:00", "tactful.method": SEGMENTS,
        "tactful.principal": "support_widget", "tactful.purpose": "support_triage",
        "tactful.code": "OK", "tactful.decision": "allowed", "tactful.latency_ms": 0,
        "tactful.request_id": "req-span-1",
    }  # fmt: skip
    assert span.status.status_code is trace.StatusCode.UNSET
    assert span.start_time == to_us(T0) * 1000 < (span.end_time or 0)


def test_a_call_without_a_trace_context_starts_a_trace_of_its_own(
    start_tactful: Callable[..., Tactful], exporter: InMemorySpanExporter
) -> None:
    tactful = traced(start_tactful, exporter)
    tactful.personalization.GetSegments(REQUEST, metadata=bearer("support_widget"), timeout=10)
    malformed = ("traceparent", "00-not-a-trace-context-01")
    tactful.personalization.GetSegments(
        REQUEST, metadata=(*bearer("support_widget"), malformed), timeout=10
    )
    assert [span.parent for span in exporter.get_finished_spans()] == [None, None]


def denied_span(tactful: Tactful, exporter: InMemorySpanExporter, **call: Any) -> ReadableSpan:
    with pytest.raises(grpc.RpcError):
        tactful.personalization.GetSegments(REQUEST, timeout=10, **call)
    return server_span(exporter)


def test_a_refusal_has_its_code_and_reason_and_a_server_fault_is_an_error(
    start_tactful: Callable[..., Tactful],
    exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tactful = traced(start_tactful, exporter)
    refused = denied_span(tactful, exporter, metadata=bearer("web_frontend"))
    assert refused.attributes is not None
    assert refused.attributes["rpc.grpc.status_code"] == grpc.StatusCode.PERMISSION_DENIED.value[0]
    assert refused.attributes["tactful.reason"] == "purpose_not_claimable"
    # A refusal is an answer, not the server's fault: the span's status stays unset.
    assert refused.status.status_code is trace.StatusCode.UNSET

    def failing_append(self: SqliteAccessLog, entries: object, **_: object) -> None:
        raise PrivacyError("disk I/O error")

    monkeypatch.setattr(SqliteAccessLog, "append", failing_append)
    failed = denied_span(tactful, exporter, metadata=bearer("support_widget"))
    assert failed.attributes is not None
    assert failed.attributes["rpc.grpc.status_code"] == grpc.StatusCode.UNAVAILABLE.value[0]
    assert failed.attributes["tactful.reason"] == "access_log_unavailable"
    assert failed.status.status_code is trace.StatusCode.ERROR


def test_the_client_library_sends_the_current_trace_context(
    start_tactful: Callable[..., Tactful],
    exporter: InMemorySpanExporter,
    frontend: trace.Tracer,
) -> None:
    tactful = traced(start_tactful, exporter)
    channel = grpc.insecure_channel(tactful.target)
    with Client(channel, token_for("support_widget")) as client:
        client.segments(Subject("email", "ada@example.com"), "support_triage")
        untraced = server_span(exporter)
        with frontend.start_as_current_span("checkout") as parent:
            client.segments(Subject("email", "ada@example.com"), "support_triage")
        span = server_span(exporter)
    assert untraced.parent is None
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    assert span.context is not None
    assert span.context.trace_id == parent.get_span_context().trace_id
