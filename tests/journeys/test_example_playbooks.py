"""The example contract's six journeys: every playbook loads and reads only what its
purpose releases; every case's expected action and rung follow from `decide` on the
situation its events give; every action and every reachable rung of each journey is
reached; a leaking copy is refused, naming the action and what it read.

A case's situation is written here by hand: the signals and segments its events give
under the purpose, and the intent reading (label, confidence, runner-up) and frustration
it assumes. Where today's intent weights read the events otherwise, the comment says so.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import KW_ONLY, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tactful.journeys.decide import Decision, History, Offer, Reason, Situation, decide
from tactful.journeys.errors import PlaybookError
from tactful.journeys.gates import run_cases
from tactful.journeys.playbook import ActionKind, Playbook, Rung
from tactful.journeys.playbook_file import load_playbook
from tactful.privacy.contract import load_contract
from tactful.segments.frustration import Frustration

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "tactful" / "app" / "examples"
CONTRACT = load_contract(EXAMPLES / "contract.toml")
JOURNEYS = (
    "onboarding",
    "checkout_recovery",
    "support_triage",
    "account_retention",
    "agent_assist",
    "multilingual_support",
)
NOON = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)  # outside every quiet hours
NIGHT = datetime(2026, 12, 7, 23, 30, tzinfo=UTC)  # inside every quiet hours (UTC)
HIGH = Frustration.HIGH
MILD = Frustration.MILD


def playbook(journey: str) -> Playbook:
    return load_playbook(EXAMPLES / "playbooks" / f"{journey}.toml", CONTRACT)


def sit(
    *segments: str,
    step: str = "step",
    intent: str = "unknown",
    confidence: float = 0.9,
    runner_up: str | None = None,
    runner_up_confidence: float = 0.0,
    frustration: Frustration = Frustration.NONE,
    urgent: bool = False,
    consent: bool = False,
    **signals: str | int,
) -> Situation:
    return Situation(
        step=step,
        segments=frozenset(segments),
        signals=dict(signals),
        intent=intent,
        confidence=confidence,
        runner_up=runner_up,
        runner_up_confidence=runner_up_confidence,
        frustration=frustration,
        urgent=urgent,
        consent=consent,
    )


# -- the cases' situations -------------------------------------------------------------
# "assumed" marks a confident reading the current intent weights do not give (they weigh
# none of the case's events, or read it as moderately confident).


# -- beyond the cases: every action and rung, and the constraints a business sets -------

AGO = NOON - timedelta(minutes=10)
CREDITED = History((Offer("loyalty_credit", NOON - timedelta(days=30)),))


@dataclass(frozen=True)
class Reach:
    """A situation (and history, and time) → the action and rung it must give."""

    journey: str
    situation: Situation
    action: str
    rung: Rung
    _: KW_ONLY
    history: History = field(default_factory=History)
    now: datetime = NOON
    reason: Reason | None = None  # a reason the decision must carry

    def decide(self) -> Decision:
        return decide(playbook(self.journey), self.situation, self.history, now=self.now)


REACH = {
    "onboarding: moderately sure, the plan step in its least committal form": Reach(
        "onboarding",
        sit(confidence=0.65, selected_plan="pro"),
        "finish_signup",
        Rung.MOST_LIKELY,
    ),
    "onboarding: shown the step on the page, then an e-mail by day": Reach(
        "onboarding",
        sit(consent=True, signup_plan="pro"),
        "finish_signup_reminder",
        Rung.NONE,
        history=History((Offer("finish_signup", AGO),)),
        reason=Reason.COOLDOWN,
    ),
    "onboarding: no reminder at night, nothing instead": Reach(
        "onboarding",
        sit(consent=True, signup_plan="pro"),
        "let_them_explore",
        Rung.NONE,
        history=History((Offer("finish_signup", NIGHT - timedelta(minutes=10)),)),
        now=NIGHT,
        reason=Reason.QUIET_HOURS,
    ),
    "onboarding: no reminder without consent": Reach(
        "onboarding",
        sit(consent=False, signup_plan="pro"),
        "let_them_explore",
        Rung.NONE,
        history=History((Offer("finish_signup", AGO),)),
        reason=Reason.COOLDOWN,
    ),
    "checkout_recovery: unsure after a decline, ask retry or change": Reach(
        "checkout_recovery",
        sit(confidence=0.3, payment_failures_24h=1, last_payment_error="processing_error"),
        "retry_or_change",
        Rung.CLARIFY,
        reason=Reason.LOW_CONFIDENCE,
    ),
    "checkout_recovery: moderately sure, the retry": Reach(
        "checkout_recovery",
        sit(confidence=0.65, payment_failures_24h=1, last_payment_error="processing_error"),
        "retry_payment",
        Rung.MOST_LIKELY,
    ),
    "checkout_recovery: a cart kept": Reach(
        "checkout_recovery", sit(cart_item_count=2), "cart_kept", Rung.NONE
    ),
    "checkout_recovery: no reassurance at night": Reach(
        "checkout_recovery",
        sit(cart_item_count=2),
        "talk_to_billing",
        Rung.HUMAN,
        now=NIGHT,
        reason=Reason.QUIET_HOURS,
    ),
    "checkout_recovery: three failures of a customer, calmly: goodwill": Reach(
        "checkout_recovery",
        sit("active_customer", payment_failures_24h=3, last_payment_error="processing_error"),
        "goodwill_credit",
        Rung.NONE,
    ),
    "checkout_recovery: goodwill over the day's budget: billing": Reach(
        "checkout_recovery",
        sit("active_customer", payment_failures_24h=3, last_payment_error="processing_error"),
        "talk_to_billing",
        Rung.HUMAN,
        history=History(compensation_spent_today=500.0),
        reason=Reason.BUDGET_SPENT,
    ),
    "support_triage: an unknown error, a bug report with it attached": Reach(
        "support_triage",
        sit(
            intent="reporting_issue",
            confidence=0.833,
            runner_up="escalating",
            runner_up_confidence=0.167,
            last_error_code="export_failed",
        ),
        "bug_report",
        Rung.NONE,
    ),
    "support_triage: no article to someone escalating": Reach(
        "support_triage",
        sit(intent="escalating", last_ticket_category="how_to", tickets_created_7d=1),
        "agent_with_context",
        Rung.HUMAN,
        reason=Reason.NOTHING_ELIGIBLE,
    ),
    "support_triage: the two top intents too close: ask": Reach(
        "support_triage",
        sit(
            intent="researching",
            confidence=0.5,
            runner_up="reporting_issue",
            runner_up_confidence=0.45,
            last_ticket_category="how_to",
            tickets_created_7d=1,
        ),
        "what_went_wrong",
        Rung.CLARIFY,
        reason=Reason.AMBIGUOUS,
    ),
    "account_retention: one credit a quarter, then a pause": Reach(
        "account_retention",
        sit("premium_account", "high_risk_churn", intent="canceling", confidence=1.0),
        "pause_plan",
        Rung.NONE,
        history=CREDITED,
        reason=Reason.COMPENSATIONS_CAPPED,
    ),
    "account_retention: a credit again after the quarter": Reach(
        "account_retention",
        sit("premium_account", "high_risk_churn", intent="canceling", confidence=1.0),
        "loyalty_credit",
        Rung.NONE,
        history=History((Offer("loyalty_credit", NOON - timedelta(days=91)),)),
    ),
    "account_retention: the day's budget spent, a pause": Reach(
        "account_retention",
        sit("premium_account", "high_risk_churn", intent="canceling", confidence=1.0),
        "pause_plan",
        Rung.NONE,
        history=History(compensation_spent_today=2000.0),
        reason=Reason.BUDGET_SPENT,
    ),
    "account_retention: no credit e-mailed at night, a pause": Reach(
        "account_retention",
        sit("premium_account", "high_risk_churn", intent="canceling", confidence=1.0),
        "pause_plan",
        Rung.NONE,
        now=NIGHT,
        reason=Reason.QUIET_HOURS,
    ),
    "account_retention: a credit refused is not offered again": Reach(
        "account_retention",
        sit("premium_account", "high_risk_churn", intent="canceling", confidence=1.0),
        "pause_plan",
        Rung.NONE,
        history=History((Offer("loyalty_credit", NOON - timedelta(days=200), refused=True),)),
        reason=Reason.REFUSED_BEFORE,
    ),
    "account_retention: moderately sure, never the credit": Reach(
        "account_retention",
        sit("premium_account", "high_risk_churn", intent="canceling", confidence=0.8),
        "pause_plan",
        Rung.MOST_LIKELY,
    ),
    "account_retention: urgent: the account team": Reach(
        "account_retention",
        sit("high_risk_churn", intent="canceling", confidence=1.0, urgent=True),
        "account_team",
        Rung.HUMAN,
        reason=Reason.URGENT,
    ),
    "agent_assist: unsure what the caller needs, confirm": Reach(
        "agent_assist",
        sit(confidence=0.3, last_ticket_category="other"),
        "confirm_need",
        Rung.CLARIFY,
        reason=Reason.LOW_CONFIDENCE,
    ),
    "agent_assist: moderately sure, the payment walk-through": Reach(
        "agent_assist",
        sit(intent="purchasing", confidence=0.6, payment_failures_24h=1),
        "fix_payment",
        Rung.MOST_LIKELY,
    ),
    "agent_assist: no article on an urgent ticket": Reach(
        "agent_assist",
        sit(intent="researching", last_ticket_category="how_to", last_ticket_priority="urgent"),
        "escalate_to_specialist",
        Rung.HUMAN,
        reason=Reason.NOTHING_ELIGIBLE,
    ),
    "multilingual_support: frustrated in French: the French queue": Reach(
        "multilingual_support",
        sit(frustration=HIGH, consent=True, preferred_language="fr"),
        "language_queue",
        Rung.HUMAN,
        reason=Reason.FRUSTRATED,
    ),
    "multilingual_support: never asks on a low, close reading": Reach(
        "multilingual_support",
        sit(
            intent="researching",
            confidence=0.1,
            runner_up="comparing",
            runner_up_confidence=0.1,
            consent=True,
            preferred_language="de",
        ),
        "help_in_language",
        Rung.NONE,
    ),
}

# What a journey cannot reach, by design: multilingual support has no intent threshold.
# A purpose that releases no intent never makes the engine unsure of one: the clarify
# actions of onboarding and account_retention stay for a deployer who releases it.
UNREACHABLE_ACTIONS = {
    "multilingual_support": {"ask_need"},
    "account_retention": {"what_matters"},
    "onboarding": {"which_step"},
}
UNREACHABLE_RUNGS = {
    "multilingual_support": {Rung.CLARIFY, Rung.MOST_LIKELY},
    "account_retention": {Rung.CLARIFY},
    "onboarding": {Rung.CLARIFY},
}


# -- loading ---------------------------------------------------------------------------


def test_the_six_journeys_have_a_playbook_each() -> None:
    assert {p.stem for p in (EXAMPLES / "playbooks").glob("*.toml")} == set(JOURNEYS)
    assert set(JOURNEYS) <= set(CONTRACT.purposes)


@pytest.mark.parametrize("journey", JOURNEYS)
def test_each_loads_bound_to_its_purpose_and_reads_only_what_it_releases(journey: str) -> None:
    book = playbook(journey)
    purpose = CONTRACT.purposes[journey]
    assert (book.journey, book.purpose) == (journey, journey)
    assert "@" in book.owner and book.version >= 1
    kinds = [a.kind for a in book.actions.values()]
    assert ActionKind.CLARIFY in kinds and ActionKind.HANDOFF in kinds
    assert 3 <= len(book.cases) <= 10  # support_triage: six, and four with a message
    for action in book.actions.values():
        assert action.template.endswith(".v1")
        read = action.reads()
        assert read.signals <= purpose.releases_signals, action.id
        assert read.segments <= purpose.releases_segments, action.id
    for case in book.cases:
        assert all(event.type in purpose.collects for event in case.events)


def test_what_reaches_out_keeps_quiet_hours_and_compensation_its_caps() -> None:
    reaching_out = [
        playbook("onboarding").actions["finish_signup_reminder"],
        playbook("account_retention").actions["loyalty_credit"],
        playbook("checkout_recovery").actions["cart_kept"],
    ]
    assert all(a.constraints.quiet_hours is not None for a in reaching_out)
    for journey in JOURNEYS:
        for action in playbook(journey).actions.values():
            if action.kind is ActionKind.COMPENSATE:
                assert action.constraints.max_compensations is not None, action.id
                assert action.constraints.daily_compensation_budget is not None, action.id


def test_account_retention_reads_segments_only() -> None:
    # Its purpose releases no signal: an individual's signal would show through the offer.
    for action in playbook("account_retention").actions.values():
        assert not action.reads().signals and not action.reads().intent


# -- the cases -------------------------------------------------------------------------


# Every case runs through the real pipeline (signals and segments from its events, the
# journey states its purpose releases) in tests/journeys/test_gates.py.


# -- every action and every rung -------------------------------------------------------


@pytest.mark.parametrize("name", list(REACH))
def test_beyond_the_cases(name: str) -> None:
    reach = REACH[name]
    decision = reach.decide()
    assert (decision.action, decision.rung) == (reach.action, reach.rung), decision.reasons
    if reach.reason is not None:
        assert reach.reason in decision.reasons


@pytest.mark.parametrize("journey", JOURNEYS)
def test_every_action_and_every_reachable_rung_is_reached(journey: str) -> None:
    book = playbook(journey)
    reached = {(r.action, r.rung) for r in run_cases(book, CONTRACT) if r.passed}
    reached |= {(r.action, r.rung) for r in REACH.values() if r.journey == journey}
    actions = set(book.actions) - UNREACHABLE_ACTIONS.get(journey, set())
    assert {action for action, _ in reached} == actions
    assert {rung for _, rung in reached} == set(Rung) - UNREACHABLE_RUNGS.get(journey, set())


def test_a_handoff_goes_to_the_first_queue_whose_conditions_hold() -> None:
    book = playbook("multilingual_support")
    urgent = sit(urgent=True, consent=True)
    assert decide(book, urgent, History(), now=NOON).action == "default_queue"
    in_spanish = replace(urgent, signals={"preferred_language": "es"})
    assert decide(book, in_spanish, History(), now=NOON).action == "language_queue"


# -- the leak check --------------------------------------------------------------------

LEAKS = [
    (
        "account_retention",
        'suitability = { not = { segment = "enterprise_admin" } }',
        'suitability = { signal = "support_tickets_30d", op = "<", value = 2 }',
        "actions.loyalty_credit: reads signal 'support_tickets_30d', which purpose "
        "'account_retention' does not release",
    ),
    (
        "support_triage",
        'eligibility = { not = { signal = "tickets_created_7d", op = ">=", value = 2 } }\n'
        "applicability = { any = [",
        'eligibility = { segment = "high_risk_churn" }\napplicability = { any = [',
        "actions.kb_article: reads segment 'high_risk_churn', which purpose "
        "'support_triage' does not release",
    ),
]


@pytest.mark.parametrize(("journey", "old", "new", "message"), LEAKS)
def test_a_leaking_copy_is_refused_naming_the_action_and_what_it_reads(
    journey: str, old: str, new: str, message: str, tmp_path: Path
) -> None:
    text = (EXAMPLES / "playbooks" / f"{journey}.toml").read_text(encoding="utf-8")
    assert text.count(old) == 1
    leaking = tmp_path / f"{journey}.toml"
    leaking.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(PlaybookError) as refused:
        load_playbook(leaking, CONTRACT)
    assert message in str(refused.value)
    assert len(refused.value.problems) == 1


# -- the guide's worked example --------------------------------------------------------

GUIDE = EXAMPLES.parents[3] / "docs" / "guide" / "journeys.md"


def _within(part: object, whole: object) -> bool:
    """Whether every key and item of `part` is in `whole`, with the same values."""
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(
            key in whole and _within(value, whole[key]) for key, value in part.items()
        )
    if isinstance(part, list) and not all(isinstance(item, str | int | float) for item in part):
        return isinstance(whole, list) and all(
            any(_within(item, other) for other in whole) for item in part
        )
    return part == whole


def test_the_guides_worked_example_is_the_example_playbook() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    guide = text[text.index("## Writing a playbook, step by step") : text.index("## The file")]
    blocks = re.findall(r"```toml\n(.*?)```", guide, flags=re.DOTALL)
    example = tomllib.loads(
        (EXAMPLES / "playbooks" / "support_triage.toml").read_text(encoding="utf-8")
    )
    assert len(blocks) >= 4
    for block in blocks:
        assert _within(tomllib.loads(block), example), block
