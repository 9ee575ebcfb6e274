"""The gRPC server, built from Settings over the domain that app/domain.py wires:
servicers, health, reflection, TLS, the writer and reader threads, telemetry."""

from __future__ import annotations

import gc
import logging
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from tactful.api.access_log import AccessLogQueries
from tactful.api.decoding import TolerantRegistrar
from tactful.api.edge import Edge
from tactful.api.http_door import HttpDoor
from tactful.api.http_routes import routes_of
from tactful.api.identity import CallerAuthenticator
from tactful.api.recovery import CopiesToDrop, RecordRecovery
from tactful.api.reflection import enable_reflection
from tactful.api.refusals import Refusals
from tactful.api.rpc import unimplemented
from tactful.api.servicers import (
    AccessLogServicer,
    Authorizer,
    Clock,
    InsightsServicer,
    JourneysServicer,
    PersonalizationServicer,
    SubjectsServicer,
)
from tactful.api.telemetry import Telemetry
from tactful.api.tls import check_transport, server_credentials
from tactful.app import stores
from tactful.app.auth import Authenticator
from tactful.app.domain import open_domain, utc_now
from tactful.app.limits import FailureLimiter
from tactful.app.settings import Settings, parse_listen
from tactful.app.write_threads import IngestQueue, Writer
from tactful.lifecycle.rekey import describe_renormalization
from tactful.privacy.access_log_writer import GroupCommitter
from tactful.segments.ingest import EventRecorder
from tactful.timestamps import to_us
from tactful.v1 import (
    access_log_pb2,
    access_log_pb2_grpc,
    insights_pb2,
    insights_pb2_grpc,
    journeys_pb2,
    journeys_pb2_grpc,
    personalization_pb2,
    personalization_pb2_grpc,
    subjects_pb2,
    subjects_pb2_grpc,
)

log = logging.getLogger("tactful.server")
SERVICES = tuple(
    module.DESCRIPTOR.services_by_name[name]
    for module, name in (
        (personalization_pb2, "Personalization"),
        (access_log_pb2, "AccessLog"),
        (subjects_pb2, "Subjects"),
        (insights_pb2, "Insights"),
        (journeys_pb2, "Journeys"),
    )
)
SERVICE_NAMES = tuple(service.full_name for service in SERVICES)


# A pending record this many record timeouts old has no append of its own under way.
RECOVERY_GRACE_TIMEOUTS = 10


@dataclass
class RunningServer:
    """A started server, its bound port, and what must be closed after it stops."""

    server: grpc.aio.Server
    port: int
    _closers: list[object] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # for the operator, at start
    door: HttpDoor | None = None  # [http] listen: the HTTP/JSON door, on door.port

    async def stop(self, grace: float | None = None) -> None:
        if self.door is not None:  # first: its calls still need the server
            await self.door.stop()
        await self.server.stop(grace)
        for resource in reversed(self._closers):
            resource.close()  # type: ignore[attr-defined]


