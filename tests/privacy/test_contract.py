"""Data contracts: the example loads, every kind of mistake is located, nothing else escapes.

Broken contracts are the example with one thing changed, so each case shows that the
one change, and only it, is reported at its place in the file.
"""

from __future__ import annotations

import copy
import doctest
import re
import tomllib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tactful.privacy.contract
from tactful.privacy.contract import (
    AttributeType,
    Contract,
    LegalBasis,
    SignalKind,
    SignalSpec,
    UndeclaredAttributes,
    check_principals,
    load_contract,
    parse_contract,
    parse_duration,
)
from tactful.privacy.errors import ContractError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "contract.toml"
EXAMPLE_DOCUMENT: dict[str, Any] = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


def problems_of(document: dict[str, Any]) -> tuple[str, ...]:
    with pytest.raises(ContractError) as caught:
        parse_contract(document, source="broken.toml")
    assert caught.value.path == "broken.toml"
    assert caught.value.problems, "a ContractError must say what is wrong"
    return caught.value.problems


def places(problems: tuple[str, ...]) -> list[str]:
    return [problem.split(": ", 1)[0] for problem in problems]


# --- the example ---------------------------------------------------------------------------


def test_example_contract_loads() -> None:
    contract = load_contract(EXAMPLE)
    assert contract.path == str(EXAMPLE)
    assert sorted(contract.purposes) == [
        "account_retention",
        "agent_assist",
        "analytics",
        "checkout_recovery",
        "multilingual_support",
        "onboarding",
        "support_triage",
    ]
    assert len(contract.events) == 19
    assert {"plan_selected", "doc_opened", "ticket_created", "chat_intent_detected"} <= set(
        contract.events
    )
    assert set(contract.segments) == {
        "new_visitor",
        "returning_visitor",
        "returning_trial",
        "active_customer",
        "premium_account",
        "high_risk_churn",
        "enterprise_admin",
    }
    assert contract.segments["new_visitor"].rule is None  # built in
    assert contract.signals["pages_viewed_24h"] == SignalSpec(
        "pages_viewed_24h",
        "Pages viewed in the last 24 hours.",
        SignalKind.COUNT,
        "page_viewed",
        window=timedelta(hours=24),
    )
    assert contract.signals["preferred_language"].attribute == "language"
    assert contract.purposes["account_retention"].releases_signals == frozenset()


def test_example_contract_values() -> None:
    contract = load_contract(EXAMPLE)
    onboarding = contract.purposes["onboarding"]
    assert onboarding.legal_basis is LegalBasis.CONSENT
    assert onboarding.collects == {
        "page_viewed",
        "plan_selected",
        "signup_started",
        "signup_completed",
        "doc_opened",
    }
    assert onboarding.releases_segments == {"new_visitor", "returning_visitor"}
    assert onboarding.principals == {"web_frontend"}
    assert onboarding.retention == timedelta(hours=24)
    assert onboarding.undeclared_attributes is UndeclaredAttributes.DROP
    assert contract.purposes["multilingual_support"].retention == timedelta(days=180)
    assert contract.purposes["checkout_recovery"].legal_basis is LegalBasis.CONTRACT
    path = contract.events["page_viewed"].attributes["path"]
    assert (path.type, path.max_length) == (AttributeType.STRING, 512)
    plan = contract.events["signup_started"].attributes["plan"]
    assert plan.type is AttributeType.ENUM
    assert plan.values == {"free", "trial", "pro", "enterprise"}
    assert contract.events["order_completed"].attributes.keys() == {"value"}


def test_undeclared_attributes_defaults_to_reject() -> None:
    document = copy.deepcopy(EXAMPLE_DOCUMENT)
    del document["purposes"]["onboarding"]["undeclared_attributes"]
    contract = parse_contract(document)
    assert contract.purposes["onboarding"].undeclared_attributes is UndeclaredAttributes.REJECT


def test_parse_contract_does_not_change_its_input() -> None:
    document = copy.deepcopy(EXAMPLE_DOCUMENT)
    parse_contract(document)
    assert document == EXAMPLE_DOCUMENT


# --- one mistake, one located problem ------------------------------------------------------


