"""The HTTP/JSON door, through a plain HTTP client against a served door: the same
answers, decisions, errors and access records as over gRPC."""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from tactful.api.http_door import Transcoder
from tactful.api.http_routes import route_table, routes_of
from tactful.api.server import SERVICES, create_server
from tactful.app.config_file import load_settings
from tactful.app.limits import FailureLimits
from tactful.app.settings import EXAMPLES, ConfigError, HttpSettings
from tactful.privacy.keyring import create_keyring
from tactful.v1 import (
    access_log_pb2,
    access_log_pb2_grpc,
    personalization_pb2,
    personalization_pb2_grpc,
)
from tests.api.test_tls import pki, tls_settings
from tests.conftest import (
    DEFAULT_PRINCIPAL,
    T0,
    ServerThread,
    Tactful,
    bearer,
    email,
    make_settings,
    serve_process,
    token_for,
)

SHOP = "http://shop.example.com:3000"
ADA = {"namespace": "email", "id": "ada@example.com"}
DOCS = Path(__file__).parents[2] / "docs" / "guide" / "http.md"


def page_view(subject: dict[str, str] = ADA) -> dict[str, Any]:
    return {
        "subject": subject,
        "type": "page_viewed",
        "occurredAt": "2026-11-27T12:00:00Z",
        "attributes": {"path": {"stringValue": "/pricing"}},
    }


def auth(principal: str = DEFAULT_PRINCIPAL) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(principal)}"}


@pytest.fixture
def door(start_tactful: Callable[..., Tactful]) -> Iterator[tuple[Tactful, httpx.Client]]:
    tactful = start_tactful(http=HttpSettings("127.0.0.1:0", (SHOP,), max_body_bytes=4096))
    door = tactful._running.door
    assert door is not None
    with httpx.Client(base_url=f"http://127.0.0.1:{door.port}", timeout=10) as client:
        yield tactful, client


def records(tactful: Tactful, method: str) -> list[access_log_pb2.AccessRecord]:
    stub = access_log_pb2_grpc.AccessLogStub(tactful.channel)
    request = access_log_pb2.QueryAccessLogRequest(page_size=1000, method=method)
    reply = stub.QueryAccessLog(request, metadata=bearer("compliance_officer"), timeout=10)
    return list(reply.records)


def test_record_events_then_get_segments(door: tuple[Tactful, httpx.Client]) -> None:
    _, client = door
    sent = {"purpose": "support_triage", "events": [page_view(), page_view()]}
    reply = client.post("/v1/events:record", json=sent, headers=auth())
    assert reply.status_code == 200, reply.text
    assert reply.json()["stored"] == 2
    assert reply.json()["notStored"] == 0  # a zero is written out, not left away
    assert reply.headers["content-type"] == "application/json"
    asked = {"subject": ADA, "purpose": "support_triage"}
    reply = client.post("/v1/segments:get", json=asked, headers=auth())
    assert reply.status_code == 200, reply.text
    assert reply.json()["segments"] == ["new_visitor"]


def test_a_denied_purpose_is_403_with_the_status_and_its_details(
    door: tuple[Tactful, httpx.Client],
) -> None:
    _, client = door
    asked = {"subject": ADA, "purpose": "checkout_recovery"}  # not support_widget's
    reply = client.post("/v1/segments:get", json=asked, headers=auth())
    assert reply.status_code == 403
    status = reply.json()
    assert status["code"] == 7  # PERMISSION_DENIED
    assert "checkout_recovery" in status["message"]
    (info,) = status["details"]
    assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert info["domain"] == "tactful"


