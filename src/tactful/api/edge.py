"""What every RPC goes through: authenticate, run, write one access record, reply.

The record is written, durably, before the reply leaves. If it cannot be
written, the caller gets UNAVAILABLE and nothing is released, and the health
service says NOT_SERVING until a write succeeds again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import grpc

from tactful.api.decoding import NoSuchMethod, Refused
from tactful.api.errors import status_for
from tactful.api.identity import Caller, CallerAuthenticator
from tactful.api.observability import CallOutcome, Observer, ignore
from tactful.app.auth import Unauthenticated
from tactful.app.limits import FailureLimiter, RefusedWindow, peer_host
from tactful.privacy.access_log import (
    ANONYMOUS,
    AccessEntry,
    AccessLogUnavailable,
    AccessRecord,
    Decided,
    RequestIdOrigin,
)
from tactful.privacy.decisions import Actor, Decision
from tactful.privacy.errors import InvalidRequest, PrivacyError, Violation
from tactful.privacy.pending_records import PendingRecord
from tactful.privacy.pseudonym import NORMALIZERS, Pseudonymizer, subject_violations
from tactful.timestamps import to_us

log = logging.getLogger("tactful.server")
UNAVAILABLE_MESSAGE = "the access log cannot be written; nothing was released"
RATE_LIMITED_MESSAGE = "too many failed calls (from this address or in all); try again later"
RATE_LIMITED_METHOD = "tactful.edge/RateLimited"  # the summary record of refused calls
_LIMITED = frozenset({grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED})


class AccessLogSink(Protocol):
    def submit(self, entry: AccessEntry) -> asyncio.Future[AccessRecord]: ...

    async def wait(self, entry: AccessEntry) -> AccessRecord: ...


@dataclass(frozen=True)
class MethodResult:
    """What a method hands back to the edge: the reply and the decision behind it."""

    response: Any
    decision: Decision | None = None
    requested: Sequence[str] = ()
    # The pseudonyms the call touched, when the domain call already computed them.
    subjects: Sequence[str] | None = None
    # The purpose the call was made under, when the request does not name it
    # (NextAction names a journey; its playbook names the purpose).
    purpose: str | None = None


class Expected:
    """The access record a call gets if it succeeds, for a write to keep in its own
    transaction until that record is durable (privacy/pending_records.py)."""

    def __init__(
        self,
        build: Callable[[MethodResult], AccessEntry],
        recorded: Callable[[PendingRecord], None],
    ) -> None:
        self._build = build
        self._recorded = recorded
        self.kept: PendingRecord | None = None

    def record(
        self, result: MethodResult, *, recorded: Callable[[PendingRecord], None] | None = None
    ) -> PendingRecord:
        """The pending record of a call that ends with `result` (its reply aside).
        `recorded`: told once the call's record is durable, to drop the copy from the
        store that keeps it (by default the behavior store's, as the edge was told)."""
        self.kept = PendingRecord(self._build(result))
        self._recorded = recorded or self._recorded
        return self.kept

    def durable(self) -> None:
        """The call's record is durable: its pending copy, if it kept one, may go."""
        if self.kept is not None:
            self._recorded(self.kept)


Call = Callable[[Actor, Expected], Awaitable[MethodResult]]
T = TypeVar("T")


class Scheduler(Protocol):
    """Where a blocking call runs (the loop, a thread, the engine's writer): what it
    returns comes back, of its own type."""

    def __call__(self, call: Callable[[], T], /) -> Awaitable[T]: ...


async def _inline(call: Callable[[], T]) -> T:
    """A read that is a local file access: cheaper on the loop than a thread hop."""
    return call()


class Edge:
    def __init__(
        self,
        authenticator: CallerAuthenticator,
        pseudonymizer: Pseudonymizer,
        access_log: AccessLogSink,
        set_serving: Callable[[bool], Awaitable[None]],
        clock: Callable[[], Any],
        max_message_bytes: int,
        limiter: FailureLimiter,
        observe: Observer = ignore,  # told of every call once its record is written
        reads: Scheduler | None = None,  # where a read's domain call runs; None: the loop
        # Told that a pending record kept in the behavior store is durable (Expected).
        recorded: Callable[[PendingRecord], None] = lambda record: None,
        # A journey's purpose, for a refused call that names a journey, not a purpose.
        purpose_of_journey: Callable[[str], str] = lambda journey: "",
        # Told of every call as it arrives (the metrics' started and in-flight counts).
        started: Callable[[str], None] = lambda method: None,
        # The metadata keys that carry a trace context (empty: tracing is off).
        trace_fields: frozenset[str] = frozenset(),
        # Every field problem of a request refused as invalid (api/refusals.py).
        complete_refusal: Callable[[str, Any, Actor | None, InvalidRequest], InvalidRequest]
        | None = None,
    ) -> None:
        self._started = started
        self._trace_fields = trace_fields
        self._complete_refusal = complete_refusal
        self._purpose_of_journey = purpose_of_journey
        self.reads = reads or _inline
        self._recorded = recorded
        self._authenticator = authenticator
        self._pseudonymizer = pseudonymizer
        self._log = access_log
        self._report_serving = set_serving
        self._clock = clock
        self._max_message_bytes = max_message_bytes
        self._limiter = limiter
        self._observe = observe
        self._serving = True

    async def run(
        self,
        method: str,
        request: Any,
        context: grpc.aio.ServicerContext[Any, Any],
        call: Call,
        *,
        writes: bool = False,
    ) -> Any:
        """Authenticate, run `call`, record the access, reply.

        A call that `writes` is not run at all while the access log is failing: its
        effect could not be accounted for. A write that has already committed when the
        log fails answers UNAVAILABLE like every call; if it kept `expected`'s pending
        record with its data (every call that writes does), it is written later by the
        recovery (api/recovery.py), so its data is never without one."""
        started = time.perf_counter_ns()
        self._started(method)
        now = self._clock()
        request_id, origin = _request_id(context)
        actor: Actor | None = None
        caller: Caller | None = None
        result: MethodResult | None = None
        error: Exception | None = None
        certificate = self._authenticator.certificate_of(context.auth_context())

        def entry(result: MethodResult | None, error: Exception | None, status: grpc.Status,
                  latency_us: int) -> AccessEntry:  # fmt: skip
            decision = result.decision if result else getattr(error, "decision", None)
            return AccessEntry(
                time_us=to_us(now),
                principal=actor.name if actor else ANONYMOUS,
                role=decision.role if decision and decision.role else _first_role(actor),
                method=method,
                purpose=_name(
                    result.purpose
                    if result and result.purpose is not None
                    else getattr(request, "purpose", "")
                    or self._purpose_of_journey(getattr(request, "journey", ""))
                ),
                subjects=tuple(
                    sorted(set(result.subjects))
                    if result and result.subjects is not None
                    else self._subjects_of(request)
                ),
                requested=tuple(map(_name, result.requested if result else _requested(request))),
                released=tuple(decision.released) if decision and error is None else (),
                decision=Decided.ALLOWED if error is None else Decided.DENIED,
                status=status.code.name,
                reason=_reason(decision, error, status.details),
                request_id=request_id,
                latency_us=latency_us,
                request_id_origin=origin,
                authenticated_by=caller.authenticated_by if caller else "",
                certificate_sha256=certificate.sha256 if certificate else "",
            )

        expected = Expected(lambda result: entry(result, None, _OK, 0), self._recorded)
        try:
            caller = self._authenticator.authenticate(context.invocation_metadata(), certificate)
            actor = caller.actor
            self._check_size(request)
            if writes and not self._serving:
                raise AccessLogUnavailable("writes are paused until the access log recovers")
            result = await call(actor, expected)
        except grpc.aio.AbortError:
            raise
        except InvalidRequest as exc:  # only a refused call pays for naming all its problems
            error = self._completed(method, request, actor, exc)
        except Exception as exc:
            error = exc
            if not isinstance(exc, (PrivacyError, Unauthenticated, NoSuchMethod)):
                log.exception("%s failed", method)
        status = _status(error)
        principal = actor.name if actor else ANONYMOUS
        # The id the record holds goes back with every answer, in the trailing metadata
        # (initial metadata would cost an extra send for every call).
        echo = (("x-request-id", request_id),)
        carrier = _carrier(context, self._trace_fields) if self._trace_fields else ()
        if status.code in _LIMITED and not self._admit_failure(context, method, principal, status):
            refused = entry(result, error, _RATE_LIMITED, 0)
            elapsed = time.perf_counter_ns() - started
            self._observe(CallOutcome.of(refused, True, elapsed, trace_carrier=carrier,
                                         summarized=True))  # fmt: skip
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, RATE_LIMITED_MESSAGE, echo)
        record = entry(result, error, status, (time.perf_counter_ns() - started) // 1000)
        recorded = False
        try:
            await self._log.wait(record)
            recorded = True
        except AccessLogUnavailable as exc:
            # A pending record the call kept stays: the recovery writes it later.
            log.error("access log write failed (%s); answering UNAVAILABLE", exc)
            await self._set_serving(False)
            await context.abort(grpc.StatusCode.UNAVAILABLE, UNAVAILABLE_MESSAGE, echo)
        finally:
            elapsed = time.perf_counter_ns() - started
            self._observe(CallOutcome.of(record, recorded, elapsed, error=error,
                                         trace_carrier=carrier))  # fmt: skip
        expected.durable()
        await self._set_serving(True)
        if error is not None:
            await context.abort(status.code, status.details, (*status.trailing_metadata, *echo))
        assert result is not None
        context.set_trailing_metadata(echo)
        return result.response

    def _completed(
        self, method: str, request: Any, actor: Actor | None, refused: InvalidRequest
    ) -> InvalidRequest:
        if self._complete_refusal is None:
            return refused
        try:
            return self._complete_refusal(method, request, actor, refused)
        except Exception:  # the refusal stands as the method made it, and is recorded
            log.exception("%s: naming every field problem failed", method)
            return refused

    def _admit_failure(
        self,
        context: grpc.aio.ServicerContext[Any, Any],
        method: str,
        principal: str,
        status: grpc.Status,
    ) -> bool:
        """Whether this failed call is recorded on its own; if not, it is counted into
        the summary record of its window, written when the window ends."""
        peer = _caller_address(context)
        if self._limiter.admit_failure(peer, now_s=time.monotonic()):
            return True
        now_us = to_us(self._clock())
        if self._limiter.refuse(peer, method, principal, status.code.name, now_us=now_us):
            asyncio.get_running_loop().call_later(
                self._limiter.limits.summary_s, self._write_summary
            )
        return False

    def _write_summary(self) -> None:
        window = self._limiter.close_window()
        if window is not None:
            self._log.submit(self._summary(window)).add_done_callback(_log_summary_failure)

    def _summary(self, window: RefusedWindow) -> AccessEntry:
        now_us = to_us(self._clock())
        return AccessEntry(
            time_us=now_us,
            principal=ANONYMOUS,
            role="",
            method=RATE_LIMITED_METHOD,
            purpose="",
            subjects=(),
            requested=(),
            released=(),
            decision=Decided.DENIED,
            status=grpc.StatusCode.RESOURCE_EXHAUSTED.name,
            reason=window.reason(now_us),
            request_id=os.urandom(16).hex(),
            latency_us=0,
            request_id_origin=RequestIdOrigin.GENERATED,
        )

    def close(self) -> None:
        """Hand the open window's summary to the access log before it closes."""
        self._write_summary()

    def _check_size(self, request: Any) -> None:
        if isinstance(request, Refused):
            raise InvalidRequest(request.violations())
        size = request.ByteSize()
        if size > self._max_message_bytes:
            raise InvalidRequest(
                [
                    Violation(
                        "request", f"message is {size} bytes; at most {self._max_message_bytes}"
                    )
                ]
            )

    def _subjects_of(self, request: Any) -> list[str]:
        """The pseudonyms of every well-formed subject a request names, for the record of
        a call that failed before the domain computed them; never a raw identifier."""
        subjects = [request.subject] if _has(request, "subject") else []
        if not subjects and hasattr(request, "events"):
            subjects = [e.subject for e in request.events]
        pseudonyms = set()
        for namespace, identifier in {(s.namespace, s.id) for s in subjects}:
            if subject_violations(namespace, identifier, field="subject"):
                continue
            normalized = NORMALIZERS[namespace](identifier)
            pseudonyms.add(self._pseudonymizer.pseudonymize(namespace, normalized))
        return sorted(pseudonyms)

    async def _set_serving(self, serving: bool) -> None:
        if serving == self._serving:
            return
        self._serving = serving
        await self._report_serving(serving)


def _status(error: Exception | None) -> grpc.Status:
    if error is None:
        return _OK
    if isinstance(error, AccessLogUnavailable):
        return _Status(grpc.StatusCode.UNAVAILABLE, UNAVAILABLE_MESSAGE, ())
    return status_for(error)


@dataclass(frozen=True)
class _Status(grpc.Status):
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, bytes], ...]


