"""Journey states read by the contract's rules: today's model as the default, the
runner-up intent, uncertainty and urgency with time as a parameter, a deployer's own
page topics, and the journey signals that carry them."""

from __future__ import annotations

import copy
import doctest
from dataclasses import replace
from datetime import UTC, datetime, time

import pytest

import tactful.segments.states
from tactful.privacy.contract import SignalKind, parse_contract
from tactful.privacy.journey_states import (
    DEFAULT_STATES,
    IntentModel,
    JourneyStates,
    State,
    UncertaintyRule,
    UrgencyRule,
)
from tactful.segments.frustration import Frustration, Level, frustration_level
from tactful.segments.intent import PAGE_TOPICS, THRESHOLD, WEIGHTS, Intent, infer_intent
from tactful.segments.journey import journey_signal
from tactful.segments.states import read_states, uncertainty_level, urgency_level
from tactful.segments.store import JourneyEvent
from tactful.timestamps import to_us
from tests.privacy.test_contract import EXAMPLE_DOCUMENT

# The model as it was a Python constant, copied here as the golden default.
TODAYS_WEIGHTS = {
    "page:docs": {"researching": 1.0},
    "page:pricing": {"researching": 0.3, "comparing": 0.6, "purchasing": 0.5, "renewing": 0.2},
    "page:compare": {"comparing": 1.5},
    "page:checkout": {"purchasing": 1.5},
    "page:billing": {"renewing": 0.6, "canceling": 0.3, "reporting_issue": 0.2},
    "page:renew": {"renewing": 2.0},
    "page:cancel": {"canceling": 2.0},
    "page:help": {"reporting_issue": 0.9, "researching": 0.1, "escalating": 0.2},
    "page:contact": {"escalating": 1.5},
    "event:cart_updated": {"purchasing": 1.0},
    "event:checkout_started": {"purchasing": 1.5},
    "event:order_completed": {"purchasing": 1.0},
    "event:subscription_changed": {"renewing": 1.0},
    "event:subscription_canceled": {"canceling": 2.0},
    "event:error_shown": {"reporting_issue": 1.0, "escalating": 0.2},
    "event:payment_failed": {"reporting_issue": 0.6, "purchasing": 0.4, "escalating": 0.2},
    "event:login_failed": {"reporting_issue": 0.6, "escalating": 0.3},
    "event:form_abandoned": {"reporting_issue": 0.2, "escalating": 0.6},
    "event:support_ticket_opened": {"escalating": 1.5, "reporting_issue": 0.5},
}
TODAYS_TOPICS = {
    "/docs": "docs", "/guides": "docs", "/features": "docs", "/blog": "docs",
    "/pricing": "pricing", "/compare": "compare", "/vs": "compare", "/cart": "checkout",
    "/checkout": "checkout", "/billing": "billing", "/billing/renew": "renew",
    "/renew": "renew", "/cancel": "cancel", "/account/cancel": "cancel", "/help": "help",
    "/status": "help", "/support": "help", "/contact": "contact", "/help/contact": "contact",
}  # fmt: skip
NIGHT_UTC = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
DAY_UTC = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
MINUTE_US = 60_000_000


def page(path: str, at_us: int = 0) -> JourneyEvent:
    return JourneyEvent("page_viewed", at_us, {"path": path})


def ev(kind: str, at_us: int = 0) -> JourneyEvent:
    return JourneyEvent(kind, at_us, {})


def newest_first(*events: JourneyEvent) -> list[JourneyEvent]:
    """Events given oldest first, stamped a minute apart, as the store hands them over."""
    stamped = [replace(e, occurred_at_us=i * MINUTE_US) for i, e in enumerate(events)]
    return stamped[::-1]


# --- the defaults are today's model ----------------------------------------------------------