async def create_server(
    settings: Settings, *, clock: Clock = utc_now, span_exporter: object = None
) -> RunningServer:
    """Build and start Tactful as `settings` say; the port is the one actually bound.
    `span_exporter` (tests) receives the spans when tracing is enabled."""
    # The transport first: a refused listen address or a bad certificate opens no store.
    host, port = parse_listen(settings.listen)
    warning = check_transport(settings, host)
    credentials = server_credentials(settings) if settings.tls is not None else None
    notices: list[str] = []
    domain = open_domain(
        settings, renormalized=lambda report: notices.append(describe_renormalization(report))
    )
    contract, pseudonymizer, access_log = domain.contract, domain.pseudonymizer, domain.access_log
    # The writer thread gives the GIL up for every SQLite statement and must wait for
    # the event loop to hand it back; Python's default of 5 ms per hand-off costs
    # ingest 14 % alone and 17 % beside reads (docs/benchmarks-history.md). Process-wide.
    sys.setswitchinterval(settings.thread_switch_ms / 1000)
    telemetry = Telemetry(settings, span_exporter=span_exporter)
    threads = stores.write_threads(settings)
    executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tactful-writer")
    writer = telemetry.count_writer(executor)  # its depth is a metric
    writes = Writer(writer)
    recorder = EventRecorder(
        contract,
        pseudonymizer,
        domain.vault,
        domain.store,
        domain.tombstones,
        classifier=domain.text_classifier,
    )
    readers = (
        ThreadPoolExecutor(max_workers=count, thread_name_prefix="tactful-reader")
        if (count := stores.read_threads(settings))
        else None
    )
    # Segment sizes for min_segment_size are recounted here, off the serving thread.
    census = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tactful-census")
    domain.minimum.in_background(census.submit)
    tokens = stores.open_tokens(settings)
    authenticator = CallerAuthenticator(
        Authenticator(settings.principals, tokens, clock=clock), settings.principals
    )
    committer = GroupCommitter(
        access_log,
        lambda: to_us(clock()),
        window_s=settings.commit_window_ms / 1000,
        idle_checkpoint_s=settings.checkpoint_seconds,
        timeout_s=settings.record_timeout_ms / 1000,
        on_commit=telemetry.on_commit,
    )
    health_servicer = health.aio.HealthServicer()

    async def set_serving(serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *SERVICE_NAMES):
            await health_servicer.set(name, status)
        telemetry.serving(serving)

    ingest = IngestQueue(writes, recorder, parallel=threads)
    edge = Edge(
        authenticator,
        pseudonymizer,
        committer,
        set_serving,
        clock,
        settings.max_message_bytes,
        FailureLimiter(settings.failure_limits),
        telemetry.observe,
        Writer(readers).run if readers else None,
        recorded=ingest.recorded,
        purpose_of_journey=domain.journeys.purpose_of,
        started=telemetry.on_start,
        trace_fields=telemetry.trace_fields,
        complete_refusal=Refusals(domain.contract).complete,
    )
    # The records owed to calls whose data was stored and whose record was not (a crash,
    # a failing log), looked for at start and every half grace after, in every store
    # that keeps them: the behavior store (RecordEvents, SetConsent, EraseSubject) and
    # the budget ledger (GetSegmentSizes).
    debits = CopiesToDrop(domain.budget_ledger, writes.run)
    recovery = RecordRecovery(
        [(domain.store, ingest), (domain.budget_ledger, debits)],
        committer,
        lambda query: access_log.query(query, limit=1000),
        writes=writes.run,
        reads=edge.reads,
        clock_us=lambda: to_us(clock()),
        grace_s=RECOVERY_GRACE_TIMEOUTS * settings.record_timeout_ms / 1000,
    )
    authorize = Authorizer(contract)

    # gRPC itself refuses only far larger messages, so that a request just over the
    # configured size gets a clear INVALID_ARGUMENT from the gate instead.
    grpc_limit = min(2 * settings.max_message_bytes, 2**31 - 1)
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", grpc_limit),
            # Off, so that no other process can take a share of the port unnoticed; on
            # for `--workers N`, whose processes share it (the kernel spreads connections).
            ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
        ]
    )
    # Tactful's methods decode their requests tolerantly: bytes that are no message get
    # INVALID_ARGUMENT and an access record from the edge, not UNKNOWN and no record.
    services = TolerantRegistrar(server)
    personalization_pb2_grpc.add_PersonalizationServicer_to_server(
        PersonalizationServicer(
            edge,
            recorder,
            ingest,
            domain.consent,
            domain.releaser,
            domain.journeys,
            writes,
            clock,
        ),  # fmt: skip
        services,
    )
    access_log_pb2_grpc.add_AccessLogServicer_to_server(
        AccessLogServicer(edge, authorize, AccessLogQueries(access_log, pseudonymizer)), services
    )
    subjects_pb2_grpc.add_SubjectsServicer_to_server(
        SubjectsServicer(edge, domain.subjects, writes, clock), services
    )
    insights_pb2_grpc.add_InsightsServicer_to_server(
        InsightsServicer(edge, domain.insights, domain.scorecards, writes, clock, debits.recorded),
        services,
    )
    journeys_pb2_grpc.add_JourneysServicer_to_server(
        JourneysServicer(edge, domain.journeys, domain.outcomes, writes, clock), services
    )

    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    await set_serving(True)
    enable_reflection((*SERVICE_NAMES, health.SERVICE_NAME), server)
    # Last: any other method gets UNIMPLEMENTED from the edge, and so a record.
    server.add_generic_rpc_handlers((unimplemented(edge),))

    if credentials is not None:
        bound = server.add_secure_port(f"{host}:{port}", credentials)
    else:
        bound = server.add_insecure_port(f"{host}:{port}")
    door, door_folder = _door(settings, server)
    try:
        if door is not None:
            door.bind()
        notices += telemetry.start(
            f"{host}:{bound}",
            spent=domain.budget_ledger.spent,
            counted_at=domain.minimum.counted_at,
            now_us=lambda: to_us(clock()),
        )
    except BaseException:  # a door or metrics port that cannot be bound: nothing stays open
        if door is not None and door.port:
            door.unbind()
        if door_folder is not None:
            shutil.rmtree(door_folder, ignore_errors=True)
        domain.close()
        raise
    await server.start()
    recovery.start()
    _exempt_startup_objects()
    running = RunningServer(server, bound, notices=notices, door=door)
    if door is not None:
        await door.start()
        scheme = "https" if settings.tls is not None else "http"
        door_host = settings.http.listen.rpartition(":")[0]
        running.notices.append(f"HTTP/JSON door on {scheme}://{door_host}:{door.port}")
    if warning:
        log.warning("%s", warning)
        running.notices.append(warning)
    if domain.store.state_changes:  # one line: a first start builds every signal at once
        running.notices.append(f"signal state: {'; '.join(domain.store.state_changes)}")
    # Closed in reverse: the stores last, after the access log's final checkpoint.
    running._closers.extend(
        [
            tokens,
            telemetry,
            domain,
            recovery,
            committer,
            edge,
            _ExecutorCloser(executor),
            _ExecutorCloser(census),
            *([_ExecutorCloser(readers)] if readers else []),
            *([_FolderRemover(door_folder)] if door_folder else []),
        ]  # fmt: skip
    )
    return running


