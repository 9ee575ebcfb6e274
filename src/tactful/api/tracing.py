"""OpenTelemetry spans, optional: one SERVER span per call, exported over OTLP.

Only with `[tracing] enabled = true` is OpenTelemetry imported at all (it comes
with the `otel` extra); otherwise this module costs nothing. A span follows the
OpenTelemetry semantic conventions for gRPC servers, as the OpenTelemetry gRPC
instrumentation writes them:

    name                   tactful.v1.Personalization/GetSegments
    kind                   SERVER
    parent                 the caller's span, from the call's metadata (W3C traceparent,
                           tracestate and baggage, or whatever OTEL_PROPAGATORS says)
    rpc.system             "grpc"
    rpc.service            tactful.v1.Personalization
    rpc.method             GetSegments
    rpc.grpc.status_code   the status code's number (0 OK, 7 PERMISSION_DENIED, ...)
    server.address/port    the address listened on (the port alone on a wildcard address)
    status                 ERROR for the codes that are the server's fault (UNKNOWN,
                           DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE,
                           DATA_LOSS), unset for the others: a refusal is an answer

Tactful's own fields (`tactful.principal`, `tactful.purpose`, `tactful.decision`,
`tactful.reason`, `tactful.request_id`, ...) are the call's log line
(`tactful.api.logs.call_fields`): names and codes, no personal data. The
instrumentation package itself is not used: it would add the caller's address
(`net.peer.ip`), which is personal data, and spans of its own around the edge's.
"""

from __future__ import annotations

from typing import Any

import grpc

from tactful.api.logs import call_fields
from tactful.api.metrics import grpc_labels
from tactful.api.observability import CallOutcome, Observer
from tactful.app.settings import ConfigError

# The W3C trace context and baggage headers: the default propagators' fields.
DEFAULT_FIELDS = frozenset({"traceparent", "tracestate", "baggage"})
_SERVER_FAULTS = frozenset({"UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL",
                            "UNAVAILABLE", "DATA_LOSS"})  # fmt: skip
_CODE_NUMBERS = {code.name: code.value[0] for code in grpc.StatusCode}
_WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]"})


def propagated_fields() -> frozenset[str]:
    """The metadata keys the configured propagator reads (call only with tracing on)."""
    try:
        from opentelemetry import propagate
    except ImportError:  # Tracing refuses to start, and says why
        return DEFAULT_FIELDS
    return frozenset(propagate.get_global_textmap().fields)


class Tracing:
    """A tracer provider of the server's own (never the process-wide one)."""

    def __init__(self, endpoint: str, exporter: Any = None, *, address: str = "") -> None:
        try:
            from opentelemetry import propagate, trace
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        except ImportError:
            raise ConfigError(
                "tracing.enabled: OpenTelemetry is not installed; "
                "pip install 'tactful[server,otel]', or set enabled = false"
            ) from None
        self._trace = trace
        self._extract = propagate.extract
        self._provider = TracerProvider(resource=Resource.create({"service.name": "tactful"}))
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=endpoint, insecure=endpoint.startswith("http:"))
            self._provider.add_span_processor(BatchSpanProcessor(exporter))
        else:  # given by a test: spans reach it at once
            self._provider.add_span_processor(SimpleSpanProcessor(exporter))
        self._tracer = self._provider.get_tracer("tactful.server")
        self._error = trace.Status(trace.StatusCode.ERROR)
        self._server = _server_attributes(address)

    @property
    def observe(self) -> Observer:
        return self._span

    def _span(self, outcome: CallOutcome) -> None:
        start_ns = outcome.time_us * 1000
        _, service, method = grpc_labels(outcome.method)
        fields = call_fields(outcome)
        del fields["event"]
        attributes: dict[str, Any] = {
            "rpc.system": "grpc",
            "rpc.service": service,
            "rpc.method": method,
            "rpc.grpc.status_code": _CODE_NUMBERS.get(outcome.code, 2),  # else UNKNOWN
            **self._server,
            **{f"tactful.{k}": v for k, v in fields.items()},
        }
        parent = self._extract(dict(outcome.trace_carrier)) if outcome.trace_carrier else None
        span = self._tracer.start_span(
            outcome.method,
            context=parent,
            kind=self._trace.SpanKind.SERVER,
            start_time=start_ns,
            attributes=attributes,
        )
        if outcome.code in _SERVER_FAULTS:
            span.set_status(self._error)
        span.end(end_time=start_ns + int(outcome.latency_s * 1e9))

    def close(self) -> None:
        self._provider.shutdown()


def _server_attributes(address: str) -> dict[str, Any]:
    """server.address and server.port of the listening `address` (HOST:PORT); the port
    alone when the host is a wildcard, which says nothing of where callers connect."""
    host, _, port = address.rpartition(":")
    attributes: dict[str, Any] = {"server.address": host.strip("[]")} if host else {}
    if host in _WILDCARDS:
        attributes = {}
    if port.isdigit():
        attributes["server.port"] = int(port)
    return attributes
