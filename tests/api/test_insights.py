"""Differentially private insights: noisy segment sizes within a per-principal budget.

Over a real channel: what the analyst gets, the budget and its ledger, refusals, the
access log. Directly: the noise OpenDP adds, against the discrete Laplace distribution
promised for the epsilon, and the exact counts under the noise.
"""

from __future__ import annotations

import doctest
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tactful.app.config_file import load_settings
from tactful.app.settings import EXAMPLE_CONTRACT, ConfigError, Settings
from tactful.privacy import _dp
from tactful.privacy.contract import load_contract
from tactful.privacy.decisions import Actor
from tactful.privacy.insights import Insights
from tactful.segments.census import Census
from tactful.segments.store import StoredEvent, tracked_by
from tactful.segments.visitor import NEW_VISITOR_WINDOW_US
from tactful.storage.sqlite.behavior import SqliteBehaviorStore
from tactful.storage.sqlite.budget import SqliteBudgetLedger
from tactful.timestamps import to_us
from tactful.v1 import access_log_pb2, access_log_pb2_grpc, insights_pb2, insights_pb2_grpc
from tests.conftest import T0, Tactful, bearer, email, page_view
from tests.test_layering import PACKAGE, imports_of

ANALYST = "analyst"
FRONTEND = "web_frontend"
SEGMENTS = sorted(load_contract(EXAMPLE_CONTRACT).segments)  # every segment of the contract
METHOD = "tactful.v1.Insights/GetSegmentSizes"


def sizes(
    tactful: Tactful, epsilon: float, principal: str = ANALYST, purpose: str = "analytics"
) -> insights_pb2.GetSegmentSizesResponse:
    request = insights_pb2.GetSegmentSizesRequest(purpose=purpose, epsilon=epsilon)
    stub = insights_pb2_grpc.InsightsStub(tactful.channel)
    return stub.GetSegmentSizes(request, metadata=bearer(principal), timeout=10)


