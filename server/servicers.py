"""gRPC servicers: thin adapters. Authenticate, convert, one domain call, convert."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime
from functools import partial
from typing import NoReturn

import grpc

from privacy.errors import InvalidRequest, Violation
from segments.ingest import EventRecorder, SegmentReader
from server.auth import Authenticator, Principal
from server.convert import event_from_proto, subject_from_proto
from server.errors import mapped_errors
from tactful.v1 import (
    access_log_pb2,
    access_log_pb2_grpc,
    insights_pb2,
    insights_pb2_grpc,
    personalization_pb2,
    personalization_pb2_grpc,
    subjects_pb2,
    subjects_pb2_grpc,
)

Clock = Callable[[], datetime]


class Gate:
    """What every RPC does first: authenticate, and bound the request size."""

    def __init__(self, authenticator: Authenticator, max_message_bytes: int) -> None:
        self._authenticator = authenticator
        self._max_message_bytes = max_message_bytes

    def admit(self, request: object, context: grpc.aio.ServicerContext) -> Principal:
        principal = self._authenticator.authenticate(context.invocation_metadata())
        size = request.ByteSize()  # type: ignore[attr-defined]
        if size > self._max_message_bytes:
            raise InvalidRequest(
                [
                    Violation(
                        "request", f"message is {size} bytes; at most {self._max_message_bytes}"
                    )
                ]
            )
        return principal


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
        reader: SegmentReader,
        writer: Executor,
        clock: Clock,
    ) -> None:
        self._gate = gate
        self._recorder = recorder
        self._reader = reader
        self._writer = writer
        self._clock = clock

    @mapped_errors
    async def RecordEvents(
        self, request: personalization_pb2.RecordEventsRequest, context: grpc.aio.ServicerContext
    ) -> personalization_pb2.RecordEventsResponse:
        self._gate.admit(request, context)
        events = [event_from_proto(e) for e in request.events]
        record = partial(self._recorder.record, request.purpose, events, now=self._clock())
        result = await asyncio.get_running_loop().run_in_executor(self._writer, record)
        return personalization_pb2.RecordEventsResponse(stored=result.stored)

    @mapped_errors
    async def GetSegments(
        self, request: personalization_pb2.GetSegmentsRequest, context: grpc.aio.ServicerContext
    ) -> personalization_pb2.GetSegmentsResponse:
        self._gate.admit(request, context)
        segments = self._reader.segments(
            subject_from_proto(request.subject), request.purpose, now=self._clock()
        )
        return personalization_pb2.GetSegmentsResponse(segments=segments)

    @mapped_errors
    async def SetConsent(
        self, request: personalization_pb2.SetConsentRequest, context: grpc.aio.ServicerContext
    ) -> personalization_pb2.SetConsentResponse:
        self._gate.admit(request, context)
        await _not_yet(context, "SetConsent", "consent and purpose enforcement (issue 3)")

    @mapped_errors
    async def GetSignals(
        self, request: personalization_pb2.GetSignalsRequest, context: grpc.aio.ServicerContext
    ) -> personalization_pb2.GetSignalsResponse:
        self._gate.admit(request, context)
        await _not_yet(context, "GetSignals", "purpose-gated release (issue 3)")

    @mapped_errors
    async def GetHandoffContext(
        self,
        request: personalization_pb2.GetHandoffContextRequest,
        context: grpc.aio.ServicerContext,
    ) -> personalization_pb2.GetHandoffContextResponse:
        self._gate.admit(request, context)
        await _not_yet(context, "GetHandoffContext", "intent and support handoff (issue 6)")


class AccessLogServicer(access_log_pb2_grpc.AccessLogServicer):
    def __init__(self, gate: Gate) -> None:
        self._gate = gate

    @mapped_errors
    async def QueryAccessLog(
        self, request: access_log_pb2.QueryAccessLogRequest, context: grpc.aio.ServicerContext
    ) -> access_log_pb2.QueryAccessLogResponse:
        self._gate.admit(request, context)
        await _not_yet(context, "QueryAccessLog", "the access log (issue 4)")

    @mapped_errors
    async def VerifyAccessLog(
        self, request: access_log_pb2.VerifyAccessLogRequest, context: grpc.aio.ServicerContext
    ) -> access_log_pb2.VerifyAccessLogResponse:
        self._gate.admit(request, context)
        await _not_yet(context, "VerifyAccessLog", "the access log (issue 4)")


class SubjectsServicer(subjects_pb2_grpc.SubjectsServicer):
    def __init__(self, gate: Gate) -> None:
        self._gate = gate

    @mapped_errors
    async def ExportSubject(
        self, request: subjects_pb2.ExportSubjectRequest, context: grpc.aio.ServicerContext
    ) -> subjects_pb2.ExportSubjectResponse:
        self._gate.admit(request, context)
        await _not_yet(context, "ExportSubject", "erasure and export (issue 5)")

    @mapped_errors
    async def EraseSubject(
        self, request: subjects_pb2.EraseSubjectRequest, context: grpc.aio.ServicerContext
    ) -> subjects_pb2.EraseSubjectResponse:
        self._gate.admit(request, context)
        await _not_yet(context, "EraseSubject", "erasure and export (issue 5)")


class InsightsServicer(insights_pb2_grpc.InsightsServicer):
    def __init__(self, gate: Gate) -> None:
        self._gate = gate

    @mapped_errors
    async def GetSegmentSizes(
        self, request: insights_pb2.GetSegmentSizesRequest, context: grpc.aio.ServicerContext
    ) -> insights_pb2.GetSegmentSizesResponse:
        self._gate.admit(request, context)
        await _not_yet(context, "GetSegmentSizes", "differentially private insights (issue 6)")