_OK = _Status(grpc.StatusCode.OK, "", ())
_RATE_LIMITED = _Status(grpc.StatusCode.RESOURCE_EXHAUSTED, RATE_LIMITED_MESSAGE, ())


def _carrier(
    context: grpc.aio.ServicerContext[Any, Any], fields: frozenset[str]
) -> tuple[tuple[str, str], ...]:
    """The call's trace context headers (W3C traceparent and the like), nothing else."""
    return tuple(
        (key, value)
        for key, value in context.invocation_metadata() or ()
        if key in fields and isinstance(value, str)
    )


# A contract name, or one with its kind ("journey:checkout_recovery", "signal:plan").
_NAME = re.compile(r"(?:[a-z]{1,16}:)?[a-z][a-z0-9_]{0,63}")
_FIELD_PATH = re.compile(r"[a-z0-9_]+(\[[0-9]+\])?(\.[a-z0-9_]+(\[[0-9]+\])?)*")


def _name(text: str) -> str:
    """A client-supplied name as the log may keep it: only if it looks like a contract
    name. Anything else (an email typed into the wrong field, say) is not copied."""
    return text if not text or _NAME.fullmatch(text) else "<not a declared name>"


def _reason(decision: Decision | None, error: Exception | None, details: str) -> str:
    """Why, without echoing client input: a refused request names only its fields."""
    if error is None:
        return decision.reason if decision else "ok"
    if isinstance(error, InvalidRequest):
        fields = sorted(
            {v.field if _FIELD_PATH.fullmatch(v.field) else "<field>" for v in error.violations}
        )
        more = f", and {len(fields) - _REASON_FIELDS} more" if len(fields) > _REASON_FIELDS else ""
        return "invalid request: " + ", ".join(fields[:_REASON_FIELDS]) + more
    return details