def test_the_defaults_equal_the_constants_they_replace() -> None:
    model = DEFAULT_STATES.intent
    assert model.threshold == THRESHOLD == 0.5
    assert dict(model.page_topics) == dict(PAGE_TOPICS) == TODAYS_TOPICS
    assert {f: dict(w) for f, w in model.weights.items()} == TODAYS_WEIGHTS
    assert {f: dict(w) for f, w in WEIGHTS.items()} == TODAYS_WEIGHTS
    high_at = DEFAULT_STATES.frustration.high_at
    assert dict(high_at) == {"login_failed": 3, "payment_failed": 2, "form_abandoned": 3}
    assert all(set(w) <= {str(i) for i in Intent} for w in model.weights.values())


def test_frustration_keeps_its_name_and_reads_the_contracts_thresholds() -> None:
    assert Frustration is Level
    twice = [ev("login_failed")] * 2
    assert frustration_level(twice) is Level.MILD
    strict = replace(DEFAULT_STATES.frustration, high_at={"login_failed": 2})
    assert frustration_level(twice, strict) is Level.HIGH
    assert frustration_level([ev("payment_failed")] * 5, strict) is Level.NONE


# --- the runner-up ---------------------------------------------------------------------------


def test_the_runner_up_is_the_second_intent_by_the_same_share_rule() -> None:
    inference = infer_intent([page("/compare/plans"), page("/pricing")])
    # compare: comparing 1.5; pricing: researching .3, comparing .6, purchasing .5, renewing .2
    assert (inference.intent, inference.confidence) == (Intent.COMPARING, round(2.1 / 3.1, 3))
    assert inference.runner_up is Intent.PURCHASING
    assert inference.runner_up_confidence == round(0.5 / 3.1, 3)


def test_no_runner_up_when_one_intent_scored_or_none() -> None:
    assert infer_intent([page("/docs/api"), page("/guides")]).runner_up is None
    assert infer_intent([page("/docs/api")]).runner_up_confidence == 0.0
    assert infer_intent([]).runner_up is None
    assert infer_intent([page("/nowhere")]).runner_up is None


def test_ties_go_to_the_intent_declared_first_whatever_the_order() -> None:
    tie = [ev("error_shown"), page("/docs")]  # reporting_issue 1.0, researching 1.0
    anything = IntentModel(threshold=0.0)
    for events in (tie, tie[::-1]):
        inference = infer_intent(events, anything)
        assert (inference.intent, inference.runner_up) == (
            Intent.RESEARCHING,
            Intent.REPORTING_ISSUE,
        )
    runner_up_tie = [page("/cart"), ev("checkout_started"), *tie]  # purchasing 3.0 first
    for events in (runner_up_tie, runner_up_tie[::-1]):
        assert infer_intent(events).runner_up is Intent.RESEARCHING


def test_an_unsure_answer_still_names_the_top_two() -> None:
    events = [page("/docs"), page("/help"), ev("error_shown")]
    # researching 1.1, reporting_issue 1.9, escalating 0.4: reporting_issue 0.559
    inference = infer_intent(events, replace(DEFAULT_STATES.intent, threshold=0.6))
    assert inference.intent is Intent.UNKNOWN
    assert inference.confidence == round(1.9 / 3.4, 3)
    assert (inference.runner_up, inference.runner_up_confidence) == (
        Intent.RESEARCHING,
        round(1.1 / 3.4, 3),
    )


# --- a deployer's own model ------------------------------------------------------------------


def test_a_deployers_page_topics_change_the_intent() -> None:
    document = copy.deepcopy(EXAMPLE_DOCUMENT)
    topics = {p: t for p, t in TODAYS_TOPICS.items() if p not in ("/docs", "/guides")}
    document["intent"]["page_topics"] = {**topics, "/produits": "docs"}
    contract = parse_contract(document)
    french = [page("/produits/api"), page("/produits/guide")]
    assert infer_intent(french).intent is Intent.UNKNOWN  # today's topics: "other" pages
    assert infer_intent(french, contract.states.intent).intent is Intent.RESEARCHING
    assert infer_intent([page("/docs/api")], contract.states.intent).intent is Intent.UNKNOWN
    assert journey_signal(SignalKind.INTENT, french, contract.states) == "researching"


