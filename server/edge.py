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
from typing import Any, Protocol

import grpc

from privacy.access_log import ANONYMOUS, AccessEntry, AccessLogUnavailable, AccessRecord, Decided
from privacy.decisions import Actor, Decision
from privacy.errors import InvalidRequest, PrivacyError, Violation
from privacy.pseudonym import NORMALIZERS, Pseudonymizer, subject_violations
from segments.ingest import to_us
from server.auth import Authenticator, Unauthenticated
from server.errors import status_for

log = logging.getLogger("tactful.server")
UNAVAILABLE_MESSAGE = "the access log cannot be written; nothing was released"


class AccessLogSink(Protocol):
    def submit(self, entry: AccessEntry) -> asyncio.Future[AccessRecord]: ...


@dataclass(frozen=True)
class Outcome:
    """What a method hands back to the edge: the reply and the decision behind it."""

    response: Any
    decision: Decision | None = None
    requested: Sequence[str] = ()
    subject: str | None = None  # the pseudonym, when the domain call already computed it


Call = Callable[[Actor], Awaitable[Outcome]]


class Edge:
    def __init__(
        self,
        authenticator: Authenticator,
        pseudonymizer: Pseudonymizer,
        access_log: AccessLogSink,
        set_serving: Callable[[bool], Awaitable[None]],
        clock: Callable[[], Any],
        max_message_bytes: int,
    ) -> None:
        self._authenticator = authenticator
        self._pseudonymizer = pseudonymizer
        self._log = access_log
        self._report_serving = set_serving
        self._clock = clock
        self._max_message_bytes = max_message_bytes
        self._serving = True

    async def run(
        self,
        method: str,
        request: Any,
        context: grpc.aio.ServicerContext,
        call: Call,
        *,
        writes: bool = False,
    ) -> Any:
        """Authenticate, run `call`, record the access, reply.

        A call that `writes` is not run at all while the access log is failing: its
        effect could not be accounted for. (The first write to meet a failing log has
        already committed; it answers UNAVAILABLE like every call until the log
        recovers.)"""
        started = time.perf_counter_ns()
        now = self._clock()
        actor: Actor | None = None
        outcome: Outcome | None = None
        error: Exception | None = None
        try:
            actor = self._authenticator.authenticate(context.invocation_metadata())
            self._check_size(request)
            if writes and not self._serving:
                raise AccessLogUnavailable("writes are paused until the access log recovers")
            outcome = await call(actor)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            error = exc
            if not isinstance(exc, (PrivacyError, Unauthenticated)):
                log.exception("%s failed", method)
        status = _status(error)
        decision = outcome.decision if outcome else getattr(error, "decision", None)
        entry = AccessEntry(
            time_us=to_us(now),
            principal=actor.name if actor else ANONYMOUS,
            role=decision.role if decision and decision.role else _first_role(actor),
            method=method,
            purpose=_name(getattr(request, "purpose", "") or ""),
            subject=(
                outcome.subject
                if outcome and outcome.subject is not None
                else self._subject_of(request)
            ),
            requested=tuple(map(_name, outcome.requested if outcome else _requested(request))),
            released=tuple(decision.released) if decision and error is None else (),
            decision=Decided.ALLOWED if error is None else Decided.DENIED,
            status=status.code.name,
            reason=_reason(decision, error, status.details),
            request_id=_request_id(context),
            latency_us=(time.perf_counter_ns() - started) // 1000,
        )
        try:
            await self._log.submit(entry)
        except AccessLogUnavailable:
            log.error("access log write failed; answering UNAVAILABLE")
            await self._set_serving(False)
            await context.abort(grpc.StatusCode.UNAVAILABLE, UNAVAILABLE_MESSAGE)
        await self._set_serving(True)
        if error is not None:
            await context.abort(status.code, status.details, status.trailing_metadata)
        assert outcome is not None
        return outcome.response

    def _check_size(self, request: Any) -> None:
        size = request.ByteSize()
        if size > self._max_message_bytes:
            raise InvalidRequest(
                [
                    Violation(
                        "request", f"message is {size} bytes; at most {self._max_message_bytes}"
                    )
                ]
            )

    def _subject_of(self, request: Any) -> str:
        """The subject's pseudonym for the record; never the raw identifier."""
        subjects = [request.subject] if _has(request, "subject") else []
        if not subjects and hasattr(request, "events"):
            subjects = [e.subject for e in request.events]
        pseudonyms = set()
        for subject in subjects:
            if subject_violations(subject.namespace, subject.id, field="subject"):
                continue
            normalized = NORMALIZERS[subject.namespace](subject.id)
            pseudonyms.add(self._pseudonymizer.pseudonymize(subject.namespace, normalized))
            if len(pseudonyms) > 1:
                return ""  # a batch about several people names none of them
        return pseudonyms.pop() if pseudonyms else ""

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


_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
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
        return "invalid request: " + ", ".join(fields)
    return details


def _has(request: Any, field: str) -> bool:
    try:
        return bool(request.HasField(field))
    except ValueError:
        return False


def _requested(request: Any) -> list[str]:
    if hasattr(request, "names"):
        return sorted(set(request.names))
    if hasattr(request, "events"):
        return sorted({e.type for e in request.events})
    return []


def _first_role(actor: Actor | None) -> str:
    return min(actor.roles) if actor and actor.roles else ""


def _request_id(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "x-request-id" and isinstance(value, str) and 0 < len(value) <= 128:
            return value
    return os.urandom(16).hex()  # 128 random bits, like a uuid4
