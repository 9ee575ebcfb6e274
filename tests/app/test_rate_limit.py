"""Failed calls are limited per peer and in all, and what is refused is summed up in one
record per window.

Before, each anonymous call cost an fsync'd record of ~700 bytes: one client at
738 calls/s wrote about 45 GB a day, a full disk and a fail-closed outage; and a client
rotating its source address met no cap at all (413 records/s on SQLite). The flood
from rotating addresses over a real channel, on every engine, is in
tests/storage/contract/test_contract_rate_limit.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from tactful.api.edge import RATE_LIMITED_METHOD
from tactful.app.config_file import load_settings
from tactful.app.limits import MAX_PEERS, FailureLimiter, FailureLimits, peer_host
from tactful.app.lockout import LockoutPolicy
from tactful.app.settings import ConfigError
from tactful.privacy.access_log import RequestIdOrigin
from tactful.v1 import personalization_pb2
from tests.api.test_access_log_service import query as records
from tests.conftest import Tactful, bearer, email

SEGMENTS = personalization_pb2.GetSegmentsRequest(
    subject=email("ada@example.com"), purpose="support_triage"
)
LIMITS = FailureLimits(per_minute=0.001, burst=5, summary_s=3600)


def code_of(call: Callable[[], object]) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def anonymous(tactful: Tactful) -> grpc.StatusCode:
    return code_of(lambda: tactful.personalization.GetSegments(SEGMENTS, timeout=10))


def test_a_flood_of_anonymous_calls_writes_a_bounded_number_of_records(
    start_tactful: Callable[..., Tactful],
) -> None:
    tactful = start_tactful(failure_limits=LIMITS)
    codes = [anonymous(tactful) for _ in range(30)]
    assert (
        codes == [grpc.StatusCode.UNAUTHENTICATED] * 5 + [grpc.StatusCode.RESOURCE_EXHAUSTED] * 25
    )
    # A caller with a valid token, from the same address, is served all the while.
    allowed = code_of(
        lambda: tactful.personalization.GetSegments(
            SEGMENTS, metadata=bearer("support_widget"), timeout=10
        )
    )
    assert allowed is grpc.StatusCode.OK
    before_stop = records(tactful)
    assert [r.status for r in before_stop] == ["UNAUTHENTICATED"] * 5 + ["OK"]

    tactful.restart()  # stopping writes the open window's summary
    after = records(tactful)
    (summary,) = [r for r in after if r.method == RATE_LIMITED_METHOD]
    assert summary.status == "RESOURCE_EXHAUSTED" and summary.decision == "denied"
    assert summary.request_id_origin == str(RequestIdOrigin.GENERATED)
    limited = json.loads(summary.reason)["rate_limited"]
    assert limited["refused"] == 25
    assert limited["sources"] == 1 and limited["top_sources"] == {"ipv4:127.0.0.1": 25}
    assert limited["from_untracked_sources"] == 0
    assert limited["methods"] == {"tactful.v1.Personalization/GetSegments": 25}
    assert limited["principals"] == {"anonymous": 25}
    assert limited["would_have_been"] == {"UNAUTHENTICATED": 25}
    assert len(after) == len(before_stop) + 2  # the compliance query, then the summary


def test_repeatedly_denied_principals_are_limited_too(
    start_tactful: Callable[..., Tactful],
) -> None:
    tactful = start_tactful(failure_limits=LIMITS)
    wrong_role = personalization_pb2.GetSegmentsRequest(
        subject=email("ada@example.com"), purpose="analytics"
    )
    codes = [
        code_of(
            lambda: tactful.personalization.GetSegments(
                wrong_role, metadata=bearer("analyst"), timeout=10
            )
        )
        for _ in range(8)
    ]
    assert (
        codes == [grpc.StatusCode.PERMISSION_DENIED] * 5 + [grpc.StatusCode.RESOURCE_EXHAUSTED] * 3
    )


def test_the_summary_is_written_when_its_window_ends(
    start_tactful: Callable[..., Tactful],
) -> None:
    from tests.conftest import eventually

    tactful = start_tactful(failure_limits=FailureLimits(per_minute=0.001, burst=1, summary_s=0.2))
    assert [anonymous(tactful) for _ in range(4)] == [grpc.StatusCode.UNAUTHENTICATED] + [
        grpc.StatusCode.RESOURCE_EXHAUSTED
    ] * 3

    def summarised() -> bool:
        return any(r.method == RATE_LIMITED_METHOD for r in records(tactful))

    eventually(summarised, seconds=10)
    (summary,) = [r for r in records(tactful) if r.method == RATE_LIMITED_METHOD]
    assert json.loads(summary.reason)["rate_limited"]["refused"] == 3


def test_the_bucket_refills_at_its_rate() -> None:
    limiter = FailureLimiter(FailureLimits(per_minute=60, burst=2))
    assert [limiter.admit_failure("p", now_s=0.0) for _ in range(3)] == [True, True, False]
    assert limiter.admit_failure("p", now_s=0.5) is False  # half a token
    assert limiter.admit_failure("p", now_s=1.0) is True  # one a second
    assert limiter.admit_failure("q", now_s=1.0) is True  # peers are apart
    assert [limiter.admit_failure("p", now_s=100.0) for _ in range(3)] == [True, True, False]


def test_every_peer_together_meets_the_global_cap() -> None:
    limits = FailureLimits(per_minute=60, burst=2, global_per_minute=60, global_burst=5)
    limiter = FailureLimiter(limits)
    admitted = [limiter.admit_failure(f"peer-{i}", now_s=0.0) for i in range(8)]
    assert admitted == [True] * 5 + [False] * 3  # each peer had tokens of its own
    assert limiter.admit_failure("peer-0", now_s=0.5) is False  # everyone's: half a token
    assert limiter.admit_failure("peer-0", now_s=1.0) is True  # one a second
    assert limiter.admit_failure("peer-1", now_s=1.0) is False


def test_a_peer_the_table_forgot_does_not_escape_the_global_cap() -> None:
    """Cycling through more addresses than the table keeps gives each a fresh bucket
    every time round; the global bucket still holds them all."""
    limits = FailureLimits(per_minute=0.001, burst=1, global_per_minute=0.001, global_burst=50)
    limiter = FailureLimiter(limits)
    peers = [f"ipv4:10.{i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(MAX_PEERS + 5000)]
    admitted = sum(limiter.admit_failure(peer, now_s=0.0) for _ in range(2) for peer in peers)
    assert admitted == 50


def test_a_window_counts_every_refused_call_in_bounded_memory() -> None:
    limiter = FailureLimiter(FailureLimits())
    opened = [
        limiter.refuse(
            f"ipv4:10.0.{i // 256}.{i % 256}", "m", "anonymous", "UNAUTHENTICATED", now_us=7
        )
        for i in range(MAX_PEERS + 300)
    ] + [limiter.refuse("ipv4:10.0.0.0", "m", "anonymous", "UNAUTHENTICATED", now_us=8)]
    assert opened == [True] + [False] * (MAX_PEERS + 300)  # one window, one summary
    window = limiter.close_window()
    assert window is not None and limiter.close_window() is None
    limited = json.loads(window.reason(9))["rate_limited"]
    assert limited["refused"] == MAX_PEERS + 301
    assert limited["sources"] == MAX_PEERS
    assert limited["from_untracked_sources"] == 300
    assert limited["top_sources"]["ipv4:10.0.0.0"] == 2 and len(limited["top_sources"]) == 20
    assert limited["would_have_been"] == {"UNAUTHENTICATED": MAX_PEERS + 301}
    assert (limited["from_us"], limited["until_us"]) == (7, 9)


@pytest.mark.parametrize(
    ("peer", "host"),
    [
        ("ipv4:127.0.0.1:51234", "ipv4:127.0.0.1"),
        ("ipv6:[::1]:51234", "ipv6:[::1]"),
        ("unix:/run/tactful.sock", "unix:/run/tactful.sock"),
        ("", "unknown"),
    ],
)
def test_a_peer_is_its_address_without_the_port(peer: str, host: str) -> None:
    assert peer_host(peer) == host


def test_the_rate_limit_table_sets_the_global_cap_and_the_sign_in_lockout(
    tmp_path: Path,
) -> None:
    config = tmp_path / "tactful.toml"
    config.write_text(
        "[rate_limit]\nglobal_failed_per_minute = 30\nglobal_failed_burst = 7\n"
        "signin_lockout_after = 3\nsignin_lockout_everyone_after = 40\n"
        "signin_lockout_seconds = 5\nsignin_lockout_max_seconds = 50\n"
    )
    settings = load_settings(config, {})
    assert (settings.failure_limits.global_per_minute, settings.failure_limits.global_burst) == (
        30.0,
        7,
    )
    assert settings.signin_lockout == LockoutPolicy(3, 40, 5.0, 50.0)
    config.write_text("[rate_limit]\nsignin_lockout_seconds = 60\nsignin_lockout_max_seconds = 5\n")
    with pytest.raises(ConfigError, match="signin_lockout_max_seconds must be a number from 60"):
        load_settings(config, {})
    config.write_text("[rate_limit]\nglobal_failed_burst = 0\n")
    with pytest.raises(ConfigError, match="global_failed_burst must be an integer from 1"):
        load_settings(config, {})
