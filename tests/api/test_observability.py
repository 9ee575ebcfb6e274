"""Operations: one JSON log line per call without personal data, Prometheus metrics on
their own listener, and optional OpenTelemetry spans, all from one hook in the edge."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from tactful.privacy.errors import PrivacyError
from tactful.storage.sqlite.access_log import SqliteAccessLog
from tactful.v1 import insights_pb2, insights_pb2_grpc, personalization_pb2
from tests.api.test_canary import CANARY, forbidden_forms
from tests.conftest import T0, Tactful, bearer, email, page_view, token_for

ROOT = Path(__file__).resolve().parents[2]
SEGMENTS = "tactful.v1.Personalization/GetSegments"
WRONG_TOKEN = "tf_canary-wrong-token-5d1e"
CALL_FIELDS = {
    "time", "level", "logger", "event", "method", "principal", "purpose",
    "code", "decision", "latency_ms", "request_id",
}  # fmt: skip


def busy_run(tactful: Tactful) -> int:
    """Calls of every kind about the canary; returns how many calls were made."""
    canary = email(f"  {CANARY} ")
    tactful.record(
        "support_triage", *(page_view(canary, T0 - timedelta(seconds=i)) for i in range(20))
    )
    calls = 1
    for _ in range(5):
        tactful.segments(email(CANARY.upper()))
        calls += 1
    request = personalization_pb2.GetSegmentsRequest(subject=canary, purpose="support_triage")
    stub = tactful.personalization
    for metadata in (
        (("authorization", f"Bearer {WRONG_TOKEN}"),),  # UNAUTHENTICATED
        (*bearer("support_widget"), ("x-request-id", "req-obs-1")),
        (*bearer("support_widget"), ("x-request-id", CANARY)),  # replaced, never kept
        bearer("web_frontend"),  # onboarding only: PERMISSION_DENIED for support_triage
    ):
        calls += 1
        with contextlib.suppress(grpc.RpcError):
            stub.GetSegments(request, metadata=metadata, timeout=10)
    with pytest.raises(grpc.RpcError):  # a value the contract refuses, with the canary in it
        tactful.record("support_triage", page_view(canary, T0, path=f"/{CANARY}" * 100))
    return calls + 1


def test_a_busy_run_logs_one_json_line_per_call_and_no_identifier_or_token(
    start_tactful: Callable[..., Tactful], tmp_path: Path
) -> None:
    log = tmp_path / "logs" / "calls.jsonl"
    tactful = start_tactful(log_format="json", log_file=log)
    calls = busy_run(tactful)
    tactful.stop()

    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    call_lines = [line for line in lines if line["event"] == "call"]
    assert len(call_lines) == calls
    allowed = [line for line in call_lines if line["decision"] == "allowed"]
    denied = [line for line in call_lines if line["decision"] == "denied"]
    assert all(set(line) == CALL_FIELDS for line in allowed)
    assert all(set(line) == CALL_FIELDS | {"reason"} for line in denied)
    # A denied call's line says why, in a code: never the value, the token or the name.
    assert sorted((line["code"], line["reason"]) for line in denied) == [
        ("INVALID_ARGUMENT", "invalid_request"),
        ("PERMISSION_DENIED", "purpose_not_claimable"),
        ("UNAUTHENTICATED", "unauthenticated"),
    ]
    by_id = {line["request_id"]: line for line in call_lines}
    assert by_id["req-obs-1"] | {"latency_ms": 0} == {
        "time": "2026-11-27T12:00:00.000+00:00", "level": "info", "logger": "tactful.calls",
        "event": "call", "method": SEGMENTS, "principal": "support_widget",
        "purpose": "support_triage", "code": "OK", "decision": "allowed", "latency_ms": 0,
        "request_id": "req-obs-1",
    }  # fmt: skip
    codes = sorted(line["code"] for line in call_lines)
    assert codes.count("OK") == 8 and "UNAUTHENTICATED" in codes and "PERMISSION_DENIED" in codes
    events = [line["event"] for line in lines if line["event"] != "call"]
    assert events[0].startswith("serving on 127.0.0.1:") and events[-1] == "stopped"
    assert log.stat().st_mode & 0o077 == 0

    content = log.read_bytes().lower()
    tokens = [token_for(p.name) for p in tactful.settings.principals] + [WRONG_TOKEN]
    needles = forbidden_forms(CANARY) + [t.lower().encode() for t in tokens]
    assert [n for n in needles if n in content] == []


def test_the_text_log_has_a_line_per_call_too(
    start_tactful: Callable[..., Tactful], tmp_path: Path
) -> None:
    log = tmp_path / "calls.log"
    tactful = start_tactful(log_file=log)
    tactful.segments(email("ada@example.com"))
    tactful.stop()
    (line,) = [ln for ln in log.read_text().splitlines() if SEGMENTS in ln]
    assert re.search(
        rf"INFO tactful.calls: {SEGMENTS} support_widget purpose=support_triage OK allowed "
        r"[0-9.]+ ms request_id=[0-9a-f]{32}$",
        line,
    ), line


def test_level_warning_keeps_the_calls_out_of_the_log(
    start_tactful: Callable[..., Tactful], tmp_path: Path
) -> None:
    log = tmp_path / "calls.log"
    tactful = start_tactful(log_file=log, log_level="warning")
    tactful.segments(email("ada@example.com"))
    tactful.stop()
    assert log.read_text() == ""


def scrape(tactful: Tactful) -> str:
    (notice,) = [n for n in tactful._running.notices if n.startswith("metrics on ")]
    url = notice.removeprefix("metrics on ")
    with urllib.request.urlopen(url, timeout=10) as reply:
        return str(reply.read().decode())


def sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = (
        rf"^{re.escape(name)}(\{{{re.escape(wanted)}\}})? (\S+)$"
        if labels
        else (rf"^{re.escape(name)} (\S+)$")
    )
    (match,) = [m for m in re.finditer(pattern, text, re.MULTILINE)]
    return float(match.groups()[-1])


def test_metrics_count_calls_commits_and_state_on_their_own_listener(
    start_tactful: Callable[..., Tactful],
) -> None:
    tactful = start_tactful(metrics_listen="127.0.0.1:0", min_segment_size=2)
    calls = busy_run(tactful)
    insights = insights_pb2_grpc.InsightsStub(tactful.channel)
    insights.GetSegmentSizes(
        insights_pb2.GetSegmentSizesRequest(purpose="analytics", epsilon=0.25),
        metadata=bearer("analyst"),
        timeout=10,
    )
    calls += 1
    text = scrape(tactful)

    ok = {"method": SEGMENTS, "code": "OK", "decision": "allowed"}
    assert sample(text, "tactful_rpcs_total", **ok) == 7
    assert sample(text, "tactful_rpcs_total", method=SEGMENTS, code="UNAUTHENTICATED",
                  decision="denied") == 1  # fmt: skip
    # go-grpc-prometheus's families, its label values included.
    rpc = {"grpc_type": "unary", "grpc_service": "tactful.v1.Personalization",
           "grpc_method": "GetSegments"}  # fmt: skip
    assert sample(text, "grpc_server_started_total", **rpc) == 9
    assert sample(text, "grpc_server_handled_total", **rpc, grpc_code="OK") == 7
    assert sample(text, "grpc_server_handled_total", **rpc, grpc_code="PermissionDenied") == 1
    assert sample(text, "grpc_server_handled_total", **rpc, grpc_code="Unauthenticated") == 1
    assert sample(text, "grpc_server_handling_seconds_count", **rpc, grpc_code="OK") == 7
    assert sample(text, "grpc_server_handling_seconds_bucket", **rpc, grpc_code="OK",
                  le="+Inf") == 7  # fmt: skip
    assert sample(text, "grpc_server_in_flight_requests", **rpc) == 0
    rpc["grpc_service"], rpc["grpc_method"] = "tactful.v1.Insights", "GetSegmentSizes"
    assert sample(text, "grpc_server_handled_total", **rpc, grpc_code="OK") == 1
    (build,) = [line for line in text.splitlines() if line.startswith("tactful_build_info{")]
    assert re.fullmatch(
        r'tactful_build_info\{grpc="1\.[0-9.]+",python="3\.[0-9]+\.[0-9]+",'
        r'version="[0-9][^"]*"\} 1\.0',
        build,
    ), build
    assert sample(text, "process_cpu_seconds_total") > 0  # the process collector
    assert sample(text, "process_open_fds") > 0
    assert "python_info{" in text and "python_gc_collections_total{" in text
    records = sample(text, "tactful_access_log_records_total")
    assert records == calls  # one record per call, none for the scrape
    commits = sample(text, "tactful_access_log_commits_total")
    assert 1 <= commits <= records
    assert sample(text, "tactful_access_log_batch_records_sum") == records
    assert sample(text, "tactful_access_log_commit_seconds_count") == commits
    assert sample(text, "tactful_serving") == 1
    assert sample(text, "tactful_writer_queue_depth") == 0
    assert sample(text, "tactful_insights_budget_remaining", principal="analyst") == 0.75
    assert sample(text, "tactful_census_age_seconds", purpose="support_triage") >= 0
    assert sample(text, "tactful_store_bytes", store="behavior") > 0
    assert sample(text, "tactful_store_bytes", store="vault") > 0
    # Label values are names, never what a caller sent.
    assert CANARY.lower() not in text.lower() and "req-obs-1" not in text


def test_failing_closed_shows_in_the_metrics_and_the_log(
    start_tactful: Callable[..., Tactful], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "calls.jsonl"
    tactful = start_tactful(metrics_listen="127.0.0.1:0", log_format="json", log_file=log)
    ada = email("ada@example.com")
    tactful.segments(ada)

    def failing_append(
        self: SqliteAccessLog, entries: object, *, now_us: int, lock_wait_s: object = None
    ) -> None:
        raise PrivacyError("disk I/O error")

    monkeypatch.setattr(SqliteAccessLog, "append", failing_append)
    with pytest.raises(grpc.RpcError):
        tactful.segments(ada)
    assert sample(scrape(tactful), "tactful_serving") == 0
    monkeypatch.undo()
    tactful.segments(ada)
    text = scrape(tactful)
    assert sample(text, "tactful_serving") == 1
    assert sample(text, "tactful_rpcs_total", method=SEGMENTS, code="UNAVAILABLE",
                  decision="denied") == 1  # fmt: skip
    tactful.stop()
    events = [json.loads(line) for line in log.read_text().splitlines()]
    said = [(e["level"], e["event"]) for e in events if "NOT_SERVING" in e["event"] or
            "SERVING" in e["event"]]  # fmt: skip
    assert said == [
        ("error", "access log failing: NOT_SERVING, every call answers UNAVAILABLE"),
        ("warning", "access log writable again: SERVING"),
    ]


def test_without_tracing_nothing_of_opentelemetry_is_imported(tmp_path: Path) -> None:
    program = f"""