def test_a_deployers_weights_and_threshold_change_the_intent() -> None:
    weights = {"page:docs": {"comparing": 2.0}, "page:pricing": {"purchasing": 1.0}}
    model = IntentModel(threshold=0.9, weights=weights)
    assert infer_intent([page("/docs")], model).intent is Intent.COMPARING
    assert infer_intent([page("/docs"), page("/pricing")], model).intent is Intent.UNKNOWN


# --- uncertainty -----------------------------------------------------------------------------

RULE = UncertaintyRule()


@pytest.mark.parametrize(
    ("steps", "level"),
    [
        ([], Level.NONE),
        ([page("/pricing"), page("/pricing/enterprise")], Level.NONE),
        ([page("/pricing"), page("/compare/plans")], Level.MILD),
        ([page("/pricing"), page("/compare"), page("/docs"), page("/pricing")], Level.MILD),
        ([page("/pricing"), page("/vs/x"), page("/pricing"), page("/compare")], Level.HIGH),
        ([page("/pricing"), ev("form_abandoned")], Level.HIGH),
        ([ev("form_abandoned"), page("/pricing")], Level.NONE),
        ([page("/docs"), ev("form_abandoned")], Level.NONE),
    ],
)
def test_uncertainty_from_switching_and_abandoning(steps: list[JourneyEvent], level: Level) -> None:
    events = newest_first(*steps)
    assert uncertainty_level(events, RULE, PAGE_TOPICS) is level
    assert read_states(DEFAULT_STATES, events, now_us=10**12).uncertainty is level


def test_uncertainty_follows_the_deployers_rule() -> None:
    switch_once = newest_first(page("/pricing"), page("/compare"))
    assert uncertainty_level(switch_once, replace(RULE, switches=1), PAGE_TOPICS) is Level.HIGH
    abandon = newest_first(page("/pricing"), ev("form_abandoned"))
    assert uncertainty_level(abandon, replace(RULE, abandon_events=frozenset()), PAGE_TOPICS) is (
        Level.NONE
    )
    docs_and_help = newest_first(page("/docs"), page("/help"))
    topics = replace(RULE, topics=frozenset({"docs", "help"}))
    assert uncertainty_level(docs_and_help, topics, PAGE_TOPICS) is Level.MILD


# --- urgency, with time as a parameter -------------------------------------------------------

PREMIUM = frozenset({"premium_account"})
VALUED = UrgencyRule(high_value_segments=PREMIUM)


def contact(at: datetime, kind: str = "support_ticket_opened") -> JourneyEvent:
    return ev(kind, to_us(at))


@pytest.mark.parametrize(
    ("events", "segments", "level"),
    [
        ([], PREMIUM, Level.NONE),
        ([ev("login_failed", to_us(NIGHT_UTC))], PREMIUM, Level.NONE),
        ([contact(DAY_UTC)], PREMIUM, Level.MILD),
        ([contact(DAY_UTC), contact(DAY_UTC, "ticket_created")], frozenset(), Level.HIGH),
        ([contact(NIGHT_UTC)], PREMIUM, Level.HIGH),
        ([contact(NIGHT_UTC)], frozenset({"new_visitor"}), Level.MILD),
        ([contact(datetime(2026, 11, 27, 5, 59, tzinfo=UTC))], PREMIUM, Level.HIGH),
        ([contact(datetime(2026, 11, 27, 6, 0, tzinfo=UTC))], PREMIUM, Level.MILD),
        ([contact(datetime(2026, 11, 27, 22, 0, tzinfo=UTC))], PREMIUM, Level.HIGH),
    ],
)
def test_urgency_from_repeated_contacts_or_a_valued_account_at_night(
    events: list[JourneyEvent], segments: frozenset[str], level: Level
) -> None:
    assert urgency_level(events, VALUED, segments=segments) is level