def refusal(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def remaining(tactful: Tactful) -> float:
    """What is left, read by spending the smallest sensible amount."""
    return sizes(tactful, 1e-6).epsilon_remaining


# -- a contract under which someone can collect for analytics ----------------------------


@pytest.fixture
def start_collecting(start_tactful: Callable[..., Tactful]) -> Callable[..., Tactful]:
    """The example contract lets web_frontend collect for analytics (with consent)."""
    return start_tactful


def visit(tactful: Tactful, *addresses: str) -> None:
    """Each person grants analytics and views a page, now."""
    for address in addresses:
        tactful.consent(email(address), "analytics", principal=FRONTEND)
        reply = tactful.record(
            "analytics", page_view(email(address), tactful.clock.now), principal=FRONTEND
        )
        assert reply.stored == 1


# -- over a real channel -----------------------------------------------------------------


def test_analyst_gets_a_noisy_size_for_every_contract_segment(
    start_collecting: Callable[..., Tactful],
) -> None:
    tactful = start_collecting(insights_budget=25.0)
    visit(tactful, "ada@example.com", "bob@example.org")
    tactful.clock.advance(timedelta(hours=25))
    visit(tactful, "cy@example.com", "di@example.com", "ed@example.com")
    tactful.record("support_triage", page_view(email("zoe@example.com"), tactful.clock.now))

    reply = sizes(tactful, 10.0)

    assert [s.segment for s in reply.sizes] == SEGMENTS
    assert (reply.epsilon_spent, reply.epsilon_remaining) == (10.0, 15.0)
    # At epsilon 10 and sensitivity 7 (seven segments) the scale is 0.7: |noise| > 8 has
    # odds ~1e-5 per segment. Another purpose's data (zoe, support_triage) is not counted;
    # page views alone put nobody in a rule-based segment.
    exact = dict.fromkeys(SEGMENTS, 0) | {"new_visitor": 3, "returning_visitor": 2}
    assert all(abs(s.noisy_count - exact[s.segment]) <= 8 for s in reply.sizes)


def test_default_budget_is_one_epsilon_and_the_last_decimal_can_be_spent(
    tactful: Tactful,
) -> None:
    spent = [sizes(tactful, 0.1) for _ in range(10)]
    assert [r.epsilon_spent for r in spent] == [0.1] * 10
    assert [r.epsilon_remaining for r in spent] == pytest.approx(
        [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0], abs=1e-12
    )
    assert spent[-1].epsilon_remaining == 0.0
    error = refusal(lambda: sizes(tactful, 0.1))
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


def test_overdraw_is_refused_with_spent_and_remaining_and_the_ledger_survives_restart(
    tactful: Tactful,
) -> None:
    sizes(tactful, 0.5)
    assert sizes(tactful, 0.3).epsilon_remaining == pytest.approx(0.2)

    error = refusal(lambda: sizes(tactful, 0.3))
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "epsilon spent 0.8" in error.details()
    assert "epsilon remaining 0.2" in error.details()
    info = error_details_pb2.ErrorInfo()
    status = rpc_status.from_call(error)
    assert status is not None and status.details[0].Unpack(info)
    assert info.reason == "PRIVACY_BUDGET_EXHAUSTED"
    assert dict(info.metadata) == {
        "epsilon_spent": "0.8",
        "epsilon_remaining": "0.2",
        "epsilon_requested": "0.3",
    }

    tactful.restart()
    again = refusal(lambda: sizes(tactful, 0.3))  # the refused 0.3 was not debited either
    assert again.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "epsilon remaining 0.2" in again.details()
    assert sizes(tactful, 0.2).epsilon_remaining == 0.0


def test_budget_is_per_principal_and_configurable(
    start_collecting: Callable[..., Tactful],
) -> None:
    tactful = start_collecting(insights_budget=0.5)
    assert sizes(tactful, 0.5).epsilon_remaining == 0.0
    assert refusal(lambda: sizes(tactful, 0.5)).code() is grpc.StatusCode.RESOURCE_EXHAUSTED


def test_concurrent_releases_never_overdraw(tactful: Tactful) -> None:
    def attempt(_: int) -> str:
        try:
            sizes(tactful, 0.1)
        except grpc.RpcError as error:
            return error.code().name  # type: ignore[no-any-return]
        return "OK"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(attempt, range(20)))
    assert sorted(outcomes) == ["OK"] * 10 + ["RESOURCE_EXHAUSTED"] * 10


@pytest.mark.parametrize("epsilon", [0.0, -0.5, math.nan, math.inf, 10.5])
def test_bad_epsilon_is_invalid_argument_and_spends_nothing(
    tactful: Tactful, epsilon: float
) -> None:
    error = refusal(lambda: sizes(tactful, epsilon))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    bad_request = error_details_pb2.BadRequest()
    status = rpc_status.from_call(error)
    assert status is not None and status.details[0].Unpack(bad_request)
    assert [v.field for v in bad_request.field_violations] == ["epsilon"]
    assert remaining(tactful) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("epsilon", [5e-324, 1e-310])
def test_an_epsilon_opendp_cannot_measure_is_invalid_argument_before_the_debit(
    tactful: Tactful, epsilon: float
) -> None:
    before = remaining(tactful)
    error = refusal(lambda: sizes(tactful, epsilon))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error.details()
    bad_request = error_details_pb2.BadRequest()
    status = rpc_status.from_call(error)
    assert status is not None and status.details[0].Unpack(bad_request)
    assert [v.field for v in bad_request.field_violations] == ["epsilon"]
    assert "too small" in bad_request.field_violations[0].description
    assert sizes(tactful, 1e-6).epsilon_remaining == pytest.approx(before - 1e-6, abs=1e-12)


def test_the_reply_says_its_sensitivity_and_noise_scale(tactful: Tactful) -> None:
    for epsilon in (0.5, 0.1):
        reply = sizes(tactful, epsilon)
        assert reply.sensitivity == len(reply.sizes) == len(SEGMENTS)
        assert reply.scale == pytest.approx(reply.sensitivity / epsilon, rel=1e-12)
        assert all(s.noisy_count >= 0 for s in reply.sizes)


