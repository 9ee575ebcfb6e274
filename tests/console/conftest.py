"""What the console's tests share: a store filled through the real gRPC API, and a
console serving it on 127.0.0.1, port 0 (the `filled` fixture; the rest is imported
by tests/console/ and tests/postgres/test_console_pg.py)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import grpc
import httpx
import pytest

from tactful.cli.console import RunningConsole, start_in_thread, with_listen
from tactful.v1 import access_log_pb2, access_log_pb2_grpc, personalization_pb2
from tests.conftest import Tactful, bearer, email, page_view, token_for

ALICE = "alice@example.com"
BOB = "bob@example.com"
COMPLIANCE = "compliance_officer"


@dataclass
class Filled:
    tactful: Tactful
    console: RunningConsole

    @property
    def url(self) -> str:
        return self.console.url

    def query(self, **filters: object) -> list[access_log_pb2.AccessRecord]:
        """Records as the gRPC API's QueryAccessLog returns them (it records itself)."""
        stub = access_log_pb2_grpc.AccessLogStub(self.tactful.channel)
        request = access_log_pb2.QueryAccessLogRequest(page_size=1000, **filters)
        return list(stub.QueryAccessLog(request, metadata=bearer(COMPLIANCE), timeout=10).records)


def fill(tactful: Tactful) -> None:
    """Calls about Alice and Bob, allowed and denied, through the real API."""
    tactful.record("support_triage", page_view(email(ALICE)), page_view(email(BOB)))
    tactful.record("support_triage", page_view(email(ALICE), path="/help"))
    tactful.segments(email(ALICE))
    tactful.segments(email(BOB))
    tactful.segments(email(ALICE))
    with pytest.raises(grpc.RpcError):  # support_widget may not claim onboarding: denied
        tactful.segments(email(ALICE), purpose="onboarding")
    with pytest.raises(grpc.RpcError):  # a frontend may not read the access log
        tactful.personalization.GetSegments(
            personalization_pb2.GetSegmentsRequest(subject=email(BOB), purpose="support_triage"),
            metadata=(("authorization", "Bearer tf_wrong"),),
            timeout=10,
        )


@pytest.fixture
def filled(start_tactful: Callable[..., Tactful]) -> Iterator[Filled]:
    tactful = start_tactful()
    fill(tactful)
    settings = with_listen(replace(tactful.settings), "127.0.0.1:0")
    console = start_in_thread(settings, clock=tactful.clock)
    yield Filled(tactful, console)
    console.stop()


@contextmanager
def signed_in(url: str, principal: str = COMPLIANCE, *, token: str = "") -> Iterator[httpx.Client]:
    """An HTTP client signed in as `principal` (its sign-in must succeed)."""
    with httpx.Client(base_url=url, timeout=30, follow_redirects=False) as client:
        form = client.get("/sign-in")
        data = {"token": token or token_for(principal), "csrf": csrf_of(form.text)}
        reply = client.post("/sign-in", data=data)
        assert reply.status_code == 303, reply.text
        yield client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field in the form"
    return found.group(1)


def sequences_in(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<a href="/records/(\d+)">', html)]
