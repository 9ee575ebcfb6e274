"""OpenTelemetry spans, optional: one span per call, exported over OTLP.

Only with `[tracing] enabled = true` is OpenTelemetry imported at all (it comes
with the `otel` extra); otherwise this module costs nothing. A span carries the
same fields as the call's log line (`tactful.api.logs.call_fields`), no personal data.
"""

from __future__ import annotations

from typing import Any

from tactful.api.logs import call_fields
from tactful.api.observability import CallOutcome, Observer
from tactful.app.settings import ConfigError


class Tracing:
    """A tracer provider of the server's own (never the process-wide one)."""

    def __init__(self, endpoint: str, exporter: Any = None) -> None:
        try:
            from opentelemetry import trace
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        except ImportError:
            raise ConfigError(
                "tracing.enabled: OpenTelemetry is not installed; "
                "pip install 'tactful[server,otel]', or set enabled = false"
            ) from None
        self._trace = trace
        self._provider = TracerProvider(resource=Resource.create({"service.name": "tactful"}))
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=endpoint, insecure=endpoint.startswith("http:"))
            self._provider.add_span_processor(BatchSpanProcessor(exporter))
        else:  # given by a test: spans reach it at once
            self._provider.add_span_processor(SimpleSpanProcessor(exporter))
        self._tracer = self._provider.get_tracer("tactful.server")
        self._error = trace.StatusCode.ERROR

    @property
    def observe(self) -> Observer:
        return self._span

    def _span(self, outcome: CallOutcome) -> None:
        start_ns = outcome.time_us * 1000
        attributes = {f"tactful.{k}": v for k, v in call_fields(outcome).items() if k != "event"}
        span = self._tracer.start_span(
            outcome.method,
            kind=self._trace.SpanKind.SERVER,
            start_time=start_ns,
            attributes={"rpc.system": "grpc", **attributes},
        )
        if outcome.code != "OK":
            span.set_status(self._trace.Status(self._error, outcome.code))
        span.end(end_time=start_ns + int(outcome.latency_s * 1e9))

    def close(self) -> None:
        self._provider.shutdown()
