"""gRPC servicers: thin adapters. The edge authenticates and records; each method
converts the request, makes one domain call, and converts the result."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Generic, Protocol

from tactful.api.access_log import AccessLogQueries
from tactful.api.convert import (
    attribute_to_proto,
    event_from_proto,
    handoff_to_proto,
    journey_decision_to_proto,
    next_action_from_proto,
    outcome_to_proto,
    record_outcome_from_proto,
    subject_from_proto,
    timestamp_from,
)
from tactful.api.edge import Edge, Expected, MethodResult
from tactful.api.rpc import WriteScheduler, rpc
from tactful.api.scorecard_convert import scorecard_result, scorecard_window
from tactful.journeys.next_action import Ask, JourneyDecision, JourneyHandoff
from tactful.journeys.outcome_recorder import OutcomeDecision
from tactful.journeys.outcomes import OutcomeReport
from tactful.journeys.scorecard import Scorecards
from tactful.lifecycle.subject_requests import SubjectRequests
from tactful.privacy.consent import ConsentRecorder
from tactful.privacy.contract import Contract
from tactful.privacy.decisions import Action, Actor, Decision, decide, enforce
from tactful.privacy.insights import Insights, ReleasedSizes
from tactful.privacy.pending_records import PendingRecord
from tactful.segments.ingest import EventRecorder, PreparedBatch, RecordResult, SubjectInput
from tactful.segments.release import Releaser
from tactful.segments.store import AttributeScalar, Batch
from tactful.v1 import (
    access_log_pb2,
    access_log_pb2_grpc,
    common_pb2,
    insights_pb2,
    insights_pb2_grpc,
    journeys_pb2,
    journeys_pb2_grpc,
    personalization_pb2,
    personalization_pb2_grpc,
    subjects_pb2,
    subjects_pb2_grpc,
)

Clock = Callable[[], datetime]
P = personalization_pb2


class IngestSink(Protocol[Batch]):
    """The engine's way of storing prepared RecordEvents batches (SQLite: queued for its
    writer and stored several to a transaction), in its own encoding (`Batch`)."""

    async def store(
        self, batch: PreparedBatch[Batch], now: datetime, record: PendingRecord | None = None
    ) -> RecordResult: ...


class JourneyDecider(Protocol):
    """The journey engine (journeys/engine.py): the next action, and the handoff with the
    journey's parts. Both decide under the purpose themselves and raise the domain's
    errors."""

    def next_action(
        self, actor: Actor, subject: SubjectInput, ask: Ask, *, now: datetime
    ) -> JourneyDecision: ...

    def handoff(
        self, actor: Actor, subject: SubjectInput, purpose: str, *, now: datetime
    ) -> JourneyHandoff: ...

    def remember(self, decided: JourneyDecision) -> None: ...


class Authorizer:
    """For methods whose domain call does not decide by itself."""

    def __init__(self, contract: Contract) -> None:
        self._contract = contract

    def __call__(self, actor: Actor, action: Action, purpose: str = "") -> Decision:
        return enforce(decide(self._contract, actor, action, purpose))


class PersonalizationServicer(personalization_pb2_grpc.PersonalizationServicer, Generic[Batch]):
    service = "Personalization"

    def __init__(
        self,
        edge: Edge,
        recorder: EventRecorder[Batch],  # prepares batches in the encoding that
        ingest: IngestSink[Batch],  # the engine stores
        consent: ConsentRecorder,
        releaser: Releaser,
        journeys: JourneyDecider,
        writer: WriteScheduler,
        clock: Clock,
    ) -> None:
        self._edge = edge
        self._recorder = recorder
        self._ingest = ingest
        self._consent = consent
        self._releaser = releaser
        self._journeys = journeys
        self._writer = writer
        self._clock = clock

    @rpc(writes=True, keeps_record=True)
    async def RecordEvents(self, request: P.RecordEventsRequest, actor: Actor,
                           expected: Expected) -> MethodResult:  # fmt: skip
        # Checked and pseudonymized on the loop, stored by the engine with the call's record
        # (until it is durable): the Python work on one batch overlaps storing another.
        now, events = self._clock(), [event_from_proto(e) for e in request.events]
        prepared = self._recorder.prepare(actor, request.purpose, events, now=now)
        about = list(prepared.identities)  # everyone the batch is about, consenting or not
        record = expected.record(MethodResult(None, prepared.decision, subjects=about))
        result = await self._ingest.store(prepared, now, record)
        return MethodResult(recorded_to_proto(result), result.decision, subjects=about)

    @rpc(writes=True, on_writer=True, keeps_record=True)
    def SetConsent(
        self, request: P.SetConsentRequest, actor: Actor, expected: Expected
    ) -> MethodResult:
        s, now = request.subject, self._clock()
        result = self._consent.set_consent(
            actor, s.namespace, s.id, request.purpose, request.granted, request.source, now=now,
            owed=_owed(expected),
        )  # fmt: skip
        reply = P.SetConsentResponse(recorded_at=timestamp_from(result.recorded_at))
        return MethodResult(reply, result.decision, subjects=_about(result.subject))

    @rpc()
    def GetSegments(self, request: P.GetSegmentsRequest, actor: Actor) -> MethodResult:
        subject, now = subject_from_proto(request.subject), self._clock()
        released = self._releaser.segments(actor, subject, request.purpose, now=now)
        reply = P.GetSegmentsResponse(segments=sorted(released.values))
        return MethodResult(reply, released.decision, subjects=_about(released.subject))

    @rpc()
    def GetSignals(self, request: P.GetSignalsRequest, actor: Actor) -> MethodResult:
        subject, names = subject_from_proto(request.subject), list(request.names)
        released = self._releaser.signals(actor, subject, request.purpose, names, now=self._clock())
        decision = released.decision
        return MethodResult(signals_to_proto(released.values), decision, decision.requested,
                       _about(released.subject))  # fmt: skip

    @rpc()
    def GetHandoffContext(self, request: P.GetHandoffContextRequest, actor: Actor) -> MethodResult:
        subject, now = subject_from_proto(request.subject), self._clock()
        found = self._journeys.handoff(actor, subject, request.purpose, now=now)
        decision = found.handoff.decision
        return MethodResult(handoff_to_proto(found), decision, decision.requested,
                            _about(found.handoff.subject))  # fmt: skip


class OutcomeKeeper(Protocol):
    """RecordOutcome (journeys/outcome_recorder.py): checked where the engine reads,
    kept on the writer. `check` decides under the purpose itself and raises the
    domain's errors."""

    def check(
        self,
        actor: Actor,
        subject: SubjectInput,
        decision_id: str,
        journey: str | None,
        report: OutcomeReport,
        *,
        now: datetime,
    ) -> OutcomeDecision: ...

    def keep(self, decided: OutcomeDecision) -> None: ...


