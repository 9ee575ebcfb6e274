"""The composition root: builds every collaborator and the gRPC server from Settings."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from tactful.api.access_log import AccessLogQueries
from tactful.api.decoding import TolerantRegistrar
from tactful.api.edge import Edge
from tactful.api.identity import CallerAuthenticator
from tactful.api.recovery import CopiesToDrop, RecordRecovery
from tactful.api.rpc import unimplemented
from tactful.api.servicers import (
    AccessLogServicer,
    Authorizer,
    Clock,
    InsightsServicer,
    PersonalizationServicer,
    SubjectsServicer,
)
from tactful.api.telemetry import Telemetry
from tactful.api.tls import check_transport, server_credentials
from tactful.app import stores
from tactful.app.auth import Authenticator
from tactful.app.limits import FailureLimiter
from tactful.app.settings import Settings, parse_listen
from tactful.app.write_threads import IngestQueue, Writer
from tactful.lifecycle.rekey import Rekeyer, RekeyReport, describe_renormalization
from tactful.lifecycle.subject_requests import SubjectRequests
from tactful.privacy.access_log import AccessQuery, record_as_dict
from tactful.privacy.access_log_writer import GroupCommitter
from tactful.privacy.consent import ConsentRecorder
from tactful.privacy.contract import Contract, check_principals, load_contract
from tactful.privacy.errors import ContractError
from tactful.privacy.insights import Insights
from tactful.privacy.keyring import KeyringWatcher
from tactful.privacy.pseudonym import Pseudonymizer
from tactful.privacy.suppression import Tombstones, migrate_legacy_tombstones
from tactful.privacy.vault import IdentityVault
from tactful.segments.census import Census
from tactful.segments.ingest import EventRecorder
from tactful.segments.minimum import MinimumSegmentSize
from tactful.segments.release import Releaser
from tactful.segments.store import tracked_by
from tactful.timestamps import to_us
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

log = logging.getLogger("tactful.server")
SERVICE_NAMES = tuple(
    module.DESCRIPTOR.services_by_name[name].full_name
    for module, name in (
        (personalization_pb2, "Personalization"),
        (access_log_pb2, "AccessLog"),
        (subjects_pb2, "Subjects"),
        (insights_pb2, "Insights"),
    )
)


# A pending record this many record timeouts old has no append of its own under way.
RECOVERY_GRACE_TIMEOUTS = 10


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class RunningServer:
    """A started server, its bound port, and what must be closed after it stops."""

    server: grpc.aio.Server
    port: int
    _closers: list[object] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # for the operator, at start

    async def stop(self, grace: float | None = None) -> None:
        await self.server.stop(grace)
        for resource in reversed(self._closers):
            resource.close()  # type: ignore[attr-defined]


@dataclass
class Domain:
    """The stores and use cases, built once from Settings: for the server and the CLI."""

    contract: Contract
    pseudonymizer: Pseudonymizer
    tombstones: Tombstones
    vault: IdentityVault
    store: stores.Behavior
    subject_data: stores.SubjectData
    access_log: stores.AccessLog
    consent: ConsentRecorder
    releaser: Releaser
    subjects: SubjectRequests
    budget_ledger: stores.Ledger
    insights: Insights
    minimum: MinimumSegmentSize
    erasures: stores.Outbox

    def close(self) -> None:
        for resource in (
            self.erasures,
            self.budget_ledger,
            self.access_log,
            self.subject_data,
            self.store,
            self.vault,
        ):
            resource.close()


def open_domain(
    settings: Settings, *, renormalized: Callable[[RekeyReport], None] | None = None
) -> Domain:
    contract = load_checked_contract(settings)
    keyring = KeyringWatcher(settings.keyring_path)
    pseudonymizer = Pseudonymizer(keyring.keys("pseudonym"))
    vault = stores.open_vault(settings, keyring.keys("vault"), keyring.keys("pseudonym"))
    subject_data = stores.open_subject_data(settings)
    # Tombstones from before the suppression key, while their pseudonym key is live.
    migrate_legacy_tombstones(settings.keyring_path, subject_data, now=utc_now())
    tombstones = Tombstones(keyring.keys("suppression"))
    # Before anything looks a subject up: under the old rules' pseudonyms, an
    # erasure would miss data that the migration would then bring back.
    if vault.outdated(limit=1, normalization_only=True):
        try:
            report = Rekeyer(pseudonymizer, vault, subject_data, pause_s=0).run(
                now=utc_now(), normalization_only=True
            )
        except BaseException:  # killed halfway: the next start picks up from there
            subject_data.close()
            vault.close()
            raise
        (renormalized or _print_renormalization)(report)
    store = stores.open_behavior(settings, tracked_by(contract))
    access_log = stores.open_access_log(settings, keyring.keys("signing"))
    consent = ConsentRecorder(contract, pseudonymizer, store, tombstones)
    minimum = MinimumSegmentSize(
        Census(contract, store.census_source(on_writer=False)), settings.min_segment_size
    )
    releaser = Releaser(contract, pseudonymizer, store, consent, minimum)
    subjects = SubjectRequests(
        contract,
        pseudonymizer,
        subject_data,
        vault,
        releaser.held,
        _access_history(access_log),
        tombstones,
        erasures := stores.open_erasure_outbox(settings),
    )
    # An erasure cut short (a crash between the vault and the behavior store) is
    # finished before anything is served.
    subjects.finish_erasures()
    budget_ledger = stores.open_budget_ledger(settings)
    insights = Insights(
        contract,
        Census(contract, store.census_source(on_writer=True)),
        budget_ledger,
        budget=settings.insights_budget,
    )
    return Domain(
        contract,
        pseudonymizer,
        tombstones,
        vault,
        store,
        subject_data,
        access_log,
        consent,
        releaser,
        subjects,
        budget_ledger,
        insights,
        minimum,
        erasures,
    )


def _print_renormalization(report: RekeyReport) -> None:
    print(f"tactful: {describe_renormalization(report)}", file=sys.stderr, flush=True)
    for pseudonym in report.inseparable:
        print(f"tactful: {pseudonym} may hold two spellings; kept together", file=sys.stderr)
    for pseudonym in report.refused:
        print(f"tactful: {pseudonym} holds a character the rules refuse", file=sys.stderr)


def _access_history(log: stores.AccessLog) -> Callable[[Sequence[str]], list[dict[str, object]]]:
    """The access records about a subject, for their export."""

    def history(pseudonyms: Sequence[str]) -> list[dict[str, object]]:
        records = log.query(AccessQuery(subjects=tuple(pseudonyms)), limit=1_000_000)
        return [record_as_dict(r) for r in records]

    return history


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
    recorder = EventRecorder(contract, pseudonymizer, domain.vault, domain.store, domain.tombstones)
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
            ("grpc.so_reuseport", 0),
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
        InsightsServicer(edge, domain.insights, writes, clock, debits.recorded), services
    )

    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    await set_serving(True)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    # Last: any other method gets UNIMPLEMENTED from the edge, and so a record.
    server.add_generic_rpc_handlers((unimplemented(edge),))

    if credentials is not None:
        bound = server.add_secure_port(f"{host}:{port}", credentials)
    else:
        bound = server.add_insecure_port(f"{host}:{port}")
    try:
        notices += telemetry.start(
            f"{host}:{bound}",
            spent=domain.budget_ledger.spent,
            counted_at=domain.minimum.counted_at,
            now_us=lambda: to_us(clock()),
        )
    except BaseException:  # a metrics port that cannot be bound: nothing stays open
        domain.close()
        raise
    await server.start()
    recovery.start()
    running = RunningServer(server, bound, notices=notices)
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
        ]  # fmt: skip
    )
    return running


def load_checked_contract(settings: Settings) -> Contract:
    """The contract, checked on its own and against the configured principals."""
    contract = load_contract(settings.contract)
    problems = check_principals(contract, [p.name for p in settings.principals])
    problems += [
        f"principals.{p.name}.purposes: purpose {name!r} is not declared in the contract"
        for p in settings.principals
        for name in sorted(p.purposes - contract.purposes.keys())
    ]
    if problems:
        raise ContractError(str(settings.contract), problems)
    return contract


class _ExecutorCloser:
    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self._executor = executor

    def close(self) -> None:
        self._executor.shutdown(wait=True)
