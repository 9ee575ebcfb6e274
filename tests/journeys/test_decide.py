"""The decision: every rung of the ladder, each constraint at its boundary with `now` a
parameter, arbitration and its tie-break, categories that never carry a value, and a
decision that is deterministic and consistent with its rung for any situation."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tactful.journeys.conditions import (
    AllOf,
    AnyOf,
    ConsentTest,
    InSegment,
    IntentField,
    IntentTest,
    Not,
    SignalTest,
)
from tactful.journeys.decide import (
    Decision,
    History,
    Offer,
    Reason,
    Situation,
    categories,
    compiled,
    decide,
    evaluate,
    held_back,
    in_quiet_hours,
)
from tactful.journeys.playbook import (
    Action,
    ActionKind,
    Cap,
    Constraints,
    Ladder,
    Playbook,
    Priority,
    QuietHours,
    Rung,
)
from tactful.journeys.playbook_file import load_playbook
from tactful.privacy.contract import load_contract
from tactful.privacy.rules import Compare
from tactful.segments.frustration import Frustration

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "tactful" / "app" / "examples"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def action(id: str, kind: ActionKind, **fields: object) -> Action:
    return Action(id, kind, f"t.{id}.v1", "why", **fields)  # type: ignore[arg-type]


def book(*actions: Action, ladder: Ladder | None = None) -> Playbook:
    return Playbook(
        source="test",
        journey="j",
        purpose="p",
        owner="o",
        version=7,
        ladder=ladder or Ladder(0.5, 0.1, 0.8),
        actions={a.id: a for a in actions},
        explanations={"why": "because"},
        cases=(),
    )


ASK = action("ask", ActionKind.CLARIFY)
HUMAN = action("human", ActionKind.HANDOFF)
GUIDE = action("guide", ActionKind.GUIDE)
RETRY = action("retry", ActionKind.RETRY, priority=Priority(levers=2.0))
BOOK = book(RETRY, GUIDE, ASK, HUMAN)


def sure(**fields: object) -> Situation:
    base: dict[str, object] = {"step": "s", "intent": "purchasing", "confidence": 0.9}
    return Situation(**(base | fields))  # type: ignore[arg-type]


# -- the ladder ------------------------------------------------------------------------


def test_confident_no_fallback_the_arbitration_winner() -> None:
    got = decide(BOOK, sure(), History(), now=NOW)
    assert (got.action, got.rung, got.reasons) == ("retry", Rung.NONE, ())
    assert got.playbook_version == 7 and got.kind is ActionKind.RETRY
    assert got.template == "t.retry.v1"


def test_frustration_and_urgency_go_to_a_human() -> None:
    got = decide(BOOK, sure(frustration=Frustration.HIGH), History(), now=NOW)
    assert (got.action, got.rung, got.reasons) == ("human", Rung.HUMAN, (Reason.FRUSTRATED,))
    got = decide(BOOK, sure(urgent=True), History(), now=NOW)
    assert (got.action, got.rung, got.reasons) == ("human", Rung.HUMAN, (Reason.URGENT,))
    mild = decide(BOOK, sure(frustration=Frustration.MILD), History(), now=NOW)
    assert mild.rung is Rung.NONE


def test_below_the_confidence_threshold_clarify_with_the_top_two() -> None:
    situation = sure(confidence=0.49, runner_up="comparing", runner_up_confidence=0.2)
    got = decide(BOOK, situation, History(), now=NOW)
    assert (got.action, got.rung) == ("ask", Rung.CLARIFY)
    assert got.reasons == (Reason.LOW_CONFIDENCE,)
    assert got.parameters == ("purchasing", "comparing") and got.runner_up == "comparing"
    at = decide(BOOK, sure(confidence=0.5), History(), now=NOW)
    assert at.rung is Rung.MOST_LIKELY  # the threshold itself is not below it


def test_inside_the_ambiguity_margin_clarify() -> None:
    inside = sure(confidence=0.9, runner_up="comparing", runner_up_confidence=0.81)
    got = decide(BOOK, inside, History(), now=NOW)
    assert (got.rung, got.reasons) == (Rung.CLARIFY, (Reason.AMBIGUOUS,))
    outside = sure(confidence=0.9, runner_up="comparing", runner_up_confidence=0.75)
    assert decide(BOOK, outside, History(), now=NOW).rung is Rung.NONE


def test_no_clarify_action_goes_to_a_human() -> None:
    got = decide(book(GUIDE, HUMAN), sure(confidence=0.1), History(), now=NOW)
    assert got.rung is Rung.HUMAN
    assert got.reasons == (Reason.LOW_CONFIDENCE, Reason.NO_CLARIFY_ACTION)


def test_moderately_confident_the_least_committal_form() -> None:
    got = decide(BOOK, sure(confidence=0.7), History(), now=NOW)
    # retry ranks first (levers 2.0) but guide is less committal
    assert (got.action, got.rung, got.reasons) == (
        "guide",
        Rung.MOST_LIKELY,
        (Reason.MODERATE_CONFIDENCE,),
    )
    only_retry = decide(book(RETRY, ASK, HUMAN), sure(confidence=0.7), History(), now=NOW)
    assert only_retry.action == "retry" and only_retry.rung is Rung.MOST_LIKELY


def test_thresholds_come_from_the_playbook() -> None:
    strict = book(RETRY, GUIDE, ASK, HUMAN, ladder=Ladder(0.95, 0.1, 0.99))
    assert decide(strict, sure(), History(), now=NOW).rung is Rung.CLARIFY
    lax = book(RETRY, GUIDE, ASK, HUMAN, ladder=Ladder(0.1, 0.0, 0.2))
    assert decide(lax, sure(confidence=0.3), History(), now=NOW).rung is Rung.NONE


def test_nothing_eligible_goes_to_a_human_keeping_the_constraints() -> None:
    needs = SignalTest(Compare("failures", ">=", 1))
    capped = action("retry", ActionKind.RETRY, constraints=Constraints(cooldown=timedelta(1)))
    playbook = book(action("g", ActionKind.GUIDE, applicability=needs), capped, HUMAN)
    got = decide(playbook, sure(), History((Offer("retry", NOW),)), now=NOW)
    assert (got.action, got.rung) == ("human", Rung.HUMAN)
    assert got.reasons == (Reason.NOTHING_ELIGIBLE, Reason.COOLDOWN)


def test_the_free_handoff_is_preferred_and_a_held_one_still_answers() -> None:
    quiet = Constraints(quiet_hours=QuietHours(time(0), time(23, 59)))
    held = action("night_desk", ActionKind.HANDOFF, constraints=quiet)
    got = decide(book(held, HUMAN), sure(urgent=True), History(), now=NOW)
    assert got.action == "human"
    alone = decide(book(held), sure(urgent=True), History(), now=NOW)
    assert alone.action == "night_desk" and Reason.QUIET_HOURS in alone.reasons


# -- conditions ------------------------------------------------------------------------


def test_conditions_evaluate_over_the_situation() -> None:
    situation = sure(
        segments=frozenset({"vip"}),
        signals={"failures": 2},
        runner_up="comparing",
        runner_up_confidence=0.1,
        consent=True,
    )
    true = [
        SignalTest(Compare("failures", ">=", 2)),
        InSegment("vip"),
        IntentTest(IntentField.LABEL, "==", "purchasing"),
        IntentTest(IntentField.RUNNER_UP, "in", ("comparing", "renewing")),
        IntentTest(IntentField.CONFIDENCE, ">=", 0.9),
        IntentTest(IntentField.RUNNER_UP_CONFIDENCE, "<", 0.2),
        ConsentTest(True),
        Not(InSegment("churned")),
    ]
    for condition in true:
        assert evaluate(condition, situation, now=NOW), condition
        assert not evaluate(Not(condition), situation, now=NOW), condition
    assert evaluate(AllOf(tuple(true)), situation, now=NOW)
    assert not evaluate(SignalTest(Compare("missing", "==", 1)), situation, now=NOW)


def test_a_compiled_condition_answers_as_evaluate_does() -> None:
    situation = sure(segments=frozenset({"vip"}), signals={"failures": 2}, consent=True)
    true = [
        SignalTest(Compare("failures", ">=", 2)),
        InSegment("vip"),
        IntentTest(IntentField.LABEL, "==", "purchasing"),
        IntentTest(IntentField.CONFIDENCE, ">=", 0.9),
        ConsentTest(True),
    ]
    false = [
        SignalTest(Compare("missing", "==", 1)),
        InSegment("churned"),
        IntentTest(IntentField.LABEL, "!=", "purchasing"),
        ConsentTest(False),
        *(Not(c) for c in true),
    ]
    trees = [
        None,
        *true,
        *false,
        AllOf(tuple(true)),
        AllOf((true[0], false[0])),
        AnyOf(tuple(false)),
        AnyOf((false[1], true[1])),
        Not(AnyOf(tuple(false))),
        AllOf((AnyOf((false[2], true[2])), Not(false[3]))),
    ]
    for condition in trees:
        expected = evaluate(condition, situation, now=NOW)
        assert compiled(condition)(situation, NOW) == expected, condition


def test_categories_name_what_was_read_never_a_value() -> None:
    condition = AllOf(
        (
            SignalTest(Compare("last_error", "==", "card_declined")),
            Not(InSegment("vip")),
            IntentTest(IntentField.LABEL, "==", "purchasing"),
            ConsentTest(True),
        )
    )
    assert categories(condition) == {"signal:last_error", "segment:vip", "intent", "consent"}
    checked = action("retry", ActionKind.RETRY, applicability=condition)
    situation = sure(signals={"last_error": "card_declined"}, segments=frozenset(), consent=True)
    got = decide(book(checked, ASK, HUMAN), situation, History(), now=NOW)
    assert got.action == "retry"
    assert got.categories == {
        "signal:last_error",
        "segment:vip",
        "intent",
        "consent",
        "frustration",
        "urgency",
    }
    assert not any("card_declined" in c for c in got.categories)


# -- constraints, at their boundaries ------------------------------------------------


def blocked(a: Action, history: History, now: datetime, s: Situation | None = None) -> tuple:
    return held_back(a, book(a, HUMAN), s or sure(), history, now=now)


def test_frequency_cap_just_inside_and_just_outside_the_window() -> None:
    a = action(
        "r", ActionKind.RETRY, constraints=Constraints(frequency_cap=Cap(2, timedelta(hours=24)))
    )
    two = History(
        (Offer("r", NOW - timedelta(hours=1)), Offer("r", NOW - timedelta(hours=23, minutes=59)))
    )
    assert blocked(a, two, NOW) == (Reason.CAPPED,)
    aged = History((Offer("r", NOW - timedelta(hours=1)), Offer("r", NOW - timedelta(hours=24))))
    assert blocked(a, aged, NOW) == ()
    assert blocked(a, History((Offer("r", NOW),)), NOW) == ()  # one of two
    other = History((Offer("x", NOW), Offer("x", NOW)))
    assert blocked(a, other, NOW) == ()  # per action


def test_cooldown_edge() -> None:
    a = action("r", ActionKind.RETRY, constraints=Constraints(cooldown=timedelta(minutes=10)))
    offered = History((Offer("r", NOW),))
    assert blocked(a, offered, NOW + timedelta(minutes=10) - timedelta(microseconds=1)) == (
        Reason.COOLDOWN,
    )
    assert blocked(a, offered, NOW + timedelta(minutes=10)) == ()


def test_never_after_a_refusal() -> None:
    a = action("r", ActionKind.RETRY, constraints=Constraints(never_after_refusal=True))
    assert blocked(a, History((Offer("r", NOW - timedelta(days=400)),)), NOW) == ()
    refused = History((Offer("r", NOW - timedelta(days=400), refused=True),))
    assert blocked(a, refused, NOW) == (Reason.REFUSED_BEFORE,)


def test_max_compensations_counts_every_compensation_in_the_window() -> None:
    rules = Constraints(max_compensations=Cap(1, timedelta(days=30)))
    credit = action("credit", ActionKind.COMPENSATE, constraints=rules)
    voucher = action("voucher", ActionKind.COMPENSATE)
    playbook = book(credit, voucher, GUIDE, HUMAN)

    def held(history: History) -> tuple[Reason, ...]:
        return held_back(credit, playbook, sure(), history, now=NOW)

    inside = NOW - timedelta(days=30) + timedelta(seconds=1)
    assert held(History((Offer("voucher", inside),))) == (Reason.COMPENSATIONS_CAPPED,)
    assert held(History((Offer("voucher", NOW - timedelta(days=30)),))) == ()
    assert held(History((Offer("guide", NOW),))) == ()  # not a compensation


def test_daily_budget_spent_so_far() -> None:
    rules = Constraints(daily_compensation_budget=500.0)
    a = action("credit", ActionKind.COMPENSATE, constraints=rules)
    assert blocked(a, History(compensation_spent_today=499.99), NOW) == ()
    assert blocked(a, History(compensation_spent_today=500.0), NOW) == (Reason.BUDGET_SPENT,)


def test_daily_budget_counts_the_actions_own_cost() -> None:
    rules = Constraints(daily_compensation_budget=500.0)
    a = replace(action("credit", ActionKind.COMPENSATE, constraints=rules), cost=25.0)
    assert blocked(a, History(compensation_spent_today=475.0), NOW) == ()
    assert blocked(a, History(compensation_spent_today=475.01), NOW) == (Reason.BUDGET_SPENT,)


@pytest.mark.parametrize(
    ("clock", "quiet"),
    [
        (time(21, 59, 59), False),
        (time(22, 0), True),
        (time(23, 59, 59), True),
        (time(0, 0), True),
        (time(7, 59, 59), True),
        (time(8, 0), False),
        (time(12, 0), False),
    ],
)
def test_quiet_hours_across_midnight_in_utc(clock: time, quiet: bool) -> None:
    hours = QuietHours(time(22), time(8))
    now = datetime.combine(NOW.date(), clock, tzinfo=UTC)
    assert in_quiet_hours(hours, sure(), now=now) is quiet


def test_quiet_hours_in_the_persons_zone_when_the_locale_gives_an_offset() -> None:
    hours = QuietHours(time(22), time(8), locale_signal="utc_offset")
    at_21_utc = datetime(2026, 12, 7, 21, 30, tzinfo=UTC)
    for value in ("+01:00", "UTC+01:00", 60, "+0100"):
        assert in_quiet_hours(hours, sure(signals={"utc_offset": value}), now=at_21_utc)
    at_23_utc = datetime(2026, 12, 7, 23, 30, tzinfo=UTC)
    assert not in_quiet_hours(hours, sure(signals={"utc_offset": "-02:00"}), now=at_23_utc)
    for no_offset in ("fr-FR", None, True, 10_000):
        situation = sure(signals={"utc_offset": no_offset})
        assert not in_quiet_hours(hours, situation, now=at_21_utc)  # UTC
        assert in_quiet_hours(hours, situation, now=at_23_utc)
    with pytest.raises(TypeError, match="needs a time zone"):
        in_quiet_hours(hours, sure(), now=datetime(2026, 12, 7, 23, 30))


def test_a_held_back_action_is_no_candidate_and_its_reason_is_kept() -> None:
    got = decide(BOOK, sure(), History((Offer("retry", NOW, refused=True),)), now=NOW)
    assert got.action == "retry"  # retry has no never_after_refusal
    refusing = action(
        "retry",
        ActionKind.RETRY,
        priority=Priority(levers=2.0),
        constraints=Constraints(never_after_refusal=True),
    )
    playbook = book(refusing, GUIDE, ASK, HUMAN)
    got = decide(playbook, sure(), History((Offer("retry", NOW, refused=True),)), now=NOW)
    assert (got.action, got.rung, got.reasons) == ("guide", Rung.NONE, (Reason.REFUSED_BEFORE,))


# -- arbitration -----------------------------------------------------------------------


def test_arbitration_multiplies_the_priority_parameters() -> None:
    a = action("a", ActionKind.GUIDE, priority=Priority(context_weight=2.0, value=0.5))  # 1.0
    b = action("b", ActionKind.GUIDE, priority=Priority(value=1.1))  # 1.1
    c = action("c", ActionKind.GUIDE, priority=Priority(levers=0.0))  # 0
    assert decide(book(a, b, c, HUMAN), sure(), History(), now=NOW).action == "b"
    assert decide(book(c, a, HUMAN), sure(), History(), now=NOW).action == "a"


def test_ties_go_to_the_first_declared() -> None:
    a, b = action("a", ActionKind.GUIDE), action("b", ActionKind.GUIDE)
    assert decide(book(a, b, HUMAN), sure(), History(), now=NOW).action == "a"
    assert decide(book(b, a, HUMAN), sure(), History(), now=NOW).action == "b"


def test_the_example_playbook_decides() -> None:
    contract = load_contract(EXAMPLES / "contract.toml")
    playbook = load_playbook(EXAMPLES / "playbooks" / "checkout_recovery.toml", contract)
    first = sure(signals={"payment_failures_24h": 1, "last_payment_error": "processing_error"})
    assert decide(playbook, first, History(), now=NOW).action == "retry_payment"
    fraud = sure(signals={"payment_failures_24h": 1, "last_payment_error": "fraud_suspected"})
    got = decide(playbook, fraud, History(), now=NOW)
    # retry is not eligible, change_method does not apply: nothing left but a person
    assert (got.action, got.rung) == ("talk_to_billing", Rung.HUMAN)


# -- for any situation ----------------------------------------------------------------

LABELS = ["purchasing", "comparing", "renewing", "unknown"]
situations = st.builds(
    Situation,
    step=st.just("s"),
    segments=st.frozensets(st.sampled_from(["vip", "new"])),
    signals=st.dictionaries(
        st.sampled_from(["failures", "utc_offset"]),
        st.one_of(st.none(), st.integers(-1000, 1000), st.sampled_from(["+02:00", "x"])),
    ),
    intent=st.sampled_from(LABELS),
    confidence=st.floats(0, 1),
    runner_up=st.one_of(st.none(), st.sampled_from(LABELS)),
    runner_up_confidence=st.floats(0, 1),
    frustration=st.sampled_from(list(Frustration)),
    urgent=st.booleans(),
    consent=st.booleans(),
)
histories = st.builds(
    History,
    offers=st.lists(
        st.builds(
            Offer,
            action=st.sampled_from(["retry", "guide", "credit", "ask", "human"]),
            at=st.integers(0, 40 * 24 * 3600).map(lambda s: NOW - timedelta(seconds=s)),
            refused=st.booleans(),
        ),
        max_size=6,
    ).map(tuple),
    compensation_spent_today=st.floats(0, 1000),
)
FULL = book(
    action(
        "retry",
        ActionKind.RETRY,
        applicability=SignalTest(Compare("failures", ">=", 1)),
        constraints=Constraints(
            frequency_cap=Cap(2, timedelta(hours=24)), never_after_refusal=True
        ),
        priority=Priority(levers=1.5),
    ),
    action(
        "guide",
        ActionKind.GUIDE,
        constraints=Constraints(
            quiet_hours=QuietHours(time(22), time(8), locale_signal="utc_offset")
        ),
    ),
    action(
        "credit",
        ActionKind.COMPENSATE,
        eligibility=InSegment("vip"),
        constraints=Constraints(
            max_compensations=Cap(1, timedelta(days=30)), daily_compensation_budget=100.0
        ),
        priority=Priority(value=3.0),
    ),
    action("ask", ActionKind.CLARIFY, eligibility=ConsentTest(True)),
    action("human", ActionKind.HANDOFF),
)
VALUES = {"+02:00", "x"} | {str(i) for i in range(-1000, 1001)}


@settings(max_examples=300, deadline=None)
@given(situations, histories, st.integers(0, 24 * 3600))
def test_any_decision_is_deterministic_and_consistent(
    situation: Situation, history: History, seconds: int
) -> None:
    now = NOW + timedelta(seconds=seconds)
    got: Decision = decide(FULL, situation, history, now=now)
    assert got == decide(FULL, situation, history, now=now)
    assert got.action is not None and got.kind is FULL.actions[got.action].kind
    expected_kind = {
        Rung.HUMAN: {ActionKind.HANDOFF},
        Rung.CLARIFY: {ActionKind.CLARIFY},
        Rung.MOST_LIKELY: {ActionKind.RETRY, ActionKind.GUIDE, ActionKind.COMPENSATE},
        Rung.NONE: {ActionKind.RETRY, ActionKind.GUIDE, ActionKind.COMPENSATE},
    }[got.rung]
    assert got.kind in expected_kind
    if got.rung is Rung.CLARIFY:
        assert got.parameters[0] == situation.intent
    if situation.frustration is Frustration.HIGH or situation.urgent:
        assert got.rung is Rung.HUMAN
    if got.rung in (Rung.NONE, Rung.MOST_LIKELY):
        assert situation.confidence >= FULL.ladder.confidence_threshold
        chosen = FULL.actions[got.action]
        assert held_back(chosen, FULL, situation, history, now=now) == ()
    assert all(c.split(":")[-1] not in VALUES for c in got.categories)
    assert got.playbook_version == FULL.version