@pytest.mark.parametrize(
    ("principal", "purpose", "code"),
    [
        (FRONTEND, "analytics", grpc.StatusCode.PERMISSION_DENIED),  # not an analyst
        ("agent_console", "analytics", grpc.StatusCode.PERMISSION_DENIED),
        (ANALYST, "support_triage", grpc.StatusCode.PERMISSION_DENIED),  # not its purpose
        (ANALYST, "no_such_purpose", grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
def test_wrong_role_or_purpose_is_refused_before_any_debit(
    tactful: Tactful, principal: str, purpose: str, code: grpc.StatusCode
) -> None:
    assert refusal(lambda: sizes(tactful, 0.5, principal, purpose)).code() is code
    assert remaining(tactful) == pytest.approx(1.0, abs=1e-5)


def test_no_credential_is_unauthenticated(tactful: Tactful) -> None:
    stub = insights_pb2_grpc.InsightsStub(tactful.channel)
    request = insights_pb2.GetSegmentSizesRequest(purpose="analytics", epsilon=0.1)
    error = refusal(lambda: stub.GetSegmentSizes(request, timeout=10))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED


def test_each_release_and_refusal_is_in_the_access_log_with_its_epsilon(
    tactful: Tactful,
) -> None:
    sizes(tactful, 0.25)
    sizes(tactful, 0.5)
    refusal(lambda: sizes(tactful, 0.5))

    request = access_log_pb2.QueryAccessLogRequest(method=METHOD, page_size=100)
    access_log = access_log_pb2_grpc.AccessLogStub(tactful.channel)
    records = access_log.QueryAccessLog(request, metadata=bearer("compliance_officer"), timeout=10)
    first, second, refused = records.records
    for record, epsilon in ((first, "0.25"), (second, "0.5")):
        assert (record.principal, record.role, record.purpose) == (ANALYST, "analyst", "analytics")
        assert (record.decision, record.status) == ("allowed", "OK")
        assert list(record.released) == SEGMENTS  # names only, never a count
        assert f"released segment sizes with epsilon {epsilon}" in record.reason
    assert "0.25 of the budget remaining" in second.reason
    assert (refused.decision, refused.status) == ("denied", "RESOURCE_EXHAUSTED")
    assert list(refused.released) == []
    assert "epsilon spent 0.75" in refused.reason
    assert "epsilon remaining 0.25" in refused.reason


# -- the domain, directly ----------------------------------------------------------------


ANALYST_ACTOR = Actor(ANALYST, frozenset({"analyst"}), frozenset({"analytics"}))


class FixedCounter:
    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts
        self.calls = 0

    def segment_counts(self, purpose: str, now_us: int) -> dict[str, int]:
        self.calls += 1
        return self.counts


def test_a_release_that_fails_after_the_debit_spends_nothing(tmp_path: Path) -> None:
    class BrokenCounter:
        def segment_counts(self, purpose: str, now_us: int) -> dict[str, int]:
            raise RuntimeError("behavior store unavailable")

    ledger = SqliteBudgetLedger(tmp_path / "insights.db")
    insights = Insights(load_contract(EXAMPLE_CONTRACT), BrokenCounter(), ledger)
    with pytest.raises(RuntimeError):
        insights.release_segment_sizes(ANALYST_ACTOR, "analytics", 0.4, now=T0)
    assert ledger.spent(ANALYST) == 0.0  # nothing left the server, nothing was spent
    ledger.close()


def test_the_debit_is_in_the_ledger_when_the_sizes_leave(tmp_path: Path) -> None:
    ledger = SqliteBudgetLedger(tmp_path / "insights.db")
    insights = Insights(load_contract(EXAMPLE_CONTRACT), FixedCounter({}), ledger)
    released = insights.release_segment_sizes(ANALYST_ACTOR, "analytics", 0.4, now=T0)
    assert released.epsilon_spent == 0.4
    again = SqliteBudgetLedger(tmp_path / "insights.db")  # committed, seen by another
    assert again.spent(ANALYST) == 0.4
    again.close()
    ledger.close()


def test_the_sensitivity_and_scale_are_on_the_release(tmp_path: Path) -> None:
    ledger = SqliteBudgetLedger(tmp_path / "insights.db")
    insights = Insights(load_contract(EXAMPLE_CONTRACT), FixedCounter({}), ledger)
    released = insights.release_segment_sizes(ANALYST_ACTOR, "analytics", 0.5, now=T0)
    assert released.sensitivity == len(released.sizes) == len(SEGMENTS) == 7
    assert released.scale == 14.0  # 7 / 0.5: the example contract's
    ledger.close()


def test_no_released_size_is_negative(tmp_path: Path) -> None:
    # Exact counts of 0 at scale 700: without the clamp about half of the 7 x 20 noisy
    # counts would be negative (all of them being >= 0 has odds of 2**-140).
    ledger = SqliteBudgetLedger(tmp_path / "insights.db")
    counter = FixedCounter(dict.fromkeys(SEGMENTS, 0))
    insights = Insights(load_contract(EXAMPLE_CONTRACT), counter, ledger, budget=1.0)
    released = [
        insights.release_segment_sizes(ANALYST_ACTOR, "analytics", 0.01, now=T0) for _ in range(20)
    ]
    assert counter.calls == 20
    noisy = [n for r in released for n in r.sizes.values()]
    assert len(noisy) == 140 and min(noisy) == 0
    assert max(noisy) > 0  # noise was added, and clamping kept the positive part
    ledger.close()


def test_segment_counts_follow_the_24_hour_rule_per_purpose(tmp_path: Path) -> None:
    contract = load_contract(EXAMPLE_CONTRACT)
    store = SqliteBehaviorStore(tmp_path / "behavior.db", tracked_by(contract))
    now_us = to_us(T0)
    first_seen = {
        "hmac-sha256:v1:a": now_us,  # new
        "hmac-sha256:v1:b": now_us - NEW_VISITOR_WINDOW_US,  # exactly 24 h: still new
        "hmac-sha256:v1:c": now_us - NEW_VISITOR_WINDOW_US - 1,  # returning
        "hmac-sha256:v1:d": now_us - 10 * NEW_VISITOR_WINDOW_US,  # returning
    }
    events = [
        StoredEvent(pseudonym, "analytics", "page_viewed", at, {})
        for pseudonym, at in first_seen.items()
        for at in (at, now_us)  # later events do not move first-seen or add members
    ]
    events.append(StoredEvent("hmac-sha256:v1:e", "support_triage", "page_viewed", now_us, {}))
    store.append(events, received_at_us=now_us)

    census = Census(contract, store.census_source(on_writer=True))

    def visitors(purpose: str) -> dict[str, int]:
        counts = census.segment_counts(purpose, now_us)
        return {name: counts[name] for name in ("new_visitor", "returning_visitor")}

    assert visitors("analytics") == {"new_visitor": 2, "returning_visitor": 2}
    assert visitors("support_triage") == {"new_visitor": 1, "returning_visitor": 0}
    assert visitors("onboarding") == {"new_visitor": 0, "returning_visitor": 0}
    store.close()


# -- the noise ---------------------------------------------------------------------------


def discrete_laplace_moments(scale: float) -> tuple[float, float]:
    """Variance and fourth moment of discrete Laplace(scale), P(k) ∝ exp(-|k|/scale),
    summed from its mass function (its mean is 0)."""
    p = math.exp(-1 / scale)
    mass = (1 - p) / (1 + p)
    ks = range(-int(80 * scale) - 50, int(80 * scale) + 51)
    variance = math.fsum(mass * p ** abs(k) * k**2 for k in ks)
    fourth = math.fsum(mass * p ** abs(k) * k**4 for k in ks)
    assert variance == pytest.approx(2 * p / (1 - p) ** 2, rel=1e-9)  # the closed form
    return variance, fourth


def test_noise_of_many_releases_matches_the_scale_promised_for_the_epsilon() -> None:
    epsilon, counts = 0.5, [1000, 0]  # two segments: sensitivity 2
    scale = _dp.discrete_laplace_scale(epsilon, len(counts))
    assert scale == 4.0
    releases = 4000
    noise = [
        noisy - count
        for _ in range(releases)
        for noisy, count in zip(_dp.add_discrete_laplace_noise(counts, scale), counts, strict=True)
    ]
    n = len(noise)
    variance, fourth = discrete_laplace_moments(scale)
    # The mean of squares estimates the variance (the mean is 0); its standard error
    # is sqrt((E[Z^4] - var^2) / n). Five standard errors: a flake is ~1 in 1.7 million.
    mean_tolerance = 5 * math.sqrt(variance / n)
    variance_tolerance = 5 * math.sqrt((fourth - variance**2) / n)
    mean = math.fsum(noise) / n
    mean_square = math.fsum(z * z for z in noise) / n

    assert all(isinstance(z, int) for z in noise)
    assert abs(mean) < mean_tolerance
    assert abs(mean_square - variance) < variance_tolerance
    # The test can fail: a scale a quarter off either way would be caught.
    for wrong in (scale * 0.75, scale * 1.25):
        assert abs(mean_square - discrete_laplace_moments(wrong)[0]) > variance_tolerance


@pytest.mark.parametrize("epsilon", [0.1, 0.3, 0.7, 1 / 3, 1e-9, 2.0, 10.0])
@pytest.mark.parametrize("sensitivity", [1, 2, 3, 7])
def test_opendp_certifies_the_epsilon_at_the_scale_chosen(epsilon: float, sensitivity: int) -> None:
    scale = _dp.discrete_laplace_scale(epsilon, sensitivity)
    assert _dp.privacy_loss(scale, sensitivity) <= epsilon
    assert scale == pytest.approx(sensitivity / epsilon, rel=1e-12)


@pytest.mark.parametrize(("epsilon", "sensitivity"), [(0.0, 2), (-1.0, 2), (math.nan, 2), (1, 0)])
def test_no_scale_for_a_meaningless_epsilon_or_sensitivity(
    epsilon: float, sensitivity: int
) -> None:
    with pytest.raises(ValueError):
        _dp.discrete_laplace_scale(epsilon, sensitivity)


def test_noise_refuses_a_zero_scale() -> None:
    with pytest.raises(ValueError):
        _dp.add_discrete_laplace_noise([5, 7], 0.0)


def test_opendp_only_behind_one_door() -> None:
    users = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if any(m == "opendp" or m.startswith("opendp.") for m in imports_of(path))
    }
    assert users == {"privacy/_dp.py"}


# -- configuration -----------------------------------------------------------------------


def test_budget_is_read_from_the_insights_table(tmp_path: Path) -> None:
    config = tmp_path / "tactful.toml"
    assert Settings().insights_budget == 1.0
    config.write_text("")
    assert load_settings(config, {}).insights_budget == 1.0
    config.write_text("[insights]\nbudget = 2.5\n")
    assert load_settings(config, {}).insights_budget == 2.5
    config.write_text("[insights]\nbudget = 3\n")
    assert load_settings(config, {}).insights_budget == 3.0


@pytest.mark.parametrize(
    "table",
    [
        "budget = 0",
        "budget = -1.0",
        'budget = "1.0"',
        "budget = true",
        "budget = inf",
        "budget = nan",
        "budgets = 1.0",
    ],
)
def test_a_bad_insights_budget_is_a_config_error(tmp_path: Path, table: str) -> None:
    config = tmp_path / "tactful.toml"
    config.write_text(f"[insights]\n{table}\n")
    with pytest.raises(ConfigError, match="insights"):
        load_settings(config, {})


def test_dp_doctests() -> None:
    result = doctest.testmod(_dp)
    assert result.attempted > 0 and result.failed == 0