def test_a_bad_request_is_400_listing_every_field_violation(
    door: tuple[Tactful, httpx.Client],
) -> None:
    _, client = door
    wrong = {**page_view(), "type": "no_such_event"}
    bare = {"subject": ADA, "type": "page_viewed"}  # no occurredAt
    sent = {"purpose": "support_triage", "events": [wrong, bare]}
    reply = client.post("/v1/events:record", json=sent, headers=auth())
    assert reply.status_code == 400
    status = reply.json()
    assert status["code"] == 3  # INVALID_ARGUMENT
    (bad_request,) = status["details"]
    assert bad_request["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    fields = {v["field"] for v in bad_request["fieldViolations"]}
    assert {"events[0].type", "events[1].occurred_at"} <= fields


def test_no_token_is_401_and_a_wrong_one_too(door: tuple[Tactful, httpx.Client]) -> None:
    _, client = door
    asked = {"subject": ADA, "purpose": "support_triage"}
    for headers in ({}, {"Authorization": "Bearer tf_wrong"}):
        reply = client.post("/v1/segments:get", json=asked, headers=headers)
        assert reply.status_code == 401, headers
        assert reply.json()["code"] == 16  # UNAUTHENTICATED


def test_the_access_records_are_those_of_a_grpc_call(door: tuple[Tactful, httpx.Client]) -> None:
    tactful, client = door
    method = "tactful.v1.Personalization/GetSegments"
    asked = {"subject": ADA, "purpose": "support_triage"}
    http_id = "a" * 32
    reply = client.post("/v1/segments:get", json=asked, headers={**auth(), "X-Request-Id": http_id})
    assert reply.headers["x-request-id"] == http_id
    client.post("/v1/segments:get", json={**asked, "purpose": "checkout_recovery"}, headers=auth())
    over_http = records(tactful, method)
    assert len(over_http) == 2  # exactly one per call, allowed or denied

    tactful.segments(email("ada@example.com"))  # the same call over gRPC
    with pytest.raises(grpc.RpcError, match="PERMISSION_DENIED"):
        tactful.segments(email("ada@example.com"), "checkout_recovery")
    over_grpc = records(tactful, method)[2:]

    def kept(record: access_log_pb2.AccessRecord) -> dict[str, Any]:
        return {
            "principal": record.principal,
            "method": record.method,
            "purpose": record.purpose,
            "subjects": list(record.subjects),
            "decision": record.decision,
            "status": record.status,
            "reason": record.reason,
        }

    assert [kept(r) for r in over_http] == [kept(r) for r in over_grpc]
    assert over_http[0].request_id == http_id


def test_failed_calls_are_limited_per_http_caller_not_for_the_door_as_one(
    start_tactful: Callable[..., Tactful],
) -> None:
    tactful = start_tactful(
        http=HttpSettings("127.0.0.1:0"),
        failure_limits=FailureLimits(per_minute=0.001, burst=2, summary_s=3600),
    )
    assert tactful._running.door is not None
    url = f"http://127.0.0.1:{tactful._running.door.port}/v1/segments:get"
    asked = {"subject": ADA, "purpose": "support_triage"}
    wrong = {"Authorization": "Bearer tf_wrong"}

    def codes(source: str, calls: int) -> list[int]:
        transport = httpx.HTTPTransport(local_address=source)
        with httpx.Client(transport=transport, timeout=10) as client:
            return [client.post(url, json=asked, headers=wrong).status_code for _ in range(calls)]

    assert codes("127.0.0.2", 4) == [401, 401, 429, 429]  # its burst of 2, then refused
    assert codes("127.0.0.3", 1) == [401]  # another caller of the door is not

    # Over the gRPC port the door's metadata is no address: it cannot dodge the limit.
    stub = personalization_pb2_grpc.PersonalizationStub(tactful.channel)
    request = personalization_pb2.GetSegmentsRequest(subject=email("x@example.com"))
    refused = []
    for n in range(3):
        spoofed = (("authorization", "Bearer tf_wrong"), ("tactful-door-client", f"10.0.0.{n}"))
        with pytest.raises(grpc.RpcError) as error:
            stub.GetSegments(request, metadata=spoofed, timeout=10)
        refused.append(error.value.code())
    assert refused[-1] == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_a_path_variable_fills_its_field(door: tuple[Tactful, httpx.Client]) -> None:
    _, client = door
    asked = {"subject": ADA, "channel": "web", "step": "help"}
    reply = client.post(
        "/v1/journeys/support_triage:nextAction", json=asked, headers=auth("support_widget")
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["action"]["id"]
    reply = client.post("/v1/journeys/no_such_journey:nextAction", json=asked, headers=auth())
    assert reply.status_code == 400
    assert reply.json()["details"][0]["fieldViolations"][0]["field"] == "journey"


def test_a_get_reads_no_body(door: tuple[Tactful, httpx.Client]) -> None:
    _, client = door
    reply = client.get("/v1/accessLog:verify", headers=auth("compliance_officer"))
    assert reply.status_code == 200, reply.text
    assert reply.json()["intact"] is True


@pytest.mark.parametrize(
    ("verb", "path", "body", "headers", "status", "code"),
    [
        ("POST", "/v1/nothing:here", b"{}", {}, 404, 5),
        ("GET", "/v1/segments:get", b"", {}, 405, 12),
        ("POST", "/v1/segments:get", b"{not json", {}, 400, 3),
        ("POST", "/v1/segments:get", b'{"noSuchField": 1}', {}, 400, 3),
        ("POST", "/v1/segments:get", b'{"purpose": 5}', {}, 400, 3),
        ("POST", "/v1/segments:get", b"[1, 2]", {}, 400, 3),
        ("GET", "/v1/accessLog:verify?noSuchField=1", b"", {}, 400, 3),
        ("POST", "/v1/segments:get", b"purpose=x", {"content-type": "text/plain"}, 415, 3),
        ("POST", "/v1/segments:get", b'{"purpose": "' + b"x" * 5000 + b'"}', {}, 413, 3),
    ],
    ids=["no-route", "wrong-verb", "not-json", "unknown-field", "wrong-type", "not-an-object",
         "unknown-query-field", "not-json-type", "too-large"],
)  # fmt: skip
def test_what_never_reaches_the_service_is_answered_as_a_status(
    door: tuple[Tactful, httpx.Client],
    verb: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    code: int,
) -> None:
    _, client = door
    sent = {"content-type": "application/json", **auth(), **headers}
    reply = client.request(verb, path, content=body, headers=sent)
    assert reply.status_code == status, reply.text
    assert reply.json()["code"] == code
    if status == 405:
        assert reply.headers["allow"] == "POST"


def test_no_reply_waits_for_a_delayed_ack(door: tuple[Tactful, httpx.Client]) -> None:
    """Without TCP_NODELAY a reply's body waits ~40 ms for the client's delayed ACK:
    every call would take that long, however idle the machine."""
    _, client = door
    took = []
    for _ in range(15):
        started = time.perf_counter()
        client.get("/v1/nothing")
        took.append(time.perf_counter() - started)
    assert statistics.median(took) < 0.030, took


def test_a_fault_of_the_door_is_a_500_status_that_tells_nothing(
    door: tuple[Tactful, httpx.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, client = door

    async def broken(*args: object) -> None:
        raise RuntimeError("a secret detail")

    monkeypatch.setattr(Transcoder, "_call", broken)
    reply = client.post("/v1/segments:get", json={}, headers=auth())
    assert reply.status_code == 500
    assert reply.json() == {"code": 13, "message": "internal error"}


def test_cors_answers_a_declared_origin_only(door: tuple[Tactful, httpx.Client]) -> None:
    _, client = door
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    allowed = client.options("/v1/segments:get", headers={"Origin": SHOP, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == SHOP
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert "Origin" in allowed.headers["vary"]
    assert "access-control-allow-credentials" not in allowed.headers

    other = "https://evil.example.net"
    refused = client.options("/v1/segments:get", headers={"Origin": other, **preflight})
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers

    asked = {"subject": ADA, "purpose": "support_triage"}
    for origin, echoed in ((SHOP, SHOP), (other, None)):
        reply = client.post("/v1/segments:get", json=asked, headers={**auth(), "Origin": origin})
        assert reply.status_code == 200
        assert reply.headers.get("access-control-allow-origin") == echoed
        assert "Origin" in reply.headers["vary"]


def test_the_route_table_in_the_docs_is_the_protos() -> None:
    rows = route_table(routes_of(SERVICES))
    assert len(rows) == sum(len(service.methods) for service in SERVICES)  # every method
    text = DOCS.read_text(encoding="utf-8")
    listed = [line for line in text.splitlines() if line.startswith(("| GET ", "| POST "))]
    assert listed == rows, "docs/guide/http.md's route table differs from the .proto files"


@pytest.mark.parametrize(
    ("table", "complaint"),
    [
        ('listen = "0.0.0.0:8081"', "not a loopback address"),
        ('listen = "8081"', "is not HOST:PORT"),
        ('cors_origins = ["*"]', "is not an origin"),
        ('cors_origins = ["https://shop.example.com/app"]', "is not an origin"),
        ("max_body_bytes = 10", "from 1024"),
        ('lisen = "127.0.0.1:8081"', "did you mean 'listen'"),
    ],
)
def test_a_wrong_http_table_is_refused_naming_the_key(
    tmp_path: Path, table: str, complaint: str
) -> None:
    config = tmp_path / "tactful.toml"
    config.write_text(f"[http]\n{table}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=complaint):
        load_settings(config, {})


def test_the_http_table_is_read(tmp_path: Path) -> None:
    config = tmp_path / "tactful.toml"
    config.write_text(
        '[http]\nlisten = "127.0.0.1:8081"\ncors_origins = ["https://shop.example.com"]\n'
        "max_body_bytes = 2048\n",
        encoding="utf-8",
    )
    assert load_settings(config, {}).http == HttpSettings(
        "127.0.0.1:8081", ("https://shop.example.com",), 2048
    )


def test_a_taken_door_address_stops_the_start_in_one_line(tmp_path: Path) -> None:
    thread = ServerThread()
    try:
        with socket.create_server(("127.0.0.1", 0)) as taken:
            listen = f"127.0.0.1:{taken.getsockname()[1]}"
            settings = make_settings(tmp_path / "data", http=HttpSettings(listen))
            with pytest.raises(ConfigError, match=f"http.listen: cannot listen on {listen}"):
                thread.run(create_server(settings))
        # The failed start closed its stores: the same folder and address serve again.
        running = thread.run(create_server(settings))
        assert running.door is not None and running.door.port == int(listen.split(":")[1])
        thread.run(running.stop(None))
    finally:
        thread.close()


def test_tactful_serve_starts_the_door_and_stops_it(tmp_path: Path) -> None:
    """`[http] listen` in the config file is all `tactful serve` needs."""
    create_keyring(tmp_path / "keyring.json", now=T0)
    development = (EXAMPLES / "development.toml").read_text(encoding="utf-8")
    development = (
        development.replace('listen = "127.0.0.1:50051"', "")
        .replace('listen = "127.0.0.1:9464"', 'listen = "127.0.0.1:0"')  # metrics: any port
        .replace('contract = "contract.toml"', f'contract = "{EXAMPLES / "contract.toml"}"')
    )
    config = tmp_path / "tactful.toml"
    config.write_text(
        f'data_dir = "data"\nkeyring = "{tmp_path / "keyring.json"}"\n'
        f'listen = "127.0.0.1:0"\n{development}\n[http]\nlisten = "127.0.0.1:0"\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TACTFUL_")}
    process, _, banner = serve_process(["--config", str(config)], env)
    try:
        found = re.search(r"HTTP/JSON door on (http://127\.0\.0\.1:\d+)", banner)
        assert found, banner
        reply = httpx.post(f"{found.group(1)}/v1/segments:get", json={}, timeout=10)
        assert reply.status_code == 401  # answered by the server's edge: no token
        assert reply.json()["code"] == 16
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0


def test_with_tls_the_door_serves_https_with_the_servers_certificate(
    start_tactful: Callable[..., Tactful], tmp_path: Path
) -> None:
    ours = pki(tmp_path / "ours")
    tactful = start_tactful(tls=tls_settings(ours), http=HttpSettings("127.0.0.1:0"))
    assert tactful._running.door is not None
    address = f"localhost:{tactful._running.door.port}"
    asked = {"subject": ADA, "purpose": "support_triage"}
    trusting = ssl.create_default_context(cafile=str(ours / "ca.pem"))
    reply = httpx.post(
        f"https://{address}/v1/segments:get", json=asked, headers=auth(), verify=trusting
    )
    assert reply.status_code == 200, reply.text
    with pytest.raises(httpx.TransportError):  # no plaintext beside it
        httpx.post(f"http://{address}/v1/segments:get", json=asked, headers=auth(), timeout=5)


def test_with_mutual_tls_the_door_asks_for_a_client_certificate(
    start_tactful: Callable[..., Tactful], tmp_path: Path
) -> None:
    ours = pki(tmp_path / "ours")
    tactful = start_tactful(tls=tls_settings(ours, mutual=True), http=HttpSettings("127.0.0.1:0"))
    assert tactful._running.door is not None
    url = f"https://localhost:{tactful._running.door.port}/v1/segments:get"
    asked = {"subject": ADA, "purpose": "support_triage"}
    anonymous = ssl.create_default_context(cafile=str(ours / "ca.pem"))
    with pytest.raises(httpx.TransportError):
        httpx.post(url, json=asked, headers=auth(), verify=anonymous, timeout=5)
    holding = ssl.create_default_context(cafile=str(ours / "ca.pem"))
    holding.load_cert_chain(ours / "client-web_frontend.pem", ours / "client-web_frontend.key")
    reply = httpx.post(url, json=asked, headers=auth(), verify=holding, timeout=5)
    assert reply.status_code == 200, reply.text