def changed(edit: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    document = copy.deepcopy(EXAMPLE_DOCUMENT)
    edit(document)
    return document


def purpose(name: str, **values: Any) -> Callable[[dict[str, Any]], object]:
    return lambda d: d["purposes"][name].update(values)


def attribute(event: str, name: str, **values: Any) -> Callable[[dict[str, Any]], object]:
    return lambda d: d["events"][event]["attributes"].__setitem__(name, values)


def without(*keys: str) -> Callable[[dict[str, Any]], object]:
    def edit(document: dict[str, Any]) -> None:
        *parents, last = keys
        for key in parents:
            document = document[key]
        del document[last]

    return edit


def add(section: str, name: str, value: Any) -> Callable[[dict[str, Any]], object]:
    return lambda d: d.setdefault(section, {}).__setitem__(name, value)


PAGE_EVENT = {"description": "A page.", "attributes": {}}
ONE_PROBLEM = {
    # collects / releases must name declared things; the index points at the culprit
    "undeclared event appended": (
        lambda d: d["purposes"]["onboarding"]["collects"].append("mouse_moved"),
        "purposes.onboarding.collects[5]",
        "mouse_moved",
    ),
    "undeclared event in the middle": (
        lambda d: d["purposes"]["support_triage"]["collects"].__setitem__(1, "error_seen"),
        "purposes.support_triage.collects[1]",
        "error_seen",
    ),
    "undefined segment released": (
        purpose("onboarding", releases_segments=["new_visitor", "high_value"]),
        "purposes.onboarding.releases_segments[1]",
        "high_value",
    ),
    "undefined signal released": (
        purpose("account_retention", releases_signals=["churn_risk"]),
        "purposes.account_retention.releases_signals[0]",
        "churn_risk",
    ),
    "collects not a list": (
        purpose("onboarding", collects="page_viewed"),
        "purposes.onboarding.collects",
        "list of names",
    ),
    "collects with a number": (
        purpose("onboarding", collects=["page_viewed", 7]),
        "purposes.onboarding.collects",
        "list of names",
    ),
    # retention
    "retention in words": (
        purpose("analytics", retention="3 weeks"),
        "purposes.analytics.retention",
        "3 weeks",
    ),
    "retention of zero": (
        purpose("analytics", retention="0d"),
        "purposes.analytics.retention",
        "'0d'",
    ),
    "retention empty": (purpose("analytics", retention=""), "purposes.analytics.retention", "''"),
    "retention without unit": (
        purpose("analytics", retention="30"),
        "purposes.analytics.retention",
        "30d",
    ),
    "retention negative": (
        purpose("analytics", retention="-1d"),
        "purposes.analytics.retention",
        "-1d",
    ),
    "retention fractional": (
        purpose("analytics", retention="1.5h"),
        "purposes.analytics.retention",
        "1.5h",
    ),
    "retention upper-case unit": (
        purpose("analytics", retention="30D"),
        "purposes.analytics.retention",
        "30D",
    ),
    "retention in weeks": (
        purpose("analytics", retention="2w"),
        "purposes.analytics.retention",
        "2w",
    ),
    "retention as a number": (
        purpose("analytics", retention=30),
        "purposes.analytics.retention",
        "30",
    ),
    "retention missing": (
        without("purposes", "analytics", "retention"),
        "purposes.analytics.retention",
        "duration",
    ),
    # legal basis and undeclared attributes
    "unknown legal basis": (
        purpose("onboarding", legal_basis="vital_interest"),
        "purposes.onboarding.legal_basis",
        "consent, contract, legitimate_interest, legal_obligation",
    ),
    "legal basis in capitals": (
        purpose("onboarding", legal_basis="Consent"),
        "purposes.onboarding.legal_basis",
        "'Consent'",
    ),
    "legal basis missing": (
        without("purposes", "onboarding", "legal_basis"),
        "purposes.onboarding.legal_basis",
        "None",
    ),
    "unknown undeclared_attributes": (
        purpose("analytics", undeclared_attributes="keep"),
        "purposes.analytics.undeclared_attributes",
        "reject, drop",
    ),
    "principals not a list": (
        purpose("onboarding", principals="web_frontend"),
        "purposes.onboarding.principals",
        "list",
    ),
    # descriptions
    "purpose description missing": (
        without("purposes", "analytics", "description"),
        "purposes.analytics.description",
        "non-empty",
    ),
    "event description blank": (
        lambda d: d["events"]["login_succeeded"].update(description="   "),
        "events.login_succeeded.description",
        "non-empty",
    ),
    "segment description missing": (
        lambda d: d["segments"].__setitem__("new_visitor", {}),
        "segments.new_visitor.description",
        "non-empty",
    ),
    # attributes
    "string without max_length": (
        without("events", "page_viewed", "attributes", "path", "max_length"),
        "events.page_viewed.attributes.path.max_length",
        "positive max_length",
    ),
    "string with zero max_length": (
        attribute("form_abandoned", "form", type="string", max_length=0),
        "events.form_abandoned.attributes.form.max_length",
        "positive",
    ),
    "string with max_length as text": (
        attribute("form_abandoned", "form", type="string", max_length="64"),
        "events.form_abandoned.attributes.form.max_length",
        "positive",
    ),
    "string with max_length true": (
        attribute("form_abandoned", "form", type="string", max_length=True),
        "events.form_abandoned.attributes.form.max_length",
        "positive",
    ),
    "enum without values": (
        without("events", "signup_started", "attributes", "plan", "values"),
        "events.signup_started.attributes.plan.values",
        "non-empty list",
    ),
    "enum with empty values": (
        attribute("signup_started", "plan", type="enum", values=[]),
        "events.signup_started.attributes.plan.values",
        "non-empty list",
    ),
    "enum with numbers": (
        attribute("signup_started", "plan", type="enum", values=[1, 2]),
        "events.signup_started.attributes.plan.values",
        "text values",
    ),
    "unknown attribute type": (
        attribute("page_viewed", "path", type="blob", max_length=512),
        "events.page_viewed.attributes.path.type",
        "'blob' is not one of string, int",
    ),
    "attribute not a table": (
        lambda d: d["events"]["page_viewed"]["attributes"].__setitem__("path", "string"),
        "events.page_viewed.attributes.path",
        "must be a table",
    ),
    "attributes not a table": (
        lambda d: d["events"]["page_viewed"].__setitem__("attributes", ["path"]),
        "events.page_viewed.attributes",
        "must be a table",
    ),
    # names
    "event name in CamelCase": (
        add("events", "PageViewed", PAGE_EVENT),
        "events.PageViewed",
        "lower_snake_case",
    ),
    "purpose name with a hyphen": (
        add("purposes", "check-out", EXAMPLE_DOCUMENT["purposes"]["analytics"]),
        "purposes.check-out",
        "lower_snake_case",
    ),
    "segment name starting with a digit": (
        add("segments", "9lives", {"description": "Nine."}),
        "segments.9lives",
        "lower_snake_case",
    ),
    "name of 65 characters": (add("events", "e" * 65, PAGE_EVENT), "events." + "e" * 65, "64"),
    "empty name": (add("signals", "", {"description": "Nothing."}), "signals.", "lower_snake_case"),
    "attribute name with a capital": (
        attribute("page_viewed", "Path", type="string", max_length=10),
        "events.page_viewed.attributes.Path",
        "lower_snake_case",
    ),
    "name with a trailing newline": (
        add("segments", "vip\n", {"description": "Very important."}),
        "segments.vip\n",
        "lower_snake_case",
    ),
    "event that is not a table": (
        add("events", "clicked", "a click"),
        "events.clicked",
        "must be a table",
    ),
    # version
    "version missing": (without("version"), "version", "version = 1"),
    "version 2": (lambda d: d.update(version=2), "version", "must be 1"),
    "version as text": (lambda d: d.update(version="1"), "version", "must be 1"),
    "version true": (lambda d: d.update(version=True), "version", "must be 1"),
    # purposes
    "no purposes": (lambda d: d.update(purposes={}), "purposes", "no purpose declared"),
    "purposes not a table": (
        lambda d: d.update(purposes=["onboarding"]),
        "purposes",
        "must be a table",
    ),
}


@pytest.mark.parametrize(("edit", "place", "mentions"), ONE_PROBLEM.values(), ids=ONE_PROBLEM)
def test_one_mistake_gives_one_located_problem(
    edit: Callable[[dict[str, Any]], object], place: str, mentions: str
) -> None:
    problems = problems_of(changed(edit))
    assert set(places(problems)) == {place}, problems
    assert any(mentions in problem for problem in problems), problems


def test_every_problem_is_reported_at_once() -> None:
    def three_mistakes(document: dict[str, Any]) -> None:
        document["purposes"]["onboarding"]["collects"].append("mouse_moved")
        document["purposes"]["analytics"]["retention"] = "3 weeks"
        del document["events"]["page_viewed"]["attributes"]["path"]["max_length"]

    problems = problems_of(changed(three_mistakes))
    assert sorted(places(problems)) == [
        "events.page_viewed.attributes.path.max_length",
        "purposes.analytics.retention",
        "purposes.onboarding.collects[5]",
    ]


def test_removing_an_event_flags_every_purpose_and_signal_that_uses_it() -> None:
    problems = problems_of(changed(without("events", "page_viewed")))
    assert sorted(places(problems)) == [
        "purposes.agent_assist.collects[0]",
        "purposes.analytics.collects[0]",
        "purposes.onboarding.collects[0]",
        "purposes.support_triage.collects[0]",
        "signals.pages_viewed_24h.event",
    ]
    assert any("declare [events.page_viewed] or remove it" in p for p in problems)


SIGNAL_PROBLEMS = {
    "count without window": (
        without("signals", "pages_viewed_24h", "window"),
        "signals.pages_viewed_24h.window",
        "needs a window",
    ),
    "count with a bad window": (
        lambda d: d["signals"]["pages_viewed_24h"].update(window="a day"),
        "signals.pages_viewed_24h.window",
        "not a duration",
    ),
    "unknown kind": (
        lambda d: d["signals"]["pages_viewed_24h"].update(kind="median"),
        "signals.pages_viewed_24h.kind",
        "not one of count, last_value",
    ),
    "undeclared event": (
        lambda d: d["signals"]["signup_plan"].update(event="plan_picked"),
        "signals.signup_plan.event",
        "not declared",
    ),
    "missing attribute": (
        lambda d: d["signals"]["signup_plan"].update(attribute="coupon"),
        "signals.signup_plan.attribute",
        "not declared on event signup_started",
    ),
    "intent without window": (
        without("signals", "intent", "window"),
        "signals.intent.window",
        "a intent needs a window",
    ),
    "error codes with a bad window": (
        lambda d: d["signals"]["last_error_codes"].update(window="0h"),
        "signals.last_error_codes.window",
        "not a duration",
    ),
    "a rule over a journey signal": (
        lambda d: d["segments"]["active_customer"].update(
            rule={"signal": "intent", "op": "==", "value": "purchasing"}
        ),
        "segments.active_customer.rule.signal",
        "intent",
    ),
}


def test_journey_signals_load_with_their_window_and_no_event() -> None:
    signals = load_contract(EXAMPLE).signals
    assert signals["intent"] == SignalSpec(
        "intent", signals["intent"].description, SignalKind.INTENT, "", window=timedelta(hours=2)
    )
    assert signals["last_error_codes"].kind is SignalKind.ERROR_CODES


@pytest.mark.parametrize(
    ("edit", "place", "mentions"), SIGNAL_PROBLEMS.values(), ids=SIGNAL_PROBLEMS
)
def test_signal_problems_are_located(
    edit: Callable[[dict[str, Any]], object], place: str, mentions: str
) -> None:
    problems = problems_of(changed(edit))
    assert places(problems) == [place], problems
    assert mentions in problems[0]


def test_principals_must_be_configured() -> None:
    contract = load_contract(EXAMPLE)
    everyone = {name for p in contract.purposes.values() for name in p.principals}
    assert check_principals(contract, everyone) == []
    problems = check_principals(contract, everyone - {"agent_console"})
    assert problems == [
        "purposes.agent_assist.principals: principal 'agent_console' is not configured; "
        "add a [[principals]] entry named 'agent_console' or remove it from the purpose"
    ]


def test_values_on_a_non_enum_attribute_never_crash() -> None:
    # TOML allows `values = [{ a = 1 }]`; the checker must report it, not raise TypeError.
    document = changed(attribute("cart_updated", "item_count", type="int", values=[{"a": 1}]))
    parse_or_contract_error(document)


def test_empty_document() -> None:
    assert sorted(places(problems_of({}))) == ["purposes", "version"]


# --- load_contract: files and TOML errors --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("version = 1\n[purposes.x\ndescription = 'a'\n", 2),
        ("version =\n", 1),
        ("version = 1\nversion = 1\n", 2),
        ('version = 1\n\n\n[events.a]\ndescription = "unterminated\n', 5),
        ("version = 1\n[purposes.a]\n[purposes.a]\n", 3),
    ],
)
def test_invalid_toml_is_located(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "contract.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ContractError) as caught:
        load_contract(path)
    (problem,) = caught.value.problems
    assert problem.startswith("not valid TOML: ")
    assert f"line {line}" in problem
    assert str(caught.value).startswith(f"{path}: not valid TOML")


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "contract.toml"
    path.write_bytes(b"version = 1\ndescription = '\xff\xfe'\n")
    with pytest.raises(ContractError, match="not valid TOML"):
        load_contract(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="cannot read") as caught:
        load_contract(tmp_path / "absent.toml")
    assert caught.value.path == str(tmp_path / "absent.toml")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="cannot read"):
        load_contract(tmp_path)


def test_load_contract_reports_problems_with_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "contract.toml"
    path.write_text(
        EXAMPLE.read_text(encoding="utf-8").replace('retention = "24h"', 'retention = "a day"'),
        encoding="utf-8",
    )
    with pytest.raises(ContractError) as caught:
        load_contract(path)
    assert caught.value.path == str(path)
    assert places(caught.value.problems) == ["purposes.onboarding.retention"]


# --- parse_duration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("15m", timedelta(minutes=15)),
        ("45s", timedelta(seconds=45)),
        ("1s", timedelta(seconds=1)),
        ("24h", timedelta(days=1)),
        ("180d", timedelta(days=180)),
        ("007d", timedelta(days=7)),
        ("90m", timedelta(hours=1, minutes=30)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0d",
        "0s",
        "00h",
        "3 weeks",
        "30",
        "d",
        "-1d",
        "+1d",
        "1.5h",
        "30D",
        "1w",
        "1y",
        " 30d",
        "30d ",
        "30 d",
        "30d\n",
        "1d12h",
        "P30D",
    ],
)
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize("value", [30, None, 1.5, ["30d"], True])
def test_parse_duration_refuses_non_text(value: Any) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(value)


@given(amount=st.integers(1, 10**6), unit=st.sampled_from("smhd"))
def test_parse_duration_round_trip(amount: int, unit: str) -> None:
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    assert parse_duration(f"{amount}{unit}").total_seconds() == amount * seconds


def test_contract_doctests() -> None:
    result = doctest.testmod(tactful.privacy.contract)
    assert result.attempted > 0 and result.failed == 0


# --- properties: nothing but ContractError ever escapes ------------------------------------

WORDS = [
    "version", "events", "segments", "signals", "purposes", "description", "attributes",
    "type", "max_length", "values", "legal_basis", "collects", "releases_segments",
    "releases_signals", "principals", "retention", "undeclared_attributes",
    "page_viewed", "onboarding", "new_visitor", "path", "plan", "a", "x_1",
]  # fmt: skip
VALUES = [
    "string", "int", "float", "bool", "enum", "timestamp", "consent", "contract",
    "legitimate_interest", "legal_obligation", "reject", "drop", "30d", "12h", "0d", "",
    "page_viewed", "new_visitor", "onboarding",
]  # fmt: skip

keys = st.one_of(st.sampled_from(WORDS), st.text(max_size=6))
scalars = st.one_of(
    st.sampled_from(VALUES),
    st.text(max_size=8),
    st.integers(-3, 600),
    st.booleans(),
    st.floats(),
)
toml_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=25,
)
documents = st.dictionaries(keys, toml_values, max_size=6)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        children = node.items()
    elif isinstance(node, list):
        children = enumerate(node)
    else:
        return found
    for key, child in children:
        found.extend(paths(child, (*prefix, key)))
    return found


EXAMPLE_PATHS = paths(EXAMPLE_DOCUMENT)


@st.composite
def mutated_examples(draw: st.DrawFn) -> dict[str, Any]:
    """The example with a few values replaced by random ones, or removed."""
    document = copy.deepcopy(EXAMPLE_DOCUMENT)
    for _ in range(draw(st.integers(1, 3))):
        *parents, last = draw(st.sampled_from(EXAMPLE_PATHS))
        node: Any = document
        try:
            for key in parents:
                node = node[key]
            if isinstance(node, dict) and draw(st.booleans()):
                node.pop(last, None)
            else:
                node[last] = draw(toml_values)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation already replaced this part
    return document


def either(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the well-typed value, sometimes anything at all."""
    return st.one_of(strategy, strategy, toml_values)


def either_list(strategy: st.SearchStrategy[list[Any]]) -> st.SearchStrategy[Any]:
    """A list of the right items, a list of anything, or anything."""
    return st.one_of(strategy, strategy, st.lists(toml_values, min_size=1, max_size=3), toml_values)


names = st.one_of(st.sampled_from(["a", "b", "page_viewed", "new_visitor", "A", "a-b"]), keys)
name_lists = st.lists(names, max_size=3)


def table(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A table with each field well-typed, wrong, or (now and then) missing."""
    present = st.fixed_dictionaries({key: either(value) for key, value in fields.items()})
    missing = st.sets(st.sampled_from(sorted(fields)), max_size=2)
    return st.builds(
        lambda values, drop: {k: v for k, v in values.items() if k not in drop}, present, missing
    )


def tables_of(item: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(names, either(item), min_size=1, max_size=3)


attribute_specs = table(
    {
        "type": st.sampled_from([t.value for t in AttributeType]),
        "max_length": st.integers(-1, 600),
        "values": either_list(st.lists(st.sampled_from(["free", "pro"]), max_size=2)),
    }
)
event_specs = table({"description": st.text(max_size=5), "attributes": tables_of(attribute_specs)})
purpose_specs = table(
    {
        "description": st.text(max_size=5),
        "legal_basis": st.sampled_from([b.value for b in LegalBasis]),
        "collects": either_list(name_lists),
        "releases_segments": either_list(name_lists),
        "releases_signals": either_list(name_lists),
        "principals": either_list(st.lists(st.text(max_size=5), max_size=2)),
        "retention": st.from_regex(r"[0-9]{1,3}[smhdw]", fullmatch=True),
        "undeclared_attributes": st.sampled_from(["reject", "drop"]),
    }
)
described = tables_of(table({"description": st.text(max_size=5)}))
contract_shaped = table(
    {
        "version": st.just(1),
        "events": tables_of(event_specs),
        "segments": described,
        "signals": described,
        "purposes": tables_of(purpose_specs),
    }
)


def check_loaded(contract: Contract) -> None:
    """A contract that loads only refers to what it declares, by well-formed names."""
    assert contract.purposes
    declared = [*contract.events, *contract.segments, *contract.signals, *contract.purposes]
    for event in contract.events.values():
        declared.extend(event.attributes)
    assert all(re.fullmatch(r"[a-z][a-z0-9_]{0,63}", name) for name in declared), declared
    for item in contract.purposes.values():
        assert item.collects <= contract.events.keys()
        assert item.releases_segments <= contract.segments.keys()
        assert item.releases_signals <= contract.signals.keys()
        assert item.retention > timedelta(0)
    for event in contract.events.values():
        for spec in event.attributes.values():
            if spec.type is AttributeType.STRING:
                assert spec.max_length is not None and spec.max_length > 0
            if spec.type is AttributeType.ENUM:
                assert spec.values


def parse_or_contract_error(document: dict[str, Any]) -> None:
    try:
        contract = parse_contract(document)
    except ContractError as error:
        assert error.problems
        assert all(": " in problem for problem in error.problems)
    else:
        check_loaded(contract)


@given(documents)
def test_random_documents_load_or_raise_contract_error(document: dict[str, Any]) -> None:
    parse_or_contract_error(document)


@given(contract_shaped)
def test_contract_shaped_documents_load_or_raise_contract_error(document: dict[str, Any]) -> None:
    parse_or_contract_error(document)


@given(mutated_examples())
def test_mutated_example_loads_or_raises_contract_error(document: dict[str, Any]) -> None:
    parse_or_contract_error(document)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("contracts") / "contract.toml"


TOML_LINES = [
    "version = 1",
    "version = 2",
    "[events.page_viewed]",
    "[purposes.onboarding]",
    "[segments.new_visitor]",
    'description = "x"',
    'legal_basis = "consent"',
    'retention = "30d"',
    'collects = ["page_viewed"]',
    'attributes.path = { type = "string", max_length = 5 }',
    'attributes.plan = { type = "enum", values = [] }',
    "[[purposes]]",
    "a = [1, {b = 2}]",
    '"quoted key" = 1',
    "x = 1979-05-27T07:32:00Z",
]


@given(
    st.one_of(
        st.text(max_size=200),
        st.lists(st.sampled_from(TOML_LINES) | st.text(max_size=20), max_size=12).map("\n".join),
    )
)
def test_random_text_loads_or_raises_contract_error(scratch: Path, text: str) -> None:
    scratch.write_text(text, encoding="utf-8")
    try:
        contract = load_contract(scratch)
    except ContractError as error:
        assert error.problems and error.path == str(scratch)
    else:
        check_loaded(contract)


@given(st.binary(max_size=200))
def test_random_bytes_load_or_raise_contract_error(scratch: Path, data: bytes) -> None:
    scratch.write_bytes(data)
    try:
        check_loaded(load_contract(scratch))
    except ContractError as error:
        assert error.problems
