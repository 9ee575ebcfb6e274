"""gRPC servicers: thin adapters. Authenticate, convert, one domain call, convert."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime
from functools import partial
from typing import NoReturn, TypeVar

import grpc

from privacy.consent import ConsentRecorder
from privacy.contract import Contract
from privacy.decisions import Action, Actor, Decision, decide, enforce
from privacy.errors import InvalidRequest, Violation
from segments.ingest import EventRecorder
from segments.release import Releaser
from server.auth import Authenticator
from server.convert import (
    attribute_to_proto,
    event_from_proto,
    subject_from_proto,
    timestamp_from,
)
from server.errors import mapped_errors
from tactful.v1 import (
    access_log_pb2,
    access_log_pb2_grpc,
    common_pb2,
    insights_pb2,
    insights_pb2_grpc,
    personalization_pb2,
    personalization_pb2_grpc,
    subjects_pb2,
    subjects_pb2_grpc,
)

Clock = Callable[[], datetime]
T = TypeVar("T")


class Gate:
    """What every RPC does first: authenticate, bound the request size, check the role."""

    def __init__(
        self, authenticator: Authenticator, contract: Contract, max_message_bytes: int
    ) -> None:
        self._authenticator = authenticator
        self._contract = contract
        self._max_message_bytes = max_message_bytes

    def admit(self, request: object, context: grpc.aio.ServicerContext) -> Actor:
        actor = self._authenticator.authenticate(context.invocation_metadata())
        size = request.ByteSize()  # type: ignore[attr-defined]
        if size > self._max_message_bytes:
            raise InvalidRequest(
                [
                    Violation(
                        "request", f"message is {size} bytes; at most {self._max_message_bytes}"
                    )
                ]
            )
        return actor

    def authorize(self, actor: Actor, action: Action, purpose: str = "") -> Decision:
        """For methods whose domain call does not decide itself."""
        return enforce(decide(self._contract, actor, action, purpose))


class Writer:
    """The single writer thread: every write to the stores goes through it, in order."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    async def run(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)


async def _not_yet(context: grpc.aio.ServicerContext, method: str, arrives_with: str) -> NoReturn:
    await context.abort(
        grpc.StatusCode.UNIMPLEMENTED,
        f"{method} is not available yet; it arrives with {arrives_with}",
    )
    raise AssertionError("abort returned")  # pragma: no cover


class PersonalizationServicer(personalization_pb2_grpc.PersonalizationServicer):
    def __init__(
        self,
        gate: Gate,
        recorder: EventRecorder,
        consent: ConsentRecorder,
        releaser: Releaser,
        writer: Writer,
        clock: Clock,
    ) -> None:
        self._gate = gate
        self._recorder = recorder
        self._consent = consent
        self._releaser = releaser
        self._writer = writer
        self._clock = clock

    @mapped_errors
    async def RecordEvents(
        self, request: personalization_pb2.RecordEventsRequest, context: grpc.aio.ServicerContext
    ) -> personalization_pb2.RecordEventsResponse:
        actor = self._gate.admit(request, context)
        events = [event_from_proto(e) for e in request.events]
        result = await self._writer.run(
            partial(self._recorder.record, actor, request.purpose, events, now=self._clock())
        )
        return personalization_pb2.RecordEventsResponse(
            stored=result.stored,
            not_stored=result.not_stored,
            dropped_attributes=result.dropped_attributes,
        )

    @mapped_errors
    async def SetConsent(
        self, request: personalization_pb2.SetConsentRequest, context: grpc.aio.ServicerContext
    ) -> personalization_pb2.SetConsentResponse:
        actor = self._gate.admit(request, context)
        result = await self._writer.run(
            partial(
                self._consent.set_consent,
                actor,
                request.subject.namespace,
                request.subject.id,
                request.purpose,
                request.granted,
                request.source,
                now=self._clock(),
            )
        )
        return personalization_pb2.SetConsentResponse(
            recorded_at=timestamp_from(result.recorded_at)
        )

    @mapped_errors
    async def GetSegments(
        self, request: personalization_pb2.GetSegmentsRequest, context: grpc.aio.ServicerContext
    ) -> personalization_pb2.GetSegmentsResponse:
        actor = self._gate.admit(request, context)
        released = self._releaser.segments(
            actor, subject_from_proto(request.subject), request.purpose, now=self._clock()
        )
        return personalization_pb2.GetSegmentsResponse(segments=sorted(released.values))

    @mapped_errors
    async def GetSignals(
        self, request: personalization_pb2.GetSignalsRequest, context: grpc.aio.ServicerContext
    ) -> personalization_pb2.GetSignalsResponse:
        actor = self._gate.admit(request, context)
        released = self._releaser.signals(
            actor,
            subject_from_proto(request.subject),
            request.purpose,
            list(request.names),
            now=self._clock(),
        )
        return personalization_pb2.GetSignalsResponse(
            signals=[
                common_pb2.Signal(name=name, value=attribute_to_proto(value))
                for name, value in sorted(released.values.items())
            ]
        )

    @mapped_errors
    async def GetHandoffContext(
        self,
        request: personalization_pb2.GetHandoffContextRequest,
        context: grpc.aio.ServicerContext,
    ) -> personalization_pb2.GetHandoffContextResponse:
        actor = self._gate.admit(request, context)
        self._gate.authorize(actor, Action.READ_HANDOFF, request.purpose)
        await _not_yet(context, "GetHandoffContext", "intent and support handoff (issue 6)")