import asyncio, sys
from pathlib import Path
sys.path.insert(0, {str(ROOT)!r})
from tests.conftest import make_settings
from tactful.api.server import create_server

async def main():
    running = await create_server(make_settings(Path({str(tmp_path)!r}) / "data"))
    await running.stop(None)

asyncio.run(main())
print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stderr


def test_tracing_without_the_extra_is_refused_at_start(
    start_tactful: Callable[..., Tactful], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tactful.app.settings import ConfigError

    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"pip install 'tactful\[server,otel\]'"):
        start_tactful(tracing_enabled=True)


def test_a_taken_metrics_port_stops_a_deployment_but_not_the_development_server(
    start_tactful: Callable[..., Tactful], tmp_path: Path
) -> None:
    from tactful.api.server import create_server
    from tactful.app.settings import ConfigError
    from tests.conftest import make_settings

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        tactful = start_tactful(metrics_listen=address, development=True)
        assert f"metrics: cannot listen on {address} (Address already in use); off" in (
            tactful._running.notices
        )
        deployment = make_settings(tmp_path / "deployment", metrics_listen=address)
        with pytest.raises(ConfigError, match=f"metrics.listen: cannot listen on {address}"):
            tactful._thread.run(create_server(deployment))


def test_the_development_default_serves_metrics_and_says_where() -> None:
    from tactful.app.config_file import load_settings

    assert load_settings(None, {}).metrics_listen == "127.0.0.1:9464"