class JourneysServicer(journeys_pb2_grpc.JourneysServicer):
    service = "Journeys"

    def __init__(
        self,
        edge: Edge,
        journeys: JourneyDecider,
        outcomes: OutcomeKeeper,
        writer: WriteScheduler,
        clock: Clock,
    ) -> None:
        self._edge = edge
        self._journeys = journeys
        self._outcomes = outcomes
        self._writer = writer
        self._clock = clock

    # Decided where the engine reads (no wait behind writes), then remembered (with what
    # became of the previous decision) on the writer; not run while the access log fails.
    @rpc(writes=True)
    async def NextAction(
        self, request: journeys_pb2.NextActionRequest, actor: Actor
    ) -> MethodResult:
        (subject, ask), now = next_action_from_proto(request), self._clock()
        decide = partial(self._journeys.next_action, actor, subject, ask, now=now)
        decided = await self._edge.reads(decide)
        await self._writer.run(partial(self._journeys.remember, decided))
        access = decided.access
        return MethodResult(journey_decision_to_proto(decided), access, access.requested,
                            _about(decided.subject), purpose=decided.purpose)  # fmt: skip

    # As NextAction: the decision looked up where the engine reads, the row kept on the
    # writer (one insert, beside the behavior store's batches), the record after it.
    @rpc(writes=True)
    async def RecordOutcome(
        self, request: journeys_pb2.RecordOutcomeRequest, actor: Actor
    ) -> MethodResult:
        subject, decision_id, journey, report = record_outcome_from_proto(request)
        now = self._clock()
        check = partial(self._outcomes.check, actor, subject, decision_id, journey, report, now=now)
        decided = await self._edge.reads(check)
        await self._writer.run(partial(self._outcomes.keep, decided))
        access, kept = decided.access, decided.outcome
        return MethodResult(outcome_to_proto(decided), access, access.requested,
                            _about(kept.pseudonym), purpose=kept.purpose)  # fmt: skip


class AccessLogServicer(access_log_pb2_grpc.AccessLogServicer):
    service = "AccessLog"

    def __init__(self, edge: Edge, authorize: Authorizer, queries: AccessLogQueries) -> None:
        self._edge = edge
        self._authorize = authorize
        self._queries = queries

    @rpc()
    def QueryAccessLog(
        self, request: access_log_pb2.QueryAccessLogRequest, actor: Actor
    ) -> MethodResult:
        decision = self._authorize(actor, Action.QUERY_ACCESS_LOG)
        return MethodResult(self._queries.query(request), decision)

    @rpc()
    async def VerifyAccessLog(
        self, request: access_log_pb2.VerifyAccessLogRequest, actor: Actor
    ) -> MethodResult:
        decision = self._authorize(actor, Action.VERIFY_ACCESS_LOG)
        return MethodResult(await asyncio.to_thread(self._queries.verify), decision)  # CPU-bound


