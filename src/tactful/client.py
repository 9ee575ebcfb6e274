"""A client for frontends: connect, record what a person did, ask their segments.

    from tactful.client import Event, Subject, connect

    tactful = connect("tactful.internal:50051", token, root_ca="ca.pem")
    tactful.record("onboarding", [Event(Subject("email", "ada@example.com"), "page_viewed")])
    print(tactful.segments(Subject("email", "ada@example.com"), "onboarding").segments)
    decided = tactful.next_action(Subject("email", "ada@example.com"), "checkout_recovery")
    print(decided.action, decided.rung, decided.explanation)

It needs grpcio, protobuf and googleapis-common-protos only, none of the server's
dependencies. Every call has a deadline (5 s unless told), sends a request id (one of
yours, or a new one) and the current OpenTelemetry trace context if OpenTelemetry is
installed, and returns the id the server recorded it under, on success and
in the exception. Reads (`segments`, `signals`) are retried with backoff on
UNAVAILABLE; writes (`record`, `consent`, `record_outcome`) never are, since a retry
could apply them twice; nor is `next_action`, since every decision is remembered as an
offer.
Failures are raised as typed exceptions carrying the server's `google.rpc` details:

    TactfulError                 any failed call: code, message, request_id, details
     ├── InvalidArgument         INVALID_ARGUMENT: .field_violations (google.rpc.BadRequest)
     ├── Unauthenticated         UNAUTHENTICATED: no token, or a bad one
     ├── PermissionDenied        PERMISSION_DENIED: role or purpose; .error_info names
     │                           what was refused (metadata["refused"])
     ├── FailedPrecondition      FAILED_PRECONDITION: consent missing, subject suppressed
     ├── ResourceExhausted       RESOURCE_EXHAUSTED: privacy budget, rate limit
     ├── Unavailable             UNAVAILABLE: no server, or its access log cannot write
     └── DeadlineExceeded        DEADLINE_EXCEEDED
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2, status_pb2

from tactful.v1 import (
    common_pb2,
    journeys_pb2,
    journeys_pb2_grpc,
    personalization_pb2,
    personalization_pb2_grpc,
)

Value = str | int | float | bool | datetime
DEFAULT_TIMEOUT_S = 5.0
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # what the server keeps as given
_DETAILS_KEY = "grpc-status-details-bin"
_DETAIL_TYPES: tuple[type[Message], ...] = (
    error_details_pb2.BadRequest,
    error_details_pb2.ErrorInfo,
    error_details_pb2.RetryInfo,
    error_details_pb2.QuotaFailure,
    error_details_pb2.PreconditionFailure,
    error_details_pb2.ResourceInfo,
    error_details_pb2.Help,
    error_details_pb2.LocalizedMessage,
    error_details_pb2.DebugInfo,
)
# What a frontend reports of the previous decision (NextAction's `previous`).
OFFER_RESULTS: Mapping[str, journeys_pb2.OfferResult] = {
    "accepted": journeys_pb2.OFFER_RESULT_ACCEPTED,
    "refused": journeys_pb2.OFFER_RESULT_REFUSED,
    "failed": journeys_pb2.OFFER_RESULT_FAILED,
    "ignored": journeys_pb2.OFFER_RESULT_IGNORED,
}
_Request = TypeVar("_Request", bound=Message)
_Reply = TypeVar("_Reply", bound=Message)


# Values a frontend passes and gets back.


@dataclass(frozen=True)
class Subject:
    """Who an event or a question is about, e.g. Subject("email", "ada@example.com")."""

    namespace: str
    id: str = field(repr=False)  # an identifier: kept out of logs and tracebacks


@dataclass(frozen=True)
class Event:
    """Something a person did; `occurred_at` defaults to now."""

    subject: Subject
    type: str
    occurred_at: datetime | None = None
    attributes: Mapping[str, Value] = field(default_factory=dict)


@dataclass(frozen=True)
class Segments:
    segments: tuple[str, ...]
    request_id: str


@dataclass(frozen=True)
class Signals:
    values: Mapping[str, Value]
    request_id: str


@dataclass(frozen=True)
class Recorded:
    stored: int
    not_stored: int  # accepted, but not kept: no consent for the purpose, or suppressed
    dropped_attributes: int
    request_id: str


@dataclass(frozen=True)
class ConsentRecorded:
    recorded_at: datetime
    request_id: str


@dataclass(frozen=True)
class OutcomeRecorded:
    recorded_at: datetime
    journey: str  # the decision's
    purpose: str  # the outcome is kept under (the journey's)
    request_id: str


AGENT_VERDICTS = {
    "used": journeys_pb2.AGENT_VERDICT_USED,
    "changed": journeys_pb2.AGENT_VERDICT_CHANGED,
    "rejected": journeys_pb2.AGENT_VERDICT_REJECTED,
}


@dataclass(frozen=True)
class NextAction:
    """The journey engine's decision: the action to take (render its approved
    template), its fallback rung and reasons, and the explanation the person may see.
    Report what became of it as `previous=(decision_id, "refused")` on the next call."""

    decision_id: str
    action: str  # the action's id in the playbook, e.g. "retry_payment"
    kind: str  # clarify, guide, reassure, retry, compensate, knowledge_base, handoff, nothing
    template: str  # the approved template id
    parameters: tuple[str, ...]  # clarify: the top two options, most likely first
    rung: str  # none, clarify, most_likely or human
    confidence: float
    runner_up: str  # the second most likely intent, or ""
    reasons: tuple[str, ...]  # reason codes: why this rung, why others were held back
    explanation: str  # plain language for the person: categories of data, never values
    playbook_version: int
    request_id: str
    arm: str = "treatment"  # or journey_holdout, global_holdout: the baseline action


@dataclass(frozen=True)
class Retry:
    """Reads retried on UNAVAILABLE: `attempts` in all, the n-th pause drawn between
    half and all of min(max_backoff_s, initial_backoff_s * multiplier**(n-1)), all
    within the call's deadline."""

    attempts: int = 4
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 2.0
    multiplier: float = 2.0

    def pause(self, retry: int, draw: float) -> float:
        ceiling = min(self.max_backoff_s, self.initial_backoff_s * self.multiplier ** (retry - 1))
        return ceiling * (0.5 + draw / 2)


