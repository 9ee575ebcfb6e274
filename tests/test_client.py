"""tactful.client over real channels: TLS and mutual TLS to the real server, and a
small fake server for what the real one cannot be made to do on demand (fail with
UNAVAILABLE a given number of times, echo a different request id)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from tactful.app._x509 import write_development_pki
from tactful.app.settings import TlsSettings
from tactful.client import (
    REQUEST_ID,
    Client,
    Event,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    Retry,
    Subject,
    TactfulError,
    Unauthenticated,
    Unavailable,
    connect,
)
from tactful.v1 import personalization_pb2, personalization_pb2_grpc
from tests.conftest import T0, Tactful, token_for

ADA = Subject("email", "ada@example.com")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    # Valid both at the server's test clock (T0) and at the real time the TLS library
    # checks the handshake against.
    real = datetime.now(UTC)
    start = min(T0, real) - timedelta(days=1)
    days = (max(T0, real) - start).days + 30
    write_development_pki(tmp_path / "pki", ["web_frontend"], now=start, days=days)
    return tmp_path / "pki"


@pytest.fixture
def tls_tactful(start_tactful: Callable[..., Tactful], pki: Path) -> Tactful:
    return start_tactful(tls=TlsSettings(pki / "server.pem", pki / "server.key"))


def test_three_lines_from_a_token_to_segments_over_tls(tls_tactful: Tactful, pki: Path) -> None:
    tactful = connect(tls_tactful.target, token_for("web_frontend"), root_ca=pki / "ca.pem")
    with tactful:
        consent = tactful.consent(ADA, "onboarding", True, "tests/banner")
        recorded = tactful.record(
            "onboarding",
            [
                Event(ADA, "page_viewed", T0, {"path": "/pricing"}),
                Event(ADA, "signup_started", T0, {"plan": "trial"}),
            ],
        )
        segments = tactful.segments(ADA, "onboarding")
        signals = tactful.signals(ADA, "onboarding", ["pages_viewed_24h", "signup_plan"])
    assert consent.recorded_at == T0
    assert (recorded.stored, recorded.not_stored) == (2, 0)
    assert segments.segments == ("new_visitor",)
    assert signals.values == {"pages_viewed_24h": 1, "signup_plan": "trial"}
    ids = [a.request_id for a in (consent, recorded, segments, signals)]
    assert all(REQUEST_ID.fullmatch(i) for i in ids) and len(set(ids)) == 4


def test_the_request_id_is_sent_and_returned(tls_tactful: Tactful, pki: Path) -> None:
    with connect(tls_tactful.target, token_for("support_widget"), root_ca=pki / "ca.pem") as c:
        answer = c.segments(ADA, "support_triage", request_id="checkout-7f3a:1")
        with pytest.raises(PermissionDenied) as refused:
            c.segments(ADA, "onboarding", request_id="checkout-7f3a:2")
    assert answer.request_id == "checkout-7f3a:1"
    assert refused.value.request_id == "checkout-7f3a:2"


def test_an_id_that_is_not_an_id_is_refused_before_sending() -> None:
    with (
        connect("127.0.0.1:1", "tf_x", plaintext=True) as tactful,
        pytest.raises(ValueError, match="request_id"),
    ):
        tactful.segments(ADA, "support_triage", request_id="ada@example.com")


def test_a_previous_result_a_frontend_does_not_report_is_refused_before_sending() -> None:
    with (
        connect("127.0.0.1:1", "tf_x", plaintext=True) as tactful,
        pytest.raises(ValueError, match="accepted, refused, failed, ignored"),
    ):
        tactful.next_action(ADA, "checkout_recovery", previous=("d-1", "offered"))


def test_a_refused_batch_raises_invalid_argument_with_its_field_violations(
    tls_tactful: Tactful, pki: Path
) -> None:
    with (
        connect(tls_tactful.target, token_for("support_widget"), root_ca=pki / "ca.pem") as c,
        pytest.raises(InvalidArgument) as refused,
    ):
        c.record(
            "support_triage",
            [Event(ADA, "page_viewed", T0), Event(ADA, "no_such_event", T0)],
            request_id="batch-1",
        )
    error = refused.value
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.request_id == "batch-1"
    fields = [v.field for v in error.field_violations]
    assert fields and all(f.startswith("events[") for f in fields)
    assert any("events[1]" in f for f in fields)
    assert isinstance(error, TactfulError) and "batch-1" in str(error)


def test_a_refused_signal_raises_permission_denied_with_error_info(
    tls_tactful: Tactful, pki: Path
) -> None:
    with (
        connect(tls_tactful.target, token_for("support_widget"), root_ca=pki / "ca.pem") as c,
        pytest.raises(PermissionDenied) as refused,
    ):
        c.signals(ADA, "support_triage", ["frustration", "signup_plan"])
    info = refused.value.error_info
    assert info is not None and info.domain == "tactful"
    assert info.metadata["refused"] == "signup_plan"


def test_reads_without_consent_raise_failed_precondition(tls_tactful: Tactful, pki: Path) -> None:
    with (
        connect(tls_tactful.target, token_for("web_frontend"), root_ca=pki / "ca.pem") as c,
        pytest.raises(FailedPrecondition),
    ):
        c.segments(Subject("email", "grace@example.com"), "onboarding")


def test_a_bad_token_raises_unauthenticated(tls_tactful: Tactful, pki: Path) -> None:
    with (
        connect(tls_tactful.target, "tf_not-a-token", root_ca=pki / "ca.pem") as c,
        pytest.raises(Unauthenticated),
    ):
        c.segments(ADA, "support_triage")


def test_mutual_tls_with_a_client_certificate(
    start_tactful: Callable[..., Tactful], pki: Path
) -> None:
    tls = TlsSettings(pki / "server.pem", pki / "server.key", client_ca=pki / "ca.pem")
    running = start_tactful(tls=tls)
    files = {
        "root_ca": pki / "ca.pem",
        "client_cert": pki / "client-web_frontend.pem",
        "client_key": pki / "client-web_frontend.key",
    }
    with connect(running.target, token_for("web_frontend"), **files) as tactful:  # type: ignore[arg-type]
        assert tactful.consent(ADA, "onboarding", True, "tests").recorded_at == T0
    # Without a client certificate the handshake fails: no call reaches the server.
    with (
        connect(running.target, token_for("web_frontend"), root_ca=pki / "ca.pem") as tactful,
        pytest.raises(Unavailable),
    ):
        tactful.segments(ADA, "onboarding")


def test_tls_options_that_do_not_go_together() -> None:
    with pytest.raises(ValueError, match="together"):
        connect("127.0.0.1:1", "t", client_cert="cert.pem")
    with pytest.raises(ValueError, match="plaintext"):
        connect("127.0.0.1:1", "t", root_ca="ca.pem", plaintext=True)


# Against a fake Personalization server.


@dataclass
class Fake(personalization_pb2_grpc.PersonalizationServicer):
    """Fails the first `unavailable` calls of each method with UNAVAILABLE, then
    answers; records the request id and deadline of every call."""

    unavailable: int = 0
    echo: str | None = None  # the request id to send back, if not the caller's
    calls: list[tuple[str, str, float | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _answer(self, method: str, context: grpc.ServicerContext, reply: object) -> object:
        sent = dict(context.invocation_metadata()).get("x-request-id", "")
        with self.lock:
            self.calls.append((method, sent, context.time_remaining()))
            failing = sum(1 for c in self.calls if c[0] == method) <= self.unavailable
        # As Tactful does: the id it recorded, in the trailing metadata.
        context.set_trailing_metadata((("x-request-id", self.echo or sent),))
        if failing:
            context.abort(grpc.StatusCode.UNAVAILABLE, "access log cannot be written")
        return reply

    def GetSegments(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        reply = personalization_pb2.GetSegmentsResponse(segments=["new_visitor"])
        return self._answer("GetSegments", context, reply)

    def GetSignals(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        return self._answer("GetSignals", context, personalization_pb2.GetSignalsResponse())

    def RecordEvents(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        reply = personalization_pb2.RecordEventsResponse(stored=len(request.events))
        return self._answer("RecordEvents", context, reply)

    def SetConsent(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802
        return self._answer("SetConsent", context, personalization_pb2.SetConsentResponse())


@dataclass
class Pauses:
    """Stands in for time.sleep: the client's backoff is recorded, nobody waits."""

    taken: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.taken.append(seconds)