class SubjectsServicer(subjects_pb2_grpc.SubjectsServicer):
    service = "Subjects"

    def __init__(
        self, edge: Edge, requests: SubjectRequests, writer: WriteScheduler, clock: Clock
    ) -> None:
        self._edge = edge
        self._requests = requests
        self._writer = writer
        self._clock = clock

    @rpc(on_writer=True)
    def ExportSubject(
        self, request: subjects_pb2.ExportSubjectRequest, actor: Actor
    ) -> MethodResult:
        s = request.subject
        export = self._requests.export(actor, s.namespace, s.id, now=self._clock())
        reply = subjects_pb2.ExportSubjectResponse(export_json=_export_json(export.document))
        return MethodResult(reply, export.decision, subjects=_about(export.subject))

    @rpc(writes=True, on_writer=True, keeps_record=True)
    def EraseSubject(self, request: subjects_pb2.EraseSubjectRequest, actor: Actor,
                     expected: Expected) -> MethodResult:  # fmt: skip
        s, now = request.subject, self._clock()
        erasure = self._requests.erase(
            actor, s.namespace, s.id, suppress=request.suppress, now=now, owed=_owed(expected)
        )
        reply = subjects_pb2.EraseSubjectResponse(
            erased_at=timestamp_from(now), deleted=erasure.deleted
        )
        return MethodResult(reply, erasure.decision, subjects=_about(erasure.subject))


class InsightsServicer(insights_pb2_grpc.InsightsServicer):
    service = "Insights"

    def __init__(
        self,
        edge: Edge,
        insights: Insights,
        scorecards: Scorecards,
        writer: WriteScheduler,
        clock: Clock,
        recorded: Callable[[PendingRecord], None],  # a pending record of the ledger's is durable
    ) -> None:
        self._edge = edge
        self._insights = insights
        self._scorecards = scorecards
        self._writer = writer
        self._clock = clock
        self._recorded = recorded

    @rpc(writes=True, on_writer=True, keeps_record=True)
    def GetSegmentSizes(self, request: insights_pb2.GetSegmentSizesRequest, actor: Actor,
                        expected: Expected) -> MethodResult:  # fmt: skip
        owed = partial(_owed_by, expected, recorded=self._recorded)
        released = self._insights.release_segment_sizes(
            actor, request.purpose, request.epsilon, now=self._clock(), owed=owed
        )
        return MethodResult(sizes_to_proto(released), released.decision)

    @rpc(writes=True, on_writer=True, keeps_record=True)
    def GetScorecard(self, request: insights_pb2.GetScorecardRequest, actor: Actor,
                     expected: Expected) -> MethodResult:  # fmt: skip
        now = self._clock()
        since_us, until_us = scorecard_window(request, now)
        owed = partial(_owed_under, expected, recorded=self._recorded)
        card = self._scorecards.release(
            actor, request.journey, since_us, until_us, request.epsilon, now=now, owed=owed
        )
        return scorecard_result(card, since_us, until_us)


def _owed(expected: Expected) -> Callable[[Decision, str], PendingRecord]:
    """The pending record of a call about one person, once its decision and the person's
    pseudonym are known."""
    return lambda decision, who: expected.record(MethodResult(None, decision, subjects=_about(who)))


def _owed_by(
    expected: Expected, decision: Decision, *, recorded: Callable[[PendingRecord], None]
) -> PendingRecord:
    """The pending record of a call about nobody in particular, kept by a store that
    `recorded` is told about once the call's record is durable."""
    return expected.record(MethodResult(None, decision), recorded=recorded)


def _owed_under(
    expected: Expected,
    decision: Decision,
    purpose: str,
    *,
    recorded: Callable[[PendingRecord], None],
) -> PendingRecord:
    """As `_owed_by`, for a call whose purpose the domain names (a journey's)."""
    result = MethodResult(None, decision, requested=decision.requested, purpose=purpose)
    return expected.record(result, recorded=recorded)


def _about(pseudonym: str) -> tuple[str, ...]:
    """The subjects of a call about one person (none if it named nobody)."""
    return (pseudonym,) if pseudonym else ()


def recorded_to_proto(result: RecordResult) -> P.RecordEventsResponse:
    return P.RecordEventsResponse(
        stored=result.stored,
        not_stored=result.not_stored,
        dropped_attributes=result.dropped_attributes,
    )


def signals_to_proto(values: Mapping[str, AttributeScalar]) -> P.GetSignalsResponse:
    return P.GetSignalsResponse(
        signals=[
            common_pb2.Signal(name=name, value=attribute_to_proto(value))
            for name, value in sorted(values.items())
        ]
    )


def sizes_to_proto(released: ReleasedSizes) -> insights_pb2.GetSegmentSizesResponse:
    return insights_pb2.GetSegmentSizesResponse(
        sizes=[
            insights_pb2.SegmentSize(segment=name, noisy_count=count)
            for name, count in released.sizes.items()
        ],
        epsilon_spent=released.epsilon_spent,
        epsilon_remaining=released.epsilon_remaining,
        sensitivity=released.sensitivity,
        scale=released.scale,
    )


def _export_json(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=2, default=_json_value).encode()


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot export {type(value).__name__}")