def test_no_one_is_high_value_until_the_contract_names_them() -> None:
    assert urgency_level([contact(NIGHT_UTC)], UrgencyRule(), segments=PREMIUM) is Level.MILD


@pytest.mark.parametrize(
    ("at", "offset", "level"),
    [
        (NIGHT_UTC, None, Level.HIGH),  # 23:30 UTC
        (NIGHT_UTC, -120, Level.MILD),  # 21:30 two hours west
        (NIGHT_UTC, 420, Level.MILD),  # 06:30 seven hours east, the next morning
        (DAY_UTC, 540, Level.HIGH),  # 23:00 in UTC+9
        (DAY_UTC, -600, Level.HIGH),  # 04:00 in UTC-10
        (DAY_UTC, 60, Level.MILD),  # 15:00
    ],
)
def test_night_is_the_persons_night(at: datetime, offset: int | None, level: Level) -> None:
    events = [contact(at)]
    reading = read_states(
        replace(DEFAULT_STATES, urgency=VALUED),
        events,
        now_us=to_us(at) + MINUTE_US,
        segments=PREMIUM,
        utc_offset_minutes=offset,
    )
    assert reading.urgency is level


def test_a_night_that_does_not_wrap_midnight() -> None:
    rule = replace(VALUED, night_start=time(1, 0), night_end=time(5, 0))
    early = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    assert urgency_level([contact(early)], rule, segments=PREMIUM) is Level.HIGH
    assert urgency_level([contact(NIGHT_UTC)], rule, segments=PREMIUM) is Level.MILD


def test_events_after_the_time_of_reading_are_not_read() -> None:
    events = [contact(DAY_UTC), contact(NIGHT_UTC)]
    assert read_states(DEFAULT_STATES, events, now_us=to_us(NIGHT_UTC)).urgency is Level.HIGH
    assert read_states(DEFAULT_STATES, events, now_us=to_us(DAY_UTC)).urgency is Level.MILD


# --- everything at once, and the kinds of action each state calls for ------------------------


def test_read_states_reads_all_four_by_the_contracts_rules() -> None:
    events = newest_first(
        page("/pricing"), page("/compare"), ev("payment_failed"), ev("payment_failed")
    )
    reading = read_states(DEFAULT_STATES, events, now_us=10**12)
    assert reading.intent == infer_intent(events)
    assert (reading.frustration, reading.uncertainty, reading.urgency) == (
        Level.HIGH,
        Level.MILD,
        Level.NONE,
    )


def test_each_state_calls_for_its_kinds_of_action() -> None:
    assert DEFAULT_STATES.calls_for(State.FRUSTRATION) == {"reassure", "handoff"}
    assert DEFAULT_STATES.calls_for(State.UNCERTAINTY) == {"guide", "reassure"}
    assert DEFAULT_STATES.calls_for("urgency") == {"handoff", "compensate"}
    mine = replace(DEFAULT_STATES, uncertainty=replace(RULE, calls_for=frozenset({"clarify"})))
    assert mine.calls_for(State.UNCERTAINTY) == {"clarify"}
    with pytest.raises(ValueError):
        DEFAULT_STATES.calls_for("boredom")


# --- the journey signals ---------------------------------------------------------------------


def test_the_new_journey_signals_carry_the_levels() -> None:
    switching = newest_first(page("/pricing"), page("/compare"), page("/pricing"), page("/vs"))
    assert journey_signal(SignalKind.UNCERTAINTY, switching) == "high"
    assert journey_signal(SignalKind.URGENCY, switching) == "none"
    night = [contact(NIGHT_UTC)]
    states = JourneyStates(urgency=VALUED)
    assert journey_signal(SignalKind.URGENCY, night, states) == "mild"
    assert journey_signal(SignalKind.URGENCY, night, states, segments=PREMIUM) == "high"
    assert journey_signal(SignalKind.UNCERTAINTY, []) is None


def test_the_doctests_hold() -> None:
    result = doctest.testmod(tactful.segments.states)
    assert result.attempted > 0 and result.failed == 0