@pytest.fixture
def fake() -> Iterator[tuple[Fake, str]]:
    servicer = Fake()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    personalization_pb2_grpc.add_PersonalizationServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, f"127.0.0.1:{port}"
    server.stop(grace=None)


def client(target: str, pauses: Pauses, **options: object) -> Client:
    return Client(grpc.insecure_channel(target), "tf_t", sleep=pauses, draw=lambda: 1.0, **options)  # type: ignore[arg-type]


def test_a_read_is_retried_after_unavailable(fake: tuple[Fake, str]) -> None:
    servicer, target = fake
    servicer.unavailable = 2
    pauses = Pauses()
    retry = Retry(attempts=4, initial_backoff_s=0.1, max_backoff_s=0.15, multiplier=2)
    with client(target, pauses, retry=retry) as tactful:
        answer = tactful.segments(ADA, "onboarding", request_id="read-1")
    assert answer.segments == ("new_visitor",)
    # Three attempts, one request id; pauses grow and stop at the ceiling.
    assert [(m, i) for m, i, _ in servicer.calls] == [("GetSegments", "read-1")] * 3
    assert pauses.taken == [0.1, 0.15]


def test_a_read_gives_up_after_its_attempts(fake: tuple[Fake, str]) -> None:
    servicer, target = fake
    servicer.unavailable = 100
    pauses = Pauses()
    with (
        client(target, pauses, retry=Retry(attempts=3)) as tactful,
        pytest.raises(Unavailable) as failed,
    ):
        tactful.signals(ADA, "onboarding", ["pages_viewed_24h"], request_id="read-2")
    assert len(servicer.calls) == 3 and len(pauses.taken) == 2
    assert failed.value.request_id == "read-2"
    assert failed.value.message == "access log cannot be written"


