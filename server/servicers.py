"""gRPC servicers: thin adapters. The edge authenticates and records; each method
converts the request, makes one domain call, and converts the result."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import grpc

from privacy.consent import ConsentRecorder
from privacy.contract import Contract
from privacy.decisions import Action, Actor, Decision, decide, enforce
from privacy.insights import Insights
from retention.subjects import SubjectRequests
from segments.ingest import EventRecorder, PreparedBatch, RecordResult
from segments.release import Releaser
from server.audit import AccessLogQueries
from server.convert import (
    attribute_to_proto,
    event_from_proto,
    handoff_to_proto,
    subject_from_proto,
    timestamp_from,
)
from server.edge import Edge, Outcome
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
Context = grpc.aio.ServicerContext


class Writer:
    """The single writer thread: every write to the stores goes through it, in order."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    async def run(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)


class IngestQueue:
    """RecordEvents batches waiting for the writer thread, stored together.

    While the writer stores one group, the batches that arrive queue up; the next
    group takes them all (up to `max_group`) into one transaction, so one commit
    serves several calls. A failed group fails each of its calls, none stored."""

    def __init__(self, writer: Writer, recorder: EventRecorder, *, max_group: int = 8) -> None:
        self._writer = writer
        self._recorder = recorder
        self._max_group = max_group
        self._pending: list[tuple[PreparedBatch, datetime, asyncio.Future[RecordResult]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def store(self, batch: PreparedBatch, now: datetime) -> RecordResult:
        future: asyncio.Future[RecordResult] = asyncio.get_running_loop().create_future()
        self._pending.append((batch, now, future))
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                group = self._pending[: self._max_group]
                del self._pending[: self._max_group]
                try:
                    results = await self._writer.run(
                        partial(self._recorder.store_many, [(b, now) for b, now, _ in group])
                    )
                except Exception as exc:
                    for _, _, future in group:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, _, future), result in zip(group, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._draining = None


def _method(service: str, name: str) -> str:
    return f"tactful.v1.{service}/{name}"


def _about(pseudonym: str) -> tuple[str, ...]:
    """The subjects of a call about one person (none if it named nobody)."""
    return (pseudonym,) if pseudonym else ()


class Authorizer:
    """For methods whose domain call does not decide by itself."""

    def __init__(self, contract: Contract) -> None:
        self._contract = contract

    def __call__(self, actor: Actor, action: Action, purpose: str = "") -> Decision:
        return enforce(decide(self._contract, actor, action, purpose))


class PersonalizationServicer(personalization_pb2_grpc.PersonalizationServicer):
    def __init__(
        self,
        edge: Edge,
        authorize: Authorizer,
        recorder: EventRecorder,
        consent: ConsentRecorder,
        releaser: Releaser,
        writer: Writer,
        clock: Clock,
    ) -> None:
        self._edge = edge
        self._authorize = authorize
        self._recorder = recorder
        self._consent = consent
        self._releaser = releaser
        self._writer = writer
        self._clock = clock
        self._ingest = IngestQueue(writer, recorder)

    async def RecordEvents(
        self, request: personalization_pb2.RecordEventsRequest, context: Context
    ) -> Any:
        async def call(actor: Actor) -> Outcome:
            now = self._clock()
            # Checked and pseudonymized here, stored by the writer thread: the Python
            # work on one batch overlaps the SQLite work on another (which releases the
            # GIL, once per statement).
            prepared = self._recorder.prepare(
                actor, request.purpose, [event_from_proto(e) for e in request.events], now=now
            )
            result = await self._ingest.store(prepared, now)
            return Outcome(
                personalization_pb2.RecordEventsResponse(
                    stored=result.stored,
                    not_stored=result.not_stored,
                    dropped_attributes=result.dropped_attributes,
                ),
                result.decision,
                subjects=list(prepared.identities),  # everyone the batch is about
            )

        return await self._edge.run(
            _method("Personalization", "RecordEvents"), request, context, call, writes=True
        )

    async def SetConsent(
        self, request: personalization_pb2.SetConsentRequest, context: Context
    ) -> Any:
        async def call(actor: Actor) -> Outcome:
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
            return Outcome(
                personalization_pb2.SetConsentResponse(
                    recorded_at=timestamp_from(result.recorded_at)
                ),
                result.decision,
                subjects=_about(result.subject),
            )

        return await self._edge.run(
            _method("Personalization", "SetConsent"), request, context, call, writes=True
        )

    async def GetSegments(
        self, request: personalization_pb2.GetSegmentsRequest, context: Context
    ) -> Any:
        async def call(actor: Actor) -> Outcome:
            released = self._releaser.segments(
                actor, subject_from_proto(request.subject), request.purpose, now=self._clock()
            )
            return Outcome(
                personalization_pb2.GetSegmentsResponse(segments=sorted(released.values)),
                released.decision,
                subjects=_about(released.subject),
            )

        return await self._edge.run(
            _method("Personalization", "GetSegments"), request, context, call
        )

    async def GetSignals(
        self, request: personalization_pb2.GetSignalsRequest, context: Context
    ) -> Any:
        async def call(actor: Actor) -> Outcome:
            released = self._releaser.signals(
                actor,
                subject_from_proto(request.subject),
                request.purpose,
                list(request.names),
                now=self._clock(),
            )
            return Outcome(
                personalization_pb2.GetSignalsResponse(
                    signals=[
                        common_pb2.Signal(name=name, value=attribute_to_proto(value))
                        for name, value in sorted(released.values.items())
                    ]
                ),
                released.decision,
                released.decision.requested,
                _about(released.subject),
            )

        return await self._edge.run(
            _method("Personalization", "GetSignals"), request, context, call
        )

    async def GetHandoffContext(
        self, request: personalization_pb2.GetHandoffContextRequest, context: Context
    ) -> Any:
        async def call(actor: Actor) -> Outcome:
            handoff = self._releaser.handoff(
                actor, subject_from_proto(request.subject), request.purpose, now=self._clock()
            )
            return Outcome(
                handoff_to_proto(handoff),
                handoff.decision,
                handoff.decision.requested,
                _about(handoff.subject),
            )

        return await self._edge.run(
            _method("Personalization", "GetHandoffContext"), request, context, call
        )


class AccessLogServicer(access_log_pb2_grpc.AccessLogServicer):
    def __init__(self, edge: Edge, authorize: Authorizer, queries: AccessLogQueries) -> None:
        self._edge = edge
        self._authorize = authorize
        self._queries = queries

    async def QueryAccessLog(
        self, request: access_log_pb2.QueryAccessLogRequest, context: Context
    ) -> Any:
        async def call(actor: Actor) -> Outcome:
            decision = self._authorize(actor, Action.QUERY_ACCESS_LOG)
            return Outcome(self._queries.query(request), decision)

        return await self._edge.run(_method("AccessLog", "QueryAccessLog"), request, context, call)

    async def VerifyAccessLog(
        self, request: access_log_pb2.VerifyAccessLogRequest, context: Context
    ) -> Any:
        async def call(actor: Actor) -> Outcome:
            decision = self._authorize(actor, Action.VERIFY_ACCESS_LOG)
            result = await asyncio.to_thread(self._queries.verify)
            return Outcome(result, decision)

        return await self._edge.run(_method("AccessLog", "VerifyAccessLog"), request, context, call)


class SubjectsServicer(subjects_pb2_grpc.SubjectsServicer):
    def __init__(self, edge: Edge, requests: SubjectRequests, writer: Writer, clock: Clock) -> None:
        self._edge = edge
        self._requests = requests
        self._writer = writer
        self._clock = clock

    async def ExportSubject(
        self, request: subjects_pb2.ExportSubjectRequest, context: Context
    ) -> Any:
        async def call(actor: Actor) -> Outcome:
            export = await self._writer.run(
                partial(
                    self._requests.export,
                    actor,
                    request.subject.namespace,
                    request.subject.id,
                    now=self._clock(),
                )
            )
            document = json.dumps(
                export.document, ensure_ascii=False, indent=2, default=_json_value
            ).encode()
            return Outcome(
                subjects_pb2.ExportSubjectResponse(export_json=document),
                export.decision,
                subjects=_about(export.subject),
            )

        return await self._edge.run(_method("Subjects", "ExportSubject"), request, context, call)

    async def EraseSubject(
        self, request: subjects_pb2.EraseSubjectRequest, context: Context
    ) -> Any:
        async def call(actor: Actor) -> Outcome:
            now = self._clock()
            erasure = await self._writer.run(
                partial(
                    self._requests.erase,
                    actor,
                    request.subject.namespace,
                    request.subject.id,
                    suppress=request.suppress,
                    now=now,
                )
            )
            return Outcome(
                subjects_pb2.EraseSubjectResponse(
                    erased_at=timestamp_from(now), deleted=erasure.deleted
                ),
                erasure.decision,
                subjects=_about(erasure.subject),
            )

        return await self._edge.run(
            _method("Subjects", "EraseSubject"), request, context, call, writes=True
        )


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot export {type(value).__name__}")


class InsightsServicer(insights_pb2_grpc.InsightsServicer):
    def __init__(self, edge: Edge, insights: Insights, writer: Writer, clock: Clock) -> None:
        self._edge = edge
        self._insights = insights
        self._writer = writer
        self._clock = clock

    async def GetSegmentSizes(
        self, request: insights_pb2.GetSegmentSizesRequest, context: Context
    ) -> Any:
        async def call(actor: Actor) -> Outcome:
            released = await self._writer.run(
                partial(
                    self._insights.release_segment_sizes,
                    actor,
                    request.purpose,
                    request.epsilon,
                    now=self._clock(),
                )
            )
            return Outcome(
                insights_pb2.GetSegmentSizesResponse(
                    sizes=[
                        insights_pb2.SegmentSize(segment=name, noisy_count=count)
                        for name, count in released.sizes.items()
                    ],
                    epsilon_spent=released.epsilon_spent,
                    epsilon_remaining=released.epsilon_remaining,
                    sensitivity=released.sensitivity,
                    scale=released.scale,
                ),
                released.decision,
            )

        return await self._edge.run(
            _method("Insights", "GetSegmentSizes"), request, context, call, writes=True
        )