def _exempt_startup_objects() -> None:
    """Exempt what start built from the collector's full passes, once per process.

    Start builds some 140,000 objects that live as long as the process (the contract,
    the text classifier's language tables, the stores); each full pass of the cyclic
    collector walked them all again, and a batch of 500 events makes enough garbage to
    run one every few dozen batches. Ingest: about 7 % of its CPU (docs/benchmarks.md).
    Frozen objects are never collected: the garbage of start is collected first.
    """
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


def _door(settings: Settings, server: grpc.aio.Server) -> tuple[HttpDoor | None, Path | None]:
    """The HTTP/JSON door, if [http] listen asks for it, and the private folder of the
    Unix socket it calls this server through (api/http_door.py says why)."""
    if not settings.http.listen:
        return None, None
    routes = routes_of(SERVICES)  # a rule the door cannot serve stops the start here
    folder = Path(tempfile.mkdtemp(prefix="tactful-http-"))  # mode 0700: this user only
    target = f"unix:{folder / 'grpc.sock'}"
    server.add_insecure_port(target)
    # The workers of `tactful serve --workers N` share the door's port as the gRPC one.
    door = HttpDoor(settings.http, settings.tls, routes, target, reuse_port=settings.workers > 1)
    return door, folder


class _FolderRemover:
    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def close(self) -> None:
        shutil.rmtree(self._folder, ignore_errors=True)


class _ExecutorCloser:
    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self._executor = executor

    def close(self) -> None:
        self._executor.shutdown(wait=True)