class AccessLogServicer(access_log_pb2_grpc.AccessLogServicer):
    def __init__(self, gate: Gate) -> None:
        self._gate = gate

    @mapped_errors
    async def QueryAccessLog(
        self, request: access_log_pb2.QueryAccessLogRequest, context: grpc.aio.ServicerContext
    ) -> access_log_pb2.QueryAccessLogResponse:
        self._gate.authorize(self._gate.admit(request, context), Action.QUERY_ACCESS_LOG)
        await _not_yet(context, "QueryAccessLog", "the access log (issue 4)")

    @mapped_errors
    async def VerifyAccessLog(
        self, request: access_log_pb2.VerifyAccessLogRequest, context: grpc.aio.ServicerContext
    ) -> access_log_pb2.VerifyAccessLogResponse:
        self._gate.authorize(self._gate.admit(request, context), Action.VERIFY_ACCESS_LOG)
        await _not_yet(context, "VerifyAccessLog", "the access log (issue 4)")


class SubjectsServicer(subjects_pb2_grpc.SubjectsServicer):
    def __init__(self, gate: Gate) -> None:
        self._gate = gate

    @mapped_errors
    async def ExportSubject(
        self, request: subjects_pb2.ExportSubjectRequest, context: grpc.aio.ServicerContext
    ) -> subjects_pb2.ExportSubjectResponse:
        self._gate.authorize(self._gate.admit(request, context), Action.EXPORT_SUBJECT)
        await _not_yet(context, "ExportSubject", "erasure and export (issue 5)")

    @mapped_errors
    async def EraseSubject(
        self, request: subjects_pb2.EraseSubjectRequest, context: grpc.aio.ServicerContext
    ) -> subjects_pb2.EraseSubjectResponse:
        self._gate.authorize(self._gate.admit(request, context), Action.ERASE_SUBJECT)
        await _not_yet(context, "EraseSubject", "erasure and export (issue 5)")


class InsightsServicer(insights_pb2_grpc.InsightsServicer):
    def __init__(self, gate: Gate) -> None:
        self._gate = gate

    @mapped_errors
    async def GetSegmentSizes(
        self, request: insights_pb2.GetSegmentSizesRequest, context: grpc.aio.ServicerContext
    ) -> insights_pb2.GetSegmentSizesResponse:
        actor = self._gate.admit(request, context)
        self._gate.authorize(actor, Action.READ_AGGREGATES, request.purpose)
        await _not_yet(context, "GetSegmentSizes", "differentially private insights (issue 6)")