def test_a_read_is_not_retried_past_its_deadline(fake: tuple[Fake, str]) -> None:
    servicer, target = fake
    servicer.unavailable = 100
    pauses = Pauses()
    retry = Retry(attempts=10, initial_backoff_s=30.0, max_backoff_s=30.0)
    with client(target, pauses, retry=retry, timeout_s=5.0) as tactful, pytest.raises(Unavailable):
        tactful.segments(ADA, "onboarding")
    assert len(servicer.calls) == 1 and pauses.taken == []


@pytest.mark.parametrize("write", ["record", "consent"])
def test_a_write_is_never_retried(fake: tuple[Fake, str], write: str) -> None:
    servicer, target = fake
    servicer.unavailable = 1  # a second attempt would succeed, and apply it twice
    pauses = Pauses()
    with client(target, pauses) as tactful, pytest.raises(Unavailable):
        if write == "record":
            tactful.record("onboarding", [Event(ADA, "page_viewed", T0)])
        else:
            tactful.consent(ADA, "onboarding", True, "tests")
    assert len(servicer.calls) == 1 and pauses.taken == []


def test_every_call_has_a_deadline_by_default(fake: tuple[Fake, str]) -> None:
    servicer, target = fake
    with client(target, Pauses()) as tactful:
        tactful.segments(ADA, "onboarding")
        tactful.record("onboarding", [Event(ADA, "page_viewed", T0)])
    remaining = [r for _, _, r in servicer.calls]
    # 5 s, give or take the clocks of the two ends
    assert all(r is not None and 3.0 < r <= 5.5 for r in remaining), remaining


def test_the_id_returned_is_the_one_the_server_recorded(fake: tuple[Fake, str]) -> None:
    # The server replaces a caller's id it will not keep; the answer carries its id.
    servicer, target = fake
    servicer.echo = "srv-0042"
    with client(target, Pauses()) as tactful:
        answer = tactful.segments(ADA, "onboarding", request_id="mine")
    assert servicer.calls[0][1] == "mine" and answer.request_id == "srv-0042"


def test_the_client_imports_without_the_servers_dependencies() -> None:
    # A frontend installs grpcio, protobuf and googleapis-common-protos only.
    blocked = ["tactful.api", "tactful.app", "tactful.privacy", "tactful.segments"]
    blocked += ["tactful.lifecycle", "tactful.storage", "tactful.journeys", "cryptography"]
    blocked += ["opendp"]
    blocked += ["sqlite_utils", "sqlite3", "grpc_status", "grpc_health", "grpc_reflection"]
    program = f"""
import sys
class Blocked:
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in {blocked!r}):
            raise ImportError("a frontend does not have " + name)
sys.meta_path.insert(0, Blocked())
from tactful.client import connect, Event, Subject
connect("127.0.0.1:1", "tf_x", plaintext=True).close()
"""
    ran = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert ran.returncode == 0, ran.stderr