def test_calls_the_failure_limiter_refuses_are_counted_but_not_logged_one_by_one(
    start_tactful: Callable[..., Tactful], tmp_path: Path
) -> None:
    from tactful.app.limits import FailureLimits

    log = tmp_path / "calls.jsonl"
    tactful = start_tactful(
        metrics_listen="127.0.0.1:0",
        log_format="json",
        log_file=log,
        failure_limits=FailureLimits(per_minute=0.001, burst=2, summary_s=3600),
    )
    request = personalization_pb2.GetSegmentsRequest(
        subject=email("ada@example.com"), purpose="support_triage"
    )
    codes = []
    for _ in range(5):
        try:
            tactful.personalization.GetSegments(request, timeout=10)  # anonymous
        except grpc.RpcError as exc:
            codes.append(exc.code().name)
    assert codes == ["UNAUTHENTICATED"] * 2 + ["RESOURCE_EXHAUSTED"] * 3
    tactful.segments(email("ada@example.com"))  # after every refused call's outcome
    text = scrape(tactful)
    rpc = {"grpc_type": "unary", "grpc_service": "tactful.v1.Personalization",
           "grpc_method": "GetSegments"}  # fmt: skip
    assert sample(text, "grpc_server_started_total", **rpc) == 6
    assert sample(text, "grpc_server_handled_total", **rpc, grpc_code="ResourceExhausted") == 3
    assert sample(text, "grpc_server_in_flight_requests", **rpc) == 0
    tactful.stop()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line.get("reason") for line in lines if line["event"] == "call"] == [
        "unauthenticated",
        "unauthenticated",
        None,
    ]
