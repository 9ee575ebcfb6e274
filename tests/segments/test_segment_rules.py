"""Segment rules: parsed and checked at load, evaluated per subject, counted per purpose."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tactful.app.settings import EXAMPLE_CONTRACT
from tactful.privacy.consent import ConsentRecorder
from tactful.privacy.contract import load_contract, parse_contract
from tactful.privacy.decisions import Actor
from tactful.privacy.errors import ContractError
from tactful.privacy.keyring import KeySet
from tactful.privacy.pseudonym import Pseudonymizer
from tactful.privacy.rules import AllOf, AnyOf, Compare, Not, parse_rule
from tactful.privacy.suppression import Tombstones
from tactful.segments.ingest import SubjectInput
from tactful.segments.release import Releaser
from tactful.segments.rules import matches
from tactful.segments.store import StoredEvent, tracked_by
from tactful.storage.sqlite.behavior import SqliteBehaviorStore
from tactful.timestamps import to_us
from tactful.v1 import common_pb2
from tests.conftest import T0, Tactful, email, eventually, timestamp

DOCUMENT: dict[str, Any] = tomllib.loads(EXAMPLE_CONTRACT.read_text())
KINDS = {"orders_30d": "count", "plan": "last_value", "first_seen": "first_seen"}
NOW = datetime(2026, 11, 27, tzinfo=UTC)


def problems_with_rule(rule: Any) -> list[str]:
    document = copy.deepcopy(DOCUMENT)
    document["segments"]["active_customer"]["rule"] = rule
    with pytest.raises(ContractError) as caught:
        parse_contract(document)
    return list(caught.value.problems)


BAD_RULES = {
    "undeclared signal": ({"signal": "vip", "op": "==", "value": 1}, "rule.signal"),
    "unknown op": ({"signal": "orders_30d", "op": "~", "value": 1}, "rule.op"),
    "in without a list": ({"signal": "plan", "op": "in", "value": "pro"}, "rule.value"),
    "number op on text": ({"signal": "plan", "op": ">", "value": "pro"}, "rule.value"),
    "age op on a count": ({"signal": "orders_30d", "op": "within", "value": "1d"}, "rule.value"),
    "equality on a time": ({"signal": "first_seen", "op": "==", "value": 1}, "rule.value"),
    "empty all": ({"all": []}, "rule.all"),
    "two shapes at once": ({"all": [], "not": {}}, "rule"),
    "nested bad": (
        {"any": [{"not": {"signal": "nope", "op": "exists"}}]},
        "rule.any[0].not.signal",
    ),
}


@pytest.mark.parametrize(("rule", "place"), BAD_RULES.values(), ids=BAD_RULES)
def test_bad_rules_are_located(rule: Any, place: str) -> None:
    problems = problems_with_rule(rule)
    assert [p.split(":")[0] for p in problems] == [f"segments.active_customer.{place}"]


def test_a_segment_needs_a_rule_unless_built_in() -> None:
    document = copy.deepcopy(DOCUMENT)
    del document["segments"]["active_customer"]["rule"]
    with pytest.raises(ContractError) as caught:
        parse_contract(document)
    assert caught.value.problems[0].startswith("segments.active_customer.rule: is required")


def test_rules_nest_only_so_deep() -> None:
    rule: Any = {"signal": "orders_30d", "op": "exists"}
    for _ in range(10):
        rule = {"not": rule}
    assert any("nest at most" in p for p in problems_with_rule(rule))


rules = st.recursive(
    st.dictionaries(
        st.sampled_from(["signal", "op", "value", "extra"]),
        st.one_of(
            st.sampled_from(
                [*KINDS, "x", "==", "in", "within", "older_than", ">=", "exists", "24h"]
            ),
            st.integers(),
            st.booleans(),
            st.none(),
            st.lists(st.text(max_size=3), max_size=3),
        ),
    ),
    lambda inner: st.one_of(
        st.builds(lambda r: {"not": r}, inner),
        st.builds(lambda rs: {"all": rs}, st.lists(inner, max_size=3)),
        st.builds(lambda rs: {"any": rs}, st.lists(inner, max_size=3)),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(raw=rules)
def test_random_rules_parse_or_explain_never_crash(raw: Any) -> None:
    problems: list[str] = []
    rule = parse_rule(raw, "rule", KINDS, problems)
    assert (rule is None) == bool(problems)
    if rule is not None:
        matches(rule, {"orders_30d": 1, "plan": "pro", "first_seen": NOW}, now=NOW)


@pytest.mark.parametrize(
    ("rule", "values", "expected"),
    [
        (Compare("orders_30d", ">=", 1), {"orders_30d": 1}, True),
        (Compare("orders_30d", ">=", 1), {"orders_30d": 0}, False),
        (Compare("orders_30d", ">=", 1), {}, False),  # no value: false
        (Not(Compare("orders_30d", ">=", 1)), {}, True),
        (Compare("plan", "in", ("pro", "enterprise")), {"plan": "pro"}, True),
        (Compare("plan", "not_in", ("pro",)), {"plan": "trial"}, True),
        (Compare("plan", "!=", "pro"), {"plan": "pro"}, False),
        (Compare("plan", "exists", None), {"plan": "free"}, True),
        (Compare("plan", "<", 3), {"plan": "free"}, False),  # text never orders
        (
            Compare("first_seen", "older_than", timedelta(hours=24)),
            {"first_seen": NOW - timedelta(hours=24, seconds=1)},
            True,
        ),
        (
            Compare("first_seen", "within", timedelta(hours=24)),
            {"first_seen": NOW - timedelta(hours=24)},
            True,
        ),
        (
            AllOf((Compare("plan", "==", "pro"), Compare("orders_30d", ">", 0))),
            {"plan": "pro", "orders_30d": 0},
            False,
        ),
        (
            AnyOf((Compare("plan", "==", "pro"), Compare("orders_30d", ">", 0))),
            {"plan": "free", "orders_30d": 2},
            True,
        ),
    ],
)
def test_evaluation(rule: Any, values: dict[str, Any], expected: bool) -> None:
    assert matches(rule, values, now=NOW) is expected


def event(
    person: common_pb2.SubjectRef, kind: str, at: datetime = T0, **attributes: Any
) -> common_pb2.Event:
    def value(v: Any) -> common_pb2.AttributeValue:
        if isinstance(v, bool):
            return common_pb2.AttributeValue(bool_value=v)
        if isinstance(v, float):
            return common_pb2.AttributeValue(double_value=v)
        return common_pb2.AttributeValue(string_value=v)

    return common_pb2.Event(
        subject=person,
        type=kind,
        occurred_at=timestamp(at),
        attributes={k: value(v) for k, v in attributes.items()},
    )


FRONTEND = "web_frontend"


def test_the_segments_of_the_example_contract_over_grpc(tactful: Tactful) -> None:
    admin, trial, buyer = (email(f"{n}@example.com") for n in ("admin", "trial", "buyer"))
    tactful.record(
        "account_retention",
        event(admin, "subscription_changed", plan="enterprise", canceled=False),
        event(admin, "login_succeeded", account_role="admin"),
        event(trial, "subscription_changed", plan="trial", canceled=False),
        principal=FRONTEND,
    )
    tactful.record(
        "checkout_recovery",
        event(buyer, "order_completed", value=42.0),
        principal="checkout_service",
    )
    in_retention = lambda who: tactful.segments(who, "account_retention", FRONTEND)  # noqa: E731
    assert in_retention(admin) == ["enterprise_admin", "premium_account"]
    assert in_retention(trial) == []  # a trial, but not back yet
    assert tactful.segments(buyer, "checkout_recovery", "checkout_service") == ["active_customer"]
    assert in_retention(buyer) == []  # purchases are not collected for retention

    tactful.clock.advance(timedelta(days=2))
    assert in_retention(trial) == ["returning_trial", "returning_visitor"]
    tactful.record(
        "account_retention",
        event(trial, "subscription_changed", tactful.clock.now, plan="trial", canceled=True),
        principal=FRONTEND,
    )
    assert in_retention(trial) == ["high_risk_churn", "returning_trial", "returning_visitor"]


def test_a_rule_segment_with_too_few_members_is_not_released(
    start_tactful: Callable[..., Tactful],
) -> None:
    tactful = start_tactful(min_segment_size=2)
    first, second = email("one@example.com"), email("two@example.com")
    tactful.record(
        "checkout_recovery",
        event(first, "order_completed", value=1.0),
        principal="checkout_service",
    )
    assert tactful.segments(first, "checkout_recovery", "checkout_service") == []
    tactful.record(
        "checkout_recovery",
        event(second, "order_completed", value=1.0),
        principal="checkout_service",
    )
    tactful.clock.advance(timedelta(seconds=61))  # recounted on the census thread
    eventually(
        lambda: (
            tactful.segments(first, "checkout_recovery", "checkout_service") == ["active_customer"]
        )
    )


def test_a_rule_purpose_reads_all_its_signals_in_one_store_read(tmp_path: Path) -> None:
    """GetSegments for account_retention evaluates four rule segments over six signals:
    the store is asked once for all counts and latest values, not once per signal."""
    contract = load_contract(EXAMPLE_CONTRACT)
    store = SqliteBehaviorStore(tmp_path / "behavior.db", tracked_by(contract))
    pseudonymizer = Pseudonymizer(KeySet("pseudonym", 1, {1: bytes(range(32))}))
    ada = pseudonymizer.resolve("email", "ada@example.com")[0]
    at = to_us(T0)
    store.append(
        [
            StoredEvent(ada, "account_retention", "login_succeeded", at - 10, {}),
            StoredEvent(
                ada,
                "account_retention",
                "subscription_changed",
                at,
                {"plan": "pro", "canceled": True},
            ),
        ],
        received_at_us=at,
    )
    reads: list[int] = []
    real = store.signal_values

    def counting(*args: Any) -> list[Any]:
        values = real(*args)
        reads.append(len(args[2]))
        return values

    store.signal_values = counting  # type: ignore[method-assign]
    releaser = Releaser(
        contract,
        pseudonymizer,
        store,
        ConsentRecorder(
            contract,
            pseudonymizer,
            store,
            Tombstones(KeySet("suppression", 1, {1: bytes(range(1, 33))})),
        ),
    )
    web = Actor("web_frontend", frozenset({"frontend"}), frozenset({"account_retention"}))
    released = releaser.segments(
        web, SubjectInput("email", "ada@example.com"), "account_retention", now=T0
    )
    assert "high_risk_churn" in released.values  # canceled
    assert len(reads) == 1 and reads[0] >= 4, reads
    store.close()