_REASON_FIELDS = 20  # a batch of 1,000 bad events names 20 of its fields in the record


def _has(request: Any, field: str) -> bool:
    try:
        return bool(request.HasField(field))
    except (ValueError, AttributeError):  # no such field; an Undecodable has none
        return False


def _requested(request: Any) -> list[str]:
    if hasattr(request, "names"):
        return sorted(set(request.names))
    if hasattr(request, "events"):
        return sorted({e.type for e in request.events})
    if hasattr(request, "decision_id") and not request.journey:
        return []  # RecordOutcome refused before its decision, which names the journey
    if hasattr(request, "journey"):  # NextAction (RecordOutcome) refused before its decision
        return [f"journey:{request.journey}"]
    return []


def _first_role(actor: Actor | None) -> str:
    return min(actor.roles) if actor and actor.roles else ""


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def _request_id(context: grpc.aio.ServicerContext[Any, Any]) -> tuple[str, RequestIdOrigin]:
    """The caller's x-request-id if it looks like an id, else a new one. Anything else
    (an email address sent as an id, say) would be personal data in the log, kept after
    that person's erasure, so it is not kept."""
    for key, value in context.invocation_metadata() or ():
        if key == "x-request-id":
            if isinstance(value, str) and _REQUEST_ID.fullmatch(value):
                return value, RequestIdOrigin.CALLER
            return _new_request_id(), RequestIdOrigin.REPLACED
    return _new_request_id(), RequestIdOrigin.GENERATED


def _new_request_id() -> str:
    return os.urandom(16).hex()  # 128 random bits, like a uuid4


def _log_summary_failure(future: asyncio.Future[AccessRecord]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("the summary of rate-limited calls could not be recorded")


# The HTTP/JSON door (api/http_door.py) calls through a Unix socket only this process's
# user can reach, naming its own caller's address here, so that the failed-call limits
# count each HTTP caller apart instead of the door's callers all together.
DOOR_CLIENT_KEY = "tactful-door-client"


def _caller_address(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """The peer the failed-call limits count: the door's caller for a call the door
    made (read only on a failed call), else the gRPC peer."""
    peer = context.peer() or ""
    if peer.startswith("unix:"):
        for key, value in context.invocation_metadata() or ():
            if key == DOOR_CLIENT_KEY and isinstance(value, str):
                return f"door:{value}"
    return peer_host(peer)