# Errors.


class TactfulError(Exception):
    """A failed call: the status code and message, the request id the server recorded
    it under, and the google.rpc details it sent (unpacked where known)."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        request_id: str,
        details: Sequence[Message] = (),
    ) -> None:
        super().__init__(f"{code.name}: {message} (request id {request_id})")
        self.code = code
        self.message = message
        self.request_id = request_id
        self.details = tuple(details)

    @property
    def field_violations(self) -> tuple[error_details_pb2.BadRequest.FieldViolation, ...]:
        return tuple(
            v
            for d in self.details
            if isinstance(d, error_details_pb2.BadRequest)
            for v in d.field_violations
        )

    @property
    def error_info(self) -> error_details_pb2.ErrorInfo | None:
        return next((d for d in self.details if isinstance(d, error_details_pb2.ErrorInfo)), None)


class InvalidArgument(TactfulError):
    pass


class Unauthenticated(TactfulError):
    pass


class PermissionDenied(TactfulError):
    pass


class FailedPrecondition(TactfulError):
    pass


class ResourceExhausted(TactfulError):
    pass


class Unavailable(TactfulError):
    pass


class DeadlineExceeded(TactfulError):
    pass


_ERROR_BY_CODE: dict[grpc.StatusCode, type[TactfulError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
}


# The client.


def connect(
    target: str,
    token: str | None = None,
    *,
    root_ca: str | Path | None = None,
    client_cert: str | Path | None = None,
    client_key: str | Path | None = None,
    plaintext: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    retry: Retry = Retry(),
) -> Client:
    """A client for the server at `target` (HOST:PORT). TLS unless `plaintext` (only
    for a development server on the loopback): the server's certificate is checked
    against `root_ca` (a PEM file; the system's roots if None), and `client_cert` with
    `client_key` (PEM files) are presented for mutual TLS."""
    if (client_cert is None) != (client_key is None):
        raise ValueError("give client_cert and client_key together (mutual TLS)")
    if plaintext:
        if root_ca or client_cert:
            raise ValueError("plaintext=True takes no TLS files")
        channel = grpc.insecure_channel(target)
    else:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=_read(root_ca),
            private_key=_read(client_key),
            certificate_chain=_read(client_cert),
        )
        channel = grpc.secure_channel(target, credentials)
    return Client(channel, token, timeout_s=timeout_s, retry=retry)


class Client:
    """Personalization calls over one channel; use `connect` to make one."""

    def __init__(
        self,
        channel: grpc.Channel,
        token: str | None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retry: Retry = Retry(),
        sleep: Callable[[float], None] = time.sleep,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._channel = channel
        self._stub = personalization_pb2_grpc.PersonalizationStub(channel)
        self._journeys = journeys_pb2_grpc.JourneysStub(channel)
        self._auth = (("authorization", f"Bearer {token}"),) if token else ()
        self._timeout_s = timeout_s
        self._retry = retry
        self._sleep = sleep
        self._draw = draw
        self._trace_context = _trace_context()

    def segments(
        self, subject: Subject, purpose: str, *, request_id: str | None = None
    ) -> Segments:
        """The segments the purpose releases about this person."""
        request = personalization_pb2.GetSegmentsRequest(subject=_subject(subject), purpose=purpose)
        reply, rid = self._call(self._stub.GetSegments, request, request_id, read=True)
        return Segments(tuple(reply.segments), rid)

    def signals(
        self,
        subject: Subject,
        purpose: str,
        names: Iterable[str],
        *,
        request_id: str | None = None,
    ) -> Signals:
        """The named signals, all of them or none (PermissionDenied naming the refused)."""
        request = personalization_pb2.GetSignalsRequest(
            subject=_subject(subject), purpose=purpose, names=list(names)
        )
        reply, rid = self._call(self._stub.GetSignals, request, request_id, read=True)
        return Signals({s.name: _value(s.value) for s in reply.signals}, rid)

    def record(
        self, purpose: str, events: Iterable[Event], *, request_id: str | None = None
    ) -> Recorded:
        """Record a batch of events for the purpose: all stored, or none (InvalidArgument)."""
        now = datetime.now(UTC)
        request = personalization_pb2.RecordEventsRequest(
            purpose=purpose, events=[_event(e, now) for e in events]
        )
        reply, rid = self._call(self._stub.RecordEvents, request, request_id, read=False)
        return Recorded(reply.stored, reply.not_stored, reply.dropped_attributes, rid)

    def consent(
        self,
        subject: Subject,
        purpose: str,
        granted: bool,
        source: str,
        *,
        request_id: str | None = None,
    ) -> ConsentRecorded:
        """Record the person's grant (or withdrawal) for the purpose; `source` says where
        they decided (1 to 200 characters, e.g. "cookie-banner/v3")."""
        request = personalization_pb2.SetConsentRequest(
            subject=_subject(subject), purpose=purpose, granted=granted, source=source
        )
        reply, rid = self._call(self._stub.SetConsent, request, request_id, read=False)
        return ConsentRecorded(reply.recorded_at.ToDatetime(tzinfo=UTC), rid)

    def next_action(
        self,
        subject: Subject,
        journey: str,
        *,
        step: str = "",
        channel: str = "",
        previous: tuple[str, str] | None = None,
        request_id: str | None = None,
    ) -> NextAction:
        """The next action for this person on the journey, at `step`. `previous` is
        (decision_id, result) of the last decision shown: result "accepted", "refused",
        "failed" or "ignored". Not retried: every decision is remembered as an offer."""
        request = journeys_pb2.NextActionRequest(
            subject=_subject(subject), journey=journey, channel=channel, step=step
        )
        if previous is not None:
            decision_id, result = previous
            if result not in OFFER_RESULTS:
                raise ValueError(f"previous result: one of {', '.join(OFFER_RESULTS)}")
            request.previous.decision_id = decision_id
            request.previous.result = OFFER_RESULTS[result]
        reply, rid = self._call(self._journeys.NextAction, request, request_id, read=False)
        action = reply.action
        return NextAction(
            reply.decision_id,
            action.id,
            action.kind,
            action.template,
            tuple(action.parameters),
            reply.rung,
            reply.confidence,
            reply.runner_up,
            tuple(reply.reasons),
            reply.explanation,
            reply.playbook_version,
            rid,
            reply.arm,
        )

    def record_outcome(
        self,
        subject: Subject,
        decision_id: str,
        *,
        journey: str = "",
        resolved: bool | None = None,
        contained: bool | None = None,
        handed_off: bool | None = None,
        reopened: bool | None = None,
        abandoned: bool | None = None,
        converted: bool | None = None,
        complaint: bool | None = None,
        recovered_amount: float | None = None,
        effort: int | None = None,
        time_to_resolution_s: float | None = None,
        handle_time_s: float | None = None,
        agent_verdict: str | None = None,
        request_id: str | None = None,
    ) -> OutcomeRecorded:
        """What happened after the decision `decision_id` for this person: only what is
        given is reported (None: not reported), and only the outcomes the contract
        declares for its journey. `agent_verdict`: "used", "changed" or "rejected". Not
        retried: a write."""
        request = journeys_pb2.RecordOutcomeRequest(
            subject=_subject(subject), decision_id=decision_id, journey=journey
        )
        reported = {
            "resolved": resolved, "contained": contained, "handed_off": handed_off,
            "reopened": reopened, "abandoned": abandoned, "converted": converted,
            "complaint": complaint, "recovered_amount": recovered_amount, "effort": effort,
            "time_to_resolution_s": time_to_resolution_s, "handle_time_s": handle_time_s,
        }  # fmt: skip
        for name, value in reported.items():
            if value is not None:
                setattr(request, name, value)
        if agent_verdict is not None:
            if agent_verdict not in AGENT_VERDICTS:
                raise ValueError(f"agent_verdict: one of {', '.join(AGENT_VERDICTS)}")
            request.agent_verdict = AGENT_VERDICTS[agent_verdict]
        reply, rid = self._call(self._journeys.RecordOutcome, request, request_id, read=False)
        return OutcomeRecorded(
            reply.recorded_at.ToDatetime(tzinfo=UTC), reply.journey, reply.purpose, rid
        )

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(
        self,
        method: grpc.UnaryUnaryMultiCallable[_Request, _Reply],
        request: _Request,
        request_id: str | None,
        *,
        read: bool,
    ) -> tuple[_Reply, str]:
        """One call under one deadline and one request id, retried only if `read`."""
        sent = _request_id(request_id)
        metadata = (*self._auth, ("x-request-id", sent), *self._trace_context())
        deadline = time.monotonic() + self._timeout_s
        retries = 0
        while True:
            try:
                reply, call = method.with_call(
                    request, metadata=metadata, timeout=max(deadline - time.monotonic(), 0.0)
                )
                return reply, _echoed(call, sent)
            except grpc.RpcError as error:
                if not isinstance(error, grpc.Call):  # a stub's failed call is both
                    raise
                retries += 1
                if read and error.code() == grpc.StatusCode.UNAVAILABLE:
                    pause = self._retry.pause(retries, self._draw())
                    if retries < self._retry.attempts and time.monotonic() + pause < deadline:
                        self._sleep(pause)
                        continue
                raise _typed(error, sent) from None


def _trace_context() -> Callable[[], tuple[tuple[str, str], ...]]:
    """The current OpenTelemetry context as call metadata (W3C traceparent, tracestate
    and baggage, or what OTEL_PROPAGATORS says), so that Tactful's span joins the
    caller's trace; nothing if OpenTelemetry is not installed."""
    try:
        from opentelemetry import propagate
    except ImportError:
        return lambda: ()

    def current() -> tuple[tuple[str, str], ...]:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        return tuple(carrier.items())

    return current


# Conversions, and the error's details.


def _request_id(given: str | None) -> str:
    if given is None:
        return uuid.uuid4().hex
    if not REQUEST_ID.fullmatch(given):
        raise ValueError("request_id: 1 to 64 characters of A-Z a-z 0-9 . _ : -")
    return given


def _echoed(call: grpc.Call, sent: str) -> str:
    """The id the server recorded the call under (it may replace ours), else ours. Tactful
    sends it in the trailing metadata."""
    for metadata in (call.trailing_metadata(), call.initial_metadata()):
        for key, value in metadata or ():
            if key == "x-request-id":
                return str(value)
    return sent


def _typed(error: grpc.Call, sent: str) -> TactfulError:
    code = error.code()
    kind = _ERROR_BY_CODE.get(code, TactfulError)
    return kind(code, error.details() or "", _echoed(error, sent), _details(error))


def _details(error: grpc.Call) -> list[Message]:
    for key, value in error.trailing_metadata() or ():
        if key == _DETAILS_KEY and isinstance(value, bytes):  # a -bin key's value is bytes
            status = status_pb2.Status.FromString(value)
            if status.code != error.code().value[0]:
                return []  # not the status this call ended with
            return [_unpack(d) for d in status.details]
    return []


def _unpack(detail: any_pb2.Any) -> Message:
    for kind in _DETAIL_TYPES:
        unpacked = kind()
        if detail.Unpack(unpacked):  # False, and `unpacked` untouched, if not of its type
            return unpacked
    return detail


def _read(path: str | Path | None) -> bytes | None:
    return Path(path).read_bytes() if path is not None else None


def _subject(subject: Subject) -> common_pb2.SubjectRef:
    return common_pb2.SubjectRef(namespace=subject.namespace, id=subject.id)


def _event(event: Event, now: datetime) -> common_pb2.Event:
    return common_pb2.Event(
        subject=_subject(event.subject),
        type=event.type,
        occurred_at=_timestamp(event.occurred_at or now),
        attributes={k: _attribute(k, v) for k, v in event.attributes.items()},
    )


def _attribute(name: str, value: Value) -> common_pb2.AttributeValue:
    # bool before int: True is an int to Python, not to the contract.
    if isinstance(value, bool):
        return common_pb2.AttributeValue(bool_value=value)
    if isinstance(value, int):
        return common_pb2.AttributeValue(int_value=value)
    if isinstance(value, float):
        return common_pb2.AttributeValue(double_value=value)
    if isinstance(value, str):
        return common_pb2.AttributeValue(string_value=value)
    if isinstance(value, datetime):
        return common_pb2.AttributeValue(timestamp_value=_timestamp(value))
    kind = type(value).__name__  # not the value: it may be personal
    raise TypeError(f"attribute {name}: a str, int, float, bool or datetime, not a {kind}")


def _value(value: common_pb2.AttributeValue) -> Value:
    kind = value.WhichOneof("value")
    if kind == "timestamp_value":
        return value.timestamp_value.ToDatetime(tzinfo=UTC)
    if kind is None:
        raise ValueError("the server sent a signal without a value")
    found: Value = getattr(value, kind)
    return found


def _timestamp(moment: datetime) -> Timestamp:
    if moment.tzinfo is None:
        raise ValueError("event times must be timezone-aware, e.g. datetime.now(UTC)")
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp
