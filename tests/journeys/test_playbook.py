"""Playbooks: the example parses; every malformed key is refused, named by its place;
a playbook that reads what its purpose does not release is refused; the parser never
raises anything but PlaybookError."""

from __future__ import annotations

import contextlib
import copy
import tomllib
from collections.abc import Callable
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tactful.journeys.conditions import (
    AllOf,
    ConsentTest,
    InSegment,
    IntentField,
    IntentTest,
    Not,
    SignalTest,
    reads,
)
from tactful.journeys.errors import PlaybookError
from tactful.journeys.playbook import (
    DEFAULT_AMBIGUITY_MARGIN,
    DEFAULT_CONFIDENCE_THRESHOLD,
    DEFAULT_MODERATE_THRESHOLD,
    ActionKind,
    Cap,
    Ladder,
    Priority,
    Rung,
)
from tactful.journeys.playbook_file import load_playbook, parse_playbook
from tactful.privacy.contract import Contract, load_contract
from tactful.privacy.errors import ContractError

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "tactful" / "app" / "examples"
EXAMPLE = EXAMPLES / "playbooks" / "checkout_recovery.toml"
CONTRACT = load_contract(EXAMPLES / "contract.toml")
DOCUMENT: dict[str, Any] = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


def problems_of(document: dict[str, Any], contract: Contract = CONTRACT) -> str:
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(document, contract, source="book.toml")
    assert str(caught.value).startswith("book.toml: ")  # names the file
    return str(caught.value)


# -- the example ---------------------------------------------------------------------


def test_the_example_playbook_loads_against_the_example_contract() -> None:
    book = load_playbook(EXAMPLE, CONTRACT)
    assert (book.journey, book.purpose, book.version) == ("checkout_recovery",) * 2 + (1,)
    assert book.owner == "payments-team@example.com"
    assert book.source == str(EXAMPLE)
    assert book.ladder == Ladder(0.5, 0.1, 0.8)
    assert list(book.actions) == [
        "retry_payment",
        "change_method",
        "retry_or_change",
        "cart_kept",
        "goodwill_credit",
        "talk_to_billing",
    ]
    kinds = {a.id: a.kind for a in book.actions.values()}
    assert kinds["talk_to_billing"] is ActionKind.HANDOFF
    assert kinds["goodwill_credit"] is ActionKind.COMPENSATE
    retry = book.actions["retry_payment"]
    assert retry.template == "checkout.retry_payment.v1"
    assert retry.explanation == "payment_failed"
    assert isinstance(retry.eligibility, Not)
    assert isinstance(retry.applicability, AllOf)
    assert retry.suitability is None
    assert retry.constraints.frequency_cap == Cap(2, timedelta(hours=24))
    assert retry.constraints.cooldown == timedelta(minutes=10)
    assert retry.constraints.never_after_refusal is True
    assert retry.priority == Priority(1.0, 1.0, 1.2)
    credit = book.actions["goodwill_credit"].constraints
    assert credit.max_compensations == Cap(1, timedelta(days=30))
    assert credit.daily_compensation_budget == 500.0
    quiet = book.actions["cart_kept"].constraints.quiet_hours
    assert quiet is not None and (quiet.start, quiet.end) == (time(22), time(8))
    assert book.actions["goodwill_credit"].eligibility == InSegment("active_customer")
    assert [(c.action, c.rung) for c in book.cases] == [
        ("retry_payment", Rung.NONE),
        ("change_method", Rung.NONE),
        ("talk_to_billing", Rung.HUMAN),
        ("talk_to_billing", Rung.HUMAN),
    ]
    assert book.cases[0].events[1].type == "payment_failed"
    assert book.cases[0].events[1].attributes == {"error_code": "processing_error"}
    assert set(book.explanations) == {"payment_failed", "ask", "cart_kept", "goodwill", "human"}


def test_the_example_reads_only_what_its_purpose_releases() -> None:
    book = load_playbook(EXAMPLE, CONTRACT)
    purpose = CONTRACT.purposes["checkout_recovery"]
    for action in book.actions.values():
        assert action.reads().signals <= purpose.releases_signals
        assert action.reads().segments <= purpose.releases_segments


def test_defaults_the_docs_name() -> None:
    document = copy.deepcopy(DOCUMENT)
    del document["ladder"]
    action = document["actions"]["talk_to_billing"]
    book = parse_playbook(document, CONTRACT)
    assert book.ladder == Ladder(
        DEFAULT_CONFIDENCE_THRESHOLD, DEFAULT_AMBIGUITY_MARGIN, DEFAULT_MODERATE_THRESHOLD
    )
    assert (DEFAULT_CONFIDENCE_THRESHOLD, DEFAULT_AMBIGUITY_MARGIN) == (0.5, 0.1)
    assert DEFAULT_MODERATE_THRESHOLD == 0.8
    assert "priority" not in action and "constraints" not in action
    handoff = book.actions["talk_to_billing"]
    assert handoff.priority == Priority(1.0, 1.0, 1.0)
    assert handoff.constraints.never_after_refusal is False
    assert handoff.constraints.frequency_cap is None
    assert handoff.constraints.quiet_hours is None


def test_a_playbook_error_is_a_contract_error() -> None:
    assert issubclass(PlaybookError, ContractError)


def test_an_unreadable_or_malformed_file_is_refused_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(PlaybookError, match=r"missing\.toml: cannot read"):
        load_playbook(missing, CONTRACT)
    broken = tmp_path / "broken.toml"
    broken.write_text("journey = \n", encoding="utf-8")
    with pytest.raises(PlaybookError, match=r"broken\.toml: not valid TOML"):
        load_playbook(broken, CONTRACT)


# -- intent, segment and consent conditions (a purpose that releases the intent) -------

TRIAGE: dict[str, Any] = {
    "journey": "support_triage",
    "purpose": "support_triage",
    "owner": "support@example.com",
    "version": 3,
    "explanations": {"why": "We used {intent} and {signals} for {purpose}."},
    "actions": {
        "article": {
            "kind": "knowledge_base",
            "template": "support.article.v1",
            "explanation": "why",
            "applicability": {
                "all": [
                    {"intent": "label", "op": "in", "value": ["reporting_issue", "researching"]},
                    {"intent": "confidence", "op": ">=", "value": 0.7},
                    {"intent": "runner_up", "op": "!=", "value": "escalating"},
                    {"not": {"signal": "frustration", "op": "==", "value": "high"}},
                    {"segment": "returning_visitor"},
                    {"consent": True},
                ]
            },
        },
        "human": {"kind": "handoff", "template": "support.human.v1", "explanation": "why"},
    },
}


def test_intent_segment_and_consent_conditions_parse_into_a_tree() -> None:
    book = parse_playbook(TRIAGE, CONTRACT)
    condition = book.actions["article"].applicability
    assert isinstance(condition, AllOf)
    first, second, third, fourth, fifth, sixth = condition.conditions
    assert first == IntentTest(IntentField.LABEL, "in", ("reporting_issue", "researching"))
    assert second == IntentTest(IntentField.CONFIDENCE, ">=", 0.7)
    assert third == IntentTest(IntentField.RUNNER_UP, "!=", "escalating")
    assert isinstance(fourth, Not) and isinstance(fourth.condition, SignalTest)
    assert (fifth, sixth) == (InSegment("returning_visitor"), ConsentTest(True))
    read = reads(condition)
    assert (read.signals, read.segments, read.intent) == (
        frozenset({"frustration"}),
        frozenset({"returning_visitor"}),
        True,
    )


# -- the release-leak check -----------------------------------------------------------


def _with_condition(condition: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(DOCUMENT)
    document["actions"]["retry_payment"]["suitability"] = {
        "any": [{"signal": "cart_item_count", "op": ">=", "value": 1}, {"not": condition}]
    }
    return document


@pytest.mark.parametrize(
    ("condition", "named"),
    [
        ({"signal": "plan", "op": "==", "value": "pro"}, "reads signal 'plan'"),
        ({"signal": "first_seen", "op": "older_than", "value": "24h"}, "reads signal 'first_seen'"),
        ({"segment": "premium_account"}, "reads segment 'premium_account'"),
        ({"intent": "label", "op": "==", "value": "purchasing"}, "reads the intent"),
        ({"intent": "confidence", "op": "<", "value": 0.5}, "reads the intent"),
    ],
)
def test_a_condition_on_what_the_purpose_does_not_release_is_refused(
    condition: dict[str, Any], named: str
) -> None:
    message = problems_of(_with_condition(condition))
    assert f"actions.retry_payment: {named}" in message
    assert "purpose 'checkout_recovery'" in message


def test_a_quiet_hours_locale_the_purpose_does_not_release_is_refused() -> None:
    document = copy.deepcopy(DOCUMENT)
    quiet = document["actions"]["cart_kept"]["constraints"]["quiet_hours"]
    quiet["locale_signal"] = "preferred_locale"
    message = problems_of(document)
    assert "actions.cart_kept: reads signal 'preferred_locale'" in message


def test_the_same_signal_released_is_accepted() -> None:
    document = _with_condition({"signal": "last_payment_error", "op": "exists"})
    assert parse_playbook(document, CONTRACT).actions["retry_payment"].suitability is not None


def test_every_leak_is_listed_at_once() -> None:
    document = _with_condition({"segment": "premium_account"})
    document["actions"]["change_method"]["eligibility"] = {
        "signal": "orders_30d",
        "op": ">=",
        "value": 1,
    }
    message = problems_of(document)
    assert "actions.retry_payment: reads segment 'premium_account'" in message
    assert "actions.change_method: reads signal 'orders_30d'" in message


# -- the refusal matrix: each mutation of the example, and the problem it must name ----

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def mutate(document: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        table: Any = document
        for key in parents:
            table = table[int(key)] if isinstance(table, list) else table[key]
        if isinstance(table, list):
            table[int(last)] = value
        else:
            table[last] = value

    return mutate


def _del(path: str) -> Mutation:
    def mutate(document: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        table: Any = document
        for key in parents:
            table = table[int(key)] if isinstance(table, list) else table[key]
        del table[last]

    return mutate


def _only_actions(*names: str) -> Mutation:
    def mutate(document: dict[str, Any]) -> None:
        document["actions"] = {n: a for n, a in document["actions"].items() if n in names}
        document["cases"] = []

    return mutate


def _duplicate_case(document: dict[str, Any]) -> None:
    document["cases"].append(copy.deepcopy(document["cases"][0]))


def _nested(depth: int) -> dict[str, Any]:
    condition: dict[str, Any] = {"consent": True}
    for _ in range(depth):
        condition = {"not": condition}
    return condition


R = "actions/retry_payment"
C = "cases/0"
REFUSALS: list[tuple[str, Mutation, str]] = [
    # the playbook's header
    ("unknown top key", _set("owners", "x"), "owners: unknown key; did you mean 'owner'?"),
    ("no journey", _del("journey"), "journey: is required, lower_snake_case"),
    ("journey not a name", _set("journey", "Checkout Recovery"), "journey: is required"),
    ("unknown purpose", _set("purpose", "checkout"), "purpose: 'checkout' is not a purpose"),
    ("no owner", _set("owner", " "), "owner: is required and must be non-empty text"),
    ("version zero", _set("version", 0), "version: the playbook's version, a positive integer"),
    ("version boolean", _set("version", True), "version: the playbook's version"),
    # the ladder
    ("ladder not a table", _set("ladder", 0.5), "ladder: must be a table"),
    ("ladder typo", _set("ladder/confidence", 0.5), "did you mean 'confidence_threshold'?"),
    ("threshold > 1", _set("ladder/confidence_threshold", 1.5), "ladder.confidence_threshold: a"),
    ("margin < 0", _set("ladder/ambiguity_margin", -0.1), "ladder.ambiguity_margin: a number"),
    ("margin text", _set("ladder/ambiguity_margin", "0.1"), "ladder.ambiguity_margin: a number"),
    (
        "moderate below confidence",
        _set("ladder/moderate_threshold", 0.4),
        "ladder.moderate_threshold: must be at least confidence_threshold (0.5)",
    ),
    # explanations
    (
        "a value placeholder",
        _set("explanations/ask", "You failed {payment_failures_24h} times."),
        "explanations.ask: placeholder {payment_failures_24h} is not a data category",
    ),
    (
        "an attribute placeholder",
        _set("explanations/ask", "For {purpose.description}."),
        "placeholder {purpose.description} is not a data category",
    ),
    ("a positional placeholder", _set("explanations/ask", "For {}."), "placeholder {} is not"),
    (
        "a conversion",
        _set("explanations/ask", "For {purpose!r}."),
        "explanations.ask: placeholder {purpose} takes no format or conversion",
    ),
    ("a lone brace", _set("explanations/ask", "For {purpose."), "explanations.ask: "),
    ("empty text", _set("explanations/ask", "  "), "explanations.ask: must be non-empty text"),
    ("not text", _set("explanations/ask", 3), "explanations.ask: must be text"),
    ("explanations not a table", _set("explanations", []), "explanations: must be a table"),
    # the catalogue
    ("actions not a table", _set("actions", "retry"), "actions: must be a table"),
    ("no action", _only_actions(), "actions: no action declared"),
    ("no handoff", _only_actions("retry_payment"), "declare an action of kind handoff"),
    ("action name", _set("actions/Retry", {}), "actions.Retry: names are lower_snake_case"),
    ("action not a table", _set("actions/retry_payment", "x"), "actions.retry_payment: must be a"),
    ("action typo", _set(f"{R}/kinds", "retry"), "retry_payment.kinds: unknown key; did you mean"),
    ("unknown kind", _set(f"{R}/kind", "retrying"), "retry_payment.kind: 'retrying' is not one of"),
    ("no kind", _del(f"{R}/kind"), "actions.retry_payment.kind: None is not one of clarify"),
    ("template", _set(f"{R}/template", "Retry Payment!"), "retry_payment.template: the approved"),
    ("no template", _del(f"{R}/template"), "actions.retry_payment.template: the approved"),
    ("explanation", _set(f"{R}/explanation", "nope"), "explanation: 'nope' is not declared"),
    # conditions
    (
        "a condition as code",
        _set(f"{R}/applicability", "payment_failures_24h >= 1"),
        "actions.retry_payment.applicability: a condition is one of",
    ),
    (
        "two leaves in one table",
        _set(f"{R}/applicability", {"segment": "active_customer", "consent": True}),
        "actions.retry_payment.applicability: a condition is one of",
    ),
    (
        "undeclared signal",
        _set(f"{R}/applicability", {"signal": "nope", "op": "exists"}),
        "actions.retry_payment.applicability.signal: 'nope' is not a declared signal",
    ),
    (
        "bad signal op",
        _set(f"{R}/eligibility", {"signal": "cart_item_count", "op": "=~", "value": 1}),
        "actions.retry_payment.eligibility.op: '=~' is not one of",
    ),
    (
        "signal value",
        _set(f"{R}/eligibility", {"signal": "cart_item_count", "op": ">", "value": "1"}),
        "actions.retry_payment.eligibility.value: > needs a number",
    ),
    (
        "undeclared segment",
        _set(f"{R}/eligibility", {"segment": "vip"}),
        "actions.retry_payment.eligibility.segment: 'vip' is not a declared segment",
    ),
    (
        "segment with an op",
        _set(f"{R}/eligibility", {"segment": "active_customer", "op": "=="}),
        "actions.retry_payment.eligibility: unknown keys ['op']",
    ),
    (
        "intent field",
        _set(f"{R}/eligibility", {"intent": "mood", "op": "==", "value": "x"}),
        "actions.retry_payment.eligibility.intent: 'mood' is not one of label",
    ),
    (
        "intent confidence above 1",
        _set(f"{R}/eligibility", {"intent": "confidence", "op": ">=", "value": 2}),
        "eligibility.value: a confidence is a number from 0 to 1",
    ),
    (
        "intent confidence op",
        _set(f"{R}/eligibility", {"intent": "runner_up_confidence", "op": "==", "value": 0.2}),
        "eligibility.op: '==' is not one of <, <=, >, >=",
    ),
    (
        "unknown intent label",
        _set(f"{R}/eligibility", {"intent": "label", "op": "==", "value": "shopping"}),
        "eligibility.value: an intent label, from",
    ),
    (
        "intent label list",
        _set(f"{R}/eligibility", {"intent": "runner_up", "op": "in", "value": []}),
        "eligibility.value: a non-empty list of intent labels",
    ),
    (
        "intent label op",
        _set(f"{R}/eligibility", {"intent": "label", "op": ">=", "value": "comparing"}),
        "eligibility.op: '>=' is not one of !=, ==, in, not_in",
    ),
    (
        "intent extra key",
        _set(f"{R}/eligibility", {"intent": "label", "op": "==", "value": "comparing", "x": 1}),
        "actions.retry_payment.eligibility: unknown keys ['x']",
    ),
    (
        "consent not a boolean",
        _set(f"{R}/eligibility", {"consent": "yes"}),
        "actions.retry_payment.eligibility.consent: true (the person granted",
    ),
    (
        "consent extra key",
        _set(f"{R}/eligibility", {"consent": True, "purpose": "x"}),
        "actions.retry_payment.eligibility: unknown keys ['purpose']",
    ),
    ("empty all", _set(f"{R}/eligibility", {"all": []}), "eligibility.all: a non-empty list"),
    ("any not a list", _set(f"{R}/eligibility", {"any": {}}), "eligibility.any: a non-empty list"),
    (
        "all beside another key",
        _set(f"{R}/eligibility", {"all": [{"consent": True}], "x": 1}),
        "actions.retry_payment.eligibility: unknown keys ['x']",
    ),
    (
        "not beside another key",
        _set(f"{R}/eligibility", {"not": {"consent": True}, "x": 1}),
        "actions.retry_payment.eligibility: unknown keys ['x']",
    ),
    (
        "a bad leaf inside",
        _set(f"{R}/eligibility", {"any": [{"consent": True}, {"segment": "vip"}]}),
        "actions.retry_payment.eligibility.any[1].segment: 'vip' is not a declared segment",
    ),
    ("nested too deep", _set(f"{R}/eligibility", _nested(12)), "conditions nest at most 8 deep"),
    # constraints
    ("constraints not a table", _set(f"{R}/constraints", 1), "retry_payment.constraints: must be"),
    (
        "constraint typo",
        _set(f"{R}/constraints/frequency", 1),
        "constraints.frequency: unknown key; did you mean 'frequency_cap'?",
    ),
    (
        "cap not a table",
        _set(f"{R}/constraints/frequency_cap", 2),
        "constraints.frequency_cap: a table",
    ),
    (
        "cap count",
        _set(f"{R}/constraints/frequency_cap/count", 0),
        "constraints.frequency_cap.count: a positive integer",
    ),
    (
        "cap window",
        _set(f"{R}/constraints/frequency_cap/window", "soon"),
        "constraints.frequency_cap.window: 'soon' is not a duration",
    ),
    (
        "cap typo",
        _set(f"{R}/constraints/frequency_cap/per", "person"),
        "constraints.frequency_cap.per: unknown key",
    ),
    (
        "zero cooldown",
        _set(f"{R}/constraints/cooldown", "0m"),
        "constraints.cooldown: '0m' is not a duration",
    ),
    (
        "never_after_refusal text",
        _set(f"{R}/constraints/never_after_refusal", "yes"),
        "constraints.never_after_refusal: true or false",
    ),
    (
        "compensations on a retry",
        _set(f"{R}/constraints/max_compensations", {"count": 1, "window": "30d"}),
        "retry_payment.constraints.max_compensations: only for an action of kind compensate",
    ),
    (
        "budget on a retry",
        _set(f"{R}/constraints/daily_compensation_budget", 10),
        "retry_payment.constraints.daily_compensation_budget: only for an action of kind",
    ),
    (
        "negative budget",
        _set("actions/goodwill_credit/constraints/daily_compensation_budget", -5),
        "goodwill_credit.constraints.daily_compensation_budget: a positive number",
    ),
    (
        "compensations count",
        _set("actions/goodwill_credit/constraints/max_compensations/count", 1.5),
        "goodwill_credit.constraints.max_compensations.count: a positive integer",
    ),
    (
        "quiet hours not a table",
        _set("actions/cart_kept/constraints/quiet_hours", "22-08"),
        "cart_kept.constraints.quiet_hours: a table",
    ),
    (
        "quiet hours start",
        _set("actions/cart_kept/constraints/quiet_hours/start", "25:00"),
        "cart_kept.constraints.quiet_hours.start: a time of day",
    ),
    (
        "quiet hours end missing",
        _del("actions/cart_kept/constraints/quiet_hours/end"),
        "cart_kept.constraints.quiet_hours.end: a time of day",
    ),
    (
        "quiet hours empty",
        _set("actions/cart_kept/constraints/quiet_hours/end", "22:00"),
        "cart_kept.constraints.quiet_hours: start and end are the same time",
    ),
    (
        "quiet hours locale",
        _set("actions/cart_kept/constraints/quiet_hours/locale_signal", "tz"),
        "quiet_hours.locale_signal: 'tz' is not a declared signal",
    ),
    (
        "quiet hours typo",
        _set("actions/cart_kept/constraints/quiet_hours/timezone", "UTC"),
        "quiet_hours.timezone: unknown key",
    ),
    # priority
    ("priority not a table", _set(f"{R}/priority", 2), "retry_payment.priority: must be a table"),
    (
        "negative value",
        _set(f"{R}/priority/value", -1),
        "actions.retry_payment.priority.value: a number, 0 or more",
    ),
    (
        "lever as text",
        _set(f"{R}/priority/levers", "high"),
        "actions.retry_payment.priority.levers: a number, 0 or more",
    ),
    ("infinite lever", _set(f"{R}/priority/levers", float("inf")), "priority.levers: a number"),
    ("nan value", _set(f"{R}/priority/value", float("nan")), "priority.value: a number"),
    ("nan threshold", _set("ladder/ambiguity_margin", float("nan")), "ladder.ambiguity_margin"),
    (
        "infinite budget",
        _set("actions/goodwill_credit/constraints/daily_compensation_budget", float("inf")),
        "goodwill_credit.constraints.daily_compensation_budget: a positive number",
    ),
    (
        "priority typo",
        _set(f"{R}/priority/weight", 2),
        "priority.weight: unknown key; did you mean",
    ),
    # cases
    ("cases not a list", _set("cases", {}), "cases: a list of [[cases]] tables"),
    ("case not a table", _set("cases/0", "x"), "cases[0]: must be a table"),
    ("case typo", _set(f"{C}/expected", {}), "cases[0].expected: unknown key; did you mean"),
    ("case name", _del(f"{C}/name"), "cases[0].name: is required and must be non-empty text"),
    ("case name twice", _duplicate_case, "cases[4].name: 'a first decline: retry' is the name of"),
    ("no events", _set(f"{C}/events", []), "cases[0].events: a non-empty list of events"),
    ("event not a table", _set(f"{C}/events/0", "x"), "cases[0].events[0]: must be a table"),
    (
        "unknown event",
        _set(f"{C}/events/0/type", "clicked"),
        "cases[0].events[0].type: 'clicked' is not an event of the contract",
    ),
    (
        "event not collected",
        _set(f"{C}/events/0/type", "login_failed"),
        "cases[0].events[0].type: purpose 'checkout_recovery' does not collect 'login_failed'",
    ),
    (
        "unknown attribute",
        _set(f"{C}/events/1/attributes/card_number", "4111"),
        "cases[0].events[1].attributes.card_number: not an attribute of event 'payment_failed'",
    ),
    (
        "attributes not a table",
        _set(f"{C}/events/1/attributes", "x"),
        "cases[0].events[1].attributes: must be a table",
    ),
    ("event typo", _set(f"{C}/events/0/at", "1h"), "cases[0].events[0].at: unknown key"),
    ("expect not a table", _set(f"{C}/expect", "retry"), "cases[0].expect: a table"),
    (
        "expected action",
        _set(f"{C}/expect/action", "refund"),
        "cases[0].expect.action: 'refund' is not an action of this playbook",
    ),
    ("expected rung", _set(f"{C}/expect/rung", "maybe"), "cases[0].expect.rung: 'maybe' is not"),
    (
        "rung and kind disagree",
        _set(f"{C}/expect/rung", "human"),
        "cases[0].expect: rung human answers with an action of kind handoff, "
        "and 'retry_payment' is of kind retry",
    ),
    (
        "clarify rung on a guide",
        _set("cases/1/expect/rung", "clarify"),
        "cases[1].expect: rung clarify answers with an action of kind clarify",
    ),
    ("expect typo", _set(f"{C}/expect/step", 3), "cases[0].expect.step: unknown key"),
]


@pytest.mark.parametrize(
    ("mutation", "fragment"), [(m, f) for _, m, f in REFUSALS], ids=[n for n, _, _ in REFUSALS]
)
def test_refusal(mutation: Mutation, fragment: str) -> None:
    document = copy.deepcopy(DOCUMENT)
    mutation(document)
    assert fragment in problems_of(document)


def test_every_refusal_is_one_the_example_does_not_have() -> None:
    parse_playbook(DOCUMENT, CONTRACT)  # the unmutated example loads: each refusal is its own
    assert len({n for n, _, _ in REFUSALS}) == len(REFUSALS)


def test_every_problem_is_listed_at_once() -> None:
    document = copy.deepcopy(DOCUMENT)
    for _, mutation, _ in REFUSALS[:8]:
        mutation(document)
    error = None
    try:
        parse_playbook(document, CONTRACT, source="book.toml")
    except PlaybookError as exc:
        error = exc
    assert error is not None and len(error.problems) >= 6
    assert error.path == "book.toml"


# -- fuzz: whatever the TOML, the parser answers a playbook or a PlaybookError ----------

_KEYS = st.sampled_from(
    [
        "journey",
        "purpose",
        "owner",
        "version",
        "ladder",
        "actions",
        "explanations",
        "cases",
        "kind",
        "template",
        "explanation",
        "eligibility",
        "applicability",
        "suitability",
        "constraints",
        "priority",
        "signal",
        "segment",
        "intent",
        "consent",
        "op",
        "value",
        "all",
        "any",
        "not",
        "frequency_cap",
        "quiet_hours",
        "start",
        "end",
        "locale_signal",
        "count",
        "window",
        "events",
        "expect",
        "action",
        "rung",
        "type",
        "attributes",
        "name",
        "retry_payment",
        "ask",
    ]
)
_SCALARS = (
    st.text(max_size=12)
    | st.sampled_from(["checkout_recovery", "retry", "handoff", "24h", "22:00", "{x}", "=="])
    | st.integers(-3, 5)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
)
_TOML = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(_KEYS | st.text(max_size=6), inner, max_size=5)
    ),
    max_leaves=30,
)


def _answers(document: dict[str, Any]) -> None:
    with contextlib.suppress(PlaybookError):
        parse_playbook(document, CONTRACT)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_KEYS, _TOML, max_size=8))
def test_arbitrary_toml_is_a_playbook_or_a_playbook_error(document: dict[str, Any]) -> None:
    _answers(document)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*prefix, index))
    return found


_EXAMPLE_PATHS = _paths(DOCUMENT)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_EXAMPLE_PATHS), _TOML)
def test_the_example_with_any_one_value_replaced_still_answers(
    path: tuple[Any, ...], value: Any
) -> None:
    document = copy.deepcopy(DOCUMENT)
    table: Any = document
    for key in path[:-1]:
        table = table[key]
    table[path[-1]] = value
    _answers(document)


def test_the_baseline_names_a_declared_action() -> None:
    assert parse_playbook(DOCUMENT, CONTRACT).baseline == "change_method"
    assert parse_playbook({**DOCUMENT, "baseline": "cart_kept"}, CONTRACT).baseline == "cart_kept"
    without = {k: v for k, v in DOCUMENT.items() if k != "baseline"}
    assert parse_playbook(without, CONTRACT).baseline is None
    problems = problems_of({**DOCUMENT, "baseline": "free_pony"})
    assert "baseline: 'free_pony' is not an action of this playbook" in problems
    assert "baseline: is required" in problems_of({**DOCUMENT, "baseline": 3})
