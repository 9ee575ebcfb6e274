"""The decision: a playbook, what the purpose releases about a person, and what was
already offered → the next action, its rung on the fallback ladder, and its reasons.

A pure function of its arguments: no I/O, no clock (`now` is a parameter), no store.
Serving it (`Journeys.NextAction`) is a later step.

The ladder, in order, each rung a reason:

1. high frustration or urgency → the playbook's handoff action (HUMAN);
2. intent confidence below `confidence_threshold` (LOW_CONFIDENCE), or the top two
   intents closer than `ambiguity_margin` (AMBIGUOUS) → the clarify action, with the
   top two intent labels as its parameters (CLARIFY);
3. no candidate left → the handoff action (HUMAN, NOTHING_ELIGIBLE);
4. confidence below `moderate_threshold` → the most likely action in its least
   committal form (MOST_LIKELY): among the candidates of the least committal tier
   present (`COMMITMENT`: guide, knowledge_base, reassure, nothing; then retry; then
   compensate), the one arbitration ranks first;
5. otherwise the arbitration winner (NONE).

A candidate is an action of any kind but clarify and handoff whose eligibility,
applicability and suitability hold and that no constraint holds back. Arbitration ranks
candidates by

    priority = propensity (intent confidence) × context_weight × value × levers

ties broken by declaration order in the playbook (the first declared wins).

The clarify and handoff actions are the first declared of their kind whose conditions
hold and that no constraint holds back; the last rung never fails, so when no handoff
action is free, the first declared handoff action is chosen anyway, its reasons kept.
When no clarify action is free, the decision goes to the handoff (NO_CLARIFY_ACTION).

Constraints, `now` a parameter (an aware datetime; a naive one is refused, as in
tactful.timestamps). An offer is inside a window of length w when `now - offer.at < w`:
- frequency_cap: held back (CAPPED) when `count` offers of the action are inside;
- cooldown: held back (COOLDOWN) while `now - last offer < cooldown`;
- never_after_refusal: held back (REFUSED_BEFORE) once any offer of it was refused;
- max_compensations: held back (COMPENSATIONS_CAPPED) when `count` offers of any
  compensate action are inside the window;
- daily_compensation_budget: held back (BUDGET_SPENT) when the day's spend so far
  (`History.compensation_spent_today`, kept by the caller) and the action's `cost`
  would pass the budget, or the spend has reached it;
- quiet_hours: held back (QUIET_HOURS) from `start` (included) to `end` (excluded),
  wrapping past midnight when `end < start`, in the person's local time when the
  `locale_signal` value gives a UTC offset (a number of minutes east of UTC, or text
  "+HH:MM", "-HH:MM", "UTC+HH:MM"), in UTC otherwise.
A held-back action's reason codes are kept on the decision.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum

from tactful.journeys.conditions import (
    AllOf,
    AnyOf,
    Condition,
    ConsentTest,
    InSegment,
    IntentField,
    IntentTest,
    Not,
    SignalTest,
)
from tactful.journeys.holdout import Arm
from tactful.journeys.playbook import Action, ActionKind, Playbook, QuietHours, Rung
from tactful.privacy.rules import signals_of
from tactful.segments.frustration import Frustration
from tactful.segments.rules import matches
from tactful.segments.store import AttributeScalar

# Data categories a decision may name: never a value.
INTENT = "intent"
CONSENT = "consent"
FRUSTRATION = "frustration"
URGENCY = "urgency"

# MOST_LIKELY picks from the least committal tier that has a candidate.
COMMITMENT: Mapping[ActionKind, int] = {
    ActionKind.GUIDE: 0,
    ActionKind.KNOWLEDGE_BASE: 0,
    ActionKind.REASSURE: 0,
    ActionKind.NOTHING: 0,
    ActionKind.RETRY: 1,
    ActionKind.COMPENSATE: 2,
}
_LADDER_KINDS = frozenset({ActionKind.CLARIFY, ActionKind.HANDOFF})
_OFFSET = re.compile(r"(?:UTC)?([+-])([01][0-9]|2[0-3]):?([0-5][0-9])")


class Reason(StrEnum):
    FRUSTRATED = "frustrated"
    URGENT = "urgent"
    LOW_CONFIDENCE = "low_confidence"
    AMBIGUOUS = "ambiguous"
    MODERATE_CONFIDENCE = "moderate_confidence"
    UNCERTAIN = "uncertain"  # a high uncertainty chose among the kinds it calls for
    NOTHING_ELIGIBLE = "nothing_eligible"
    NO_CLARIFY_ACTION = "no_clarify_action"
    CAPPED = "capped"
    COOLDOWN = "cooldown"
    REFUSED_BEFORE = "refused_before"
    COMPENSATIONS_CAPPED = "compensations_capped"
    BUDGET_SPENT = "budget_spent"
    QUIET_HOURS = "quiet_hours"
    HELD_OUT = "held_out"  # in a holdout: the playbook's baseline, no ladder


@dataclass(frozen=True)
class Situation:
    """What the purpose releases about the person at this step."""

    step: str
    channel: str = ""
    segments: frozenset[str] = frozenset()
    signals: Mapping[str, AttributeScalar | None] = field(default_factory=dict)
    intent: str = "unknown"  # the top intent's label
    confidence: float = 0.0  # the top intent's confidence, 0..1
    runner_up: str | None = None  # the second intent's label
    runner_up_confidence: float = 0.0
    frustration: Frustration = Frustration.NONE
    urgent: bool = False
    uncertain: bool = False  # uncertainty is high: hesitating, comparing back and forth
    # The action kinds the high journey states call for (the contract's calls_for):
    # among the candidates, these rank first.
    calls_for: frozenset[str] = frozenset()
    consent: bool = False  # consent to the journey's purpose
    # The journey states the situation draws on (the purpose releases them): what a
    # decision names among its data categories, beside its conditions' categories.
    states: frozenset[str] = frozenset({"intent", "frustration", "urgency"})


@dataclass(frozen=True)
class Offer:
    """An action offered to this person on this journey, and whether they refused it."""

    action: str
    at: datetime
    refused: bool = False


@dataclass(frozen=True)
class History:
    """What was already offered to this person on this journey. Compensations are the
    offers of compensate actions; the day's spend is kept by the caller."""

    offers: tuple[Offer, ...] = ()
    compensation_spent_today: float = 0.0


@dataclass(frozen=True)
class Decision:
    action: str | None
    kind: ActionKind | None
    template: str | None
    rung: Rung
    confidence: float
    runner_up: str | None
    reasons: tuple[Reason, ...]  # why this rung, and why others were held back
    categories: frozenset[str]  # data categories read: "signal:x", "segment:y", "intent" …
    playbook_version: int
    parameters: tuple[str, ...] = ()  # clarify: the top two intent labels
    arm: Arm = Arm.TREATMENT  # a holdout's decision is the baseline (`held_out`)


def held_out(playbook: Playbook, arm: Arm) -> Decision:
    """A held-out person's decision: the playbook's baseline, whatever their situation
    (nothing about them is read), on no rung of the ladder."""
    assert playbook.baseline is not None, "the catalogue refuses a holdout without one"
    action = playbook.actions[playbook.baseline]
    return Decision(
        action=action.id,
        kind=action.kind,
        template=action.template,
        rung=Rung.NONE,
        confidence=0.0,
        runner_up=None,
        reasons=(Reason.HELD_OUT,),
        categories=frozenset(),
        playbook_version=playbook.version,
        arm=arm,
    )


# -- conditions ------------------------------------------------------------------------


def evaluate(condition: Condition | None, situation: Situation, *, now: datetime) -> bool:
    """Whether the condition holds for the situation; a missing condition holds."""
    if condition is None:
        return True
    if isinstance(condition, SignalTest):
        return matches(condition.rule, situation.signals, now=now)
    if isinstance(condition, InSegment):
        return condition.segment in situation.segments
    if isinstance(condition, ConsentTest):
        return situation.consent is condition.granted
    if isinstance(condition, IntentTest):
        return _intent(condition, situation)
    if isinstance(condition, Not):
        return not evaluate(condition.condition, situation, now=now)
    if isinstance(condition, AllOf):
        return all(evaluate(c, situation, now=now) for c in condition.conditions)
    assert isinstance(condition, AnyOf)
    return any(evaluate(c, situation, now=now) for c in condition.conditions)


def categories(condition: Condition | None) -> frozenset[str]:
    """The data categories a condition reads, named, never valued."""
    if condition is None:
        return frozenset()
    if isinstance(condition, SignalTest):
        return frozenset(f"signal:{s}" for s in signals_of(condition.rule))
    if isinstance(condition, InSegment):
        return frozenset({f"segment:{condition.segment}"})
    if isinstance(condition, IntentTest):
        return frozenset({INTENT})
    if isinstance(condition, ConsentTest):
        return frozenset({CONSENT})
    if isinstance(condition, Not):
        return categories(condition.condition)
    return frozenset().union(*(categories(c) for c in condition.conditions))


def _intent(test: IntentTest, situation: Situation) -> bool:
    if test.field in (IntentField.CONFIDENCE, IntentField.RUNNER_UP_CONFIDENCE):
        value = (
            situation.confidence
            if test.field is IntentField.CONFIDENCE
            else situation.runner_up_confidence
        )
        assert isinstance(test.value, float)
        return {
            "<": value < test.value,
            "<=": value <= test.value,
            ">": value > test.value,
            ">=": value >= test.value,
        }[test.op]
    label = situation.intent if test.field is IntentField.LABEL else situation.runner_up
    if test.op == "==":
        return label == test.value
    if test.op == "!=":
        return label != test.value
    assert isinstance(test.value, tuple)
    return (label in test.value) if test.op == "in" else (label not in test.value)


def _action_categories(action: Action) -> frozenset[str]:
    found = categories(action.eligibility) | categories(action.applicability)
    found |= categories(action.suitability)
    quiet = action.constraints.quiet_hours
    if quiet is not None and quiet.locale_signal is not None:
        found |= {f"signal:{quiet.locale_signal}"}
    return found


Test = Callable[["Situation", datetime], bool]


def compiled(condition: Condition | None) -> Test:
    """`evaluate` of one condition worked out once: a closure per node, so a decision
    asks no node its type. The same answer as `evaluate`, in the same order."""
    if condition is None:
        return _holds
    if isinstance(condition, SignalTest):
        rule = condition.rule
        return lambda situation, now: matches(rule, situation.signals, now=now)
    if isinstance(condition, InSegment):
        segment = condition.segment
        return lambda situation, now: segment in situation.segments
    if isinstance(condition, ConsentTest):
        granted = condition.granted
        return lambda situation, now: situation.consent is granted
    if isinstance(condition, IntentTest):
        test = condition
        return lambda situation, now: _intent(test, situation)
    if isinstance(condition, Not):
        inner = compiled(condition.condition)
        return lambda situation, now: not inner(situation, now)
    parts = tuple(compiled(c) for c in condition.conditions)
    return _all_of(parts) if isinstance(condition, AllOf) else _any_of(parts)


def _holds(situation: Situation, now: datetime) -> bool:
    return True


# Loops, not all()/any() over a generator: no generator made per node per decision.
def _all_of(parts: tuple[Test, ...]) -> Test:
    def test(situation: Situation, now: datetime) -> bool:
        for part in parts:  # noqa: SIM110
            if not part(situation, now):
                return False
        return True

    return test


def _any_of(parts: tuple[Test, ...]) -> Test:
    def test(situation: Situation, now: datetime) -> bool:
        for part in parts:  # noqa: SIM110
            if part(situation, now):
                return True
        return False

    return test


@dataclass(frozen=True)
class Compiled:
    """A playbook version's actions made ready to decide: each one's three conditions as
    one test, and the data categories it reads. Made once per version served (the
    engine's Decider, rebuilt whenever a release changes what is served); `decide`
    without it makes its own."""

    playbook: Playbook
    applies: Mapping[str, Test]
    categories: Mapping[str, frozenset[str]]

    @classmethod
    def of(cls, playbook: Playbook) -> Compiled:
        actions = playbook.actions.values()
        return cls(
            playbook,
            {a.id: _all_of(tuple(compiled(c) for c in _conditions(a) if c)) for a in actions},
            {a.id: _action_categories(a) for a in actions},
        )


def _conditions(action: Action) -> tuple[Condition | None, ...]:
    return (action.eligibility, action.applicability, action.suitability)


# -- constraints -----------------------------------------------------------------------


def _utc(now: datetime) -> datetime:
    if now.utcoffset() is None:  # as tactful.timestamps: a zone would be a guess
        raise TypeError(f"a decision's time needs a time zone; {now} has none")
    return now.astimezone(UTC)


def _offset(value: AttributeScalar | None) -> timedelta | None:
    """A UTC offset from a locale signal's value, or None when it gives none."""
    if isinstance(value, bool) or value is None or isinstance(value, datetime):
        return None
    if isinstance(value, int | float):
        return timedelta(minutes=value) if abs(value) <= 14 * 60 else None
    match = _OFFSET.fullmatch(value.strip())
    if match is None:
        return None
    sign = -1 if match.group(1) == "-" else 1
    return sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))


def in_quiet_hours(quiet: QuietHours, situation: Situation, *, now: datetime) -> bool:
    """Whether `now` falls in the quiet hours, in the person's zone where known."""
    local = _utc(now)
    if quiet.locale_signal is not None:
        offset = _offset(situation.signals.get(quiet.locale_signal))
        if offset is not None:
            local = local + offset
    clock = time(local.hour, local.minute, local.second, local.microsecond)
    if quiet.start <= quiet.end:
        return quiet.start <= clock < quiet.end
    return clock >= quiet.start or clock < quiet.end


def held_back(
    action: Action,
    playbook: Playbook,
    situation: Situation,
    history: History,
    *,
    now: datetime,
) -> tuple[Reason, ...]:
    """Every constraint that holds the action back now; empty when it is free."""
    now = _utc(now)
    rules = action.constraints
    mine = [o for o in history.offers if o.action == action.id]
    found: list[Reason] = []
    if rules.frequency_cap is not None:
        inside = [o for o in mine if now - _utc(o.at) < rules.frequency_cap.window]
        if len(inside) >= rules.frequency_cap.count:
            found.append(Reason.CAPPED)
    if rules.cooldown is not None and any(now - _utc(o.at) < rules.cooldown for o in mine):
        found.append(Reason.COOLDOWN)
    if rules.never_after_refusal and any(o.refused for o in mine):
        found.append(Reason.REFUSED_BEFORE)
    if rules.max_compensations is not None:
        window = rules.max_compensations.window
        given = [
            o
            for o in history.offers
            if (a := playbook.actions.get(o.action)) is not None
            and a.kind is ActionKind.COMPENSATE
            and now - _utc(o.at) < window
        ]
        if len(given) >= rules.max_compensations.count:
            found.append(Reason.COMPENSATIONS_CAPPED)
    budget = rules.daily_compensation_budget
    spent = history.compensation_spent_today
    if budget is not None and (spent >= budget or spent + action.cost > budget):
        found.append(Reason.BUDGET_SPENT)
    if rules.quiet_hours is not None and in_quiet_hours(rules.quiet_hours, situation, now=now):
        found.append(Reason.QUIET_HOURS)
    return tuple(found)


# -- arbitration and the ladder --------------------------------------------------------


def priority(action: Action, situation: Situation) -> float:
    """propensity (the intent's confidence) × context_weight × value × levers."""
    p = action.priority
    return situation.confidence * p.context_weight * p.value * p.levers


def arbitrate(candidates: list[Action], situation: Situation) -> list[Action]:
    """Candidates of the kinds the journey states call for first, then the others; each
    group highest priority first, ties in declaration order (stable sort)."""
    called = situation.calls_for
    return sorted(candidates, key=lambda a: (str(a.kind) not in called, -priority(a, situation)))


def decide(
    playbook: Playbook,
    situation: Situation,
    history: History,
    *,
    now: datetime,
    ready: Compiled | None = None,
) -> Decision:
    """The next action for this person at this step, its rung and its reasons. `ready`:
    the playbook compiled (`Compiled.of(playbook)`), made once for many decisions."""
    if ready is None or ready.playbook is not playbook:
        ready = Compiled.of(playbook)
    applies, action_categories = ready.applies, ready.categories
    held: list[Reason] = []
    candidates: list[Action] = []
    free: dict[ActionKind, Action] = {}
    for action in playbook.actions.values():
        if not applies[action.id](situation, now):
            continue
        reasons = held_back(action, playbook, situation, history, now=now)
        held.extend(r for r in reasons if r not in held)
        if reasons:
            continue
        if action.kind in _LADDER_KINDS:
            free.setdefault(action.kind, action)
        else:
            candidates.append(action)

    ladder = playbook.ladder
    read = situation.states

    def made(
        action: Action, rung: Rung, why: list[Reason], parameters: tuple[str, ...] = ()
    ) -> Decision:
        return Decision(
            action=action.id,
            kind=action.kind,
            template=action.template,
            rung=rung,
            confidence=situation.confidence,
            runner_up=situation.runner_up,
            reasons=tuple(why) + tuple(r for r in held if r not in why),
            categories=read | action_categories[action.id],
            playbook_version=playbook.version,
            parameters=parameters,
        )

    def human(why: list[Reason]) -> Decision:
        handoff = free.get(ActionKind.HANDOFF) or next(
            a for a in playbook.actions.values() if a.kind is ActionKind.HANDOFF
        )
        return made(handoff, Rung.HUMAN, why)

    why: list[Reason] = []
    if situation.frustration is Frustration.HIGH:
        why.append(Reason.FRUSTRATED)
    if situation.urgent:
        why.append(Reason.URGENT)
    if why:
        return human(why)

    if situation.confidence < ladder.confidence_threshold:
        why.append(Reason.LOW_CONFIDENCE)
    if (
        situation.runner_up is not None
        and situation.confidence - situation.runner_up_confidence < ladder.ambiguity_margin
    ):
        why.append(Reason.AMBIGUOUS)
    if why:
        clarify = free.get(ActionKind.CLARIFY)
        if clarify is None:
            return human([*why, Reason.NO_CLARIFY_ACTION])
        options = (situation.intent,) + (
            (situation.runner_up,) if situation.runner_up is not None else ()
        )
        return made(clarify, Rung.CLARIFY, why, options)

    if not candidates:
        return human([Reason.NOTHING_ELIGIBLE])
    ranked = arbitrate(candidates, situation)
    # A high uncertainty says so when it changed nothing less than the order.
    steer = (
        [Reason.UNCERTAIN]
        if situation.uncertain and str(ranked[0].kind) in situation.calls_for
        else []
    )
    if situation.confidence < ladder.moderate_threshold:
        tier = min(COMMITMENT[a.kind] for a in ranked)
        gentlest = next(a for a in ranked if COMMITMENT[a.kind] == tier)
        return made(gentlest, Rung.MOST_LIKELY, [Reason.MODERATE_CONFIDENCE, *steer])
    return made(ranked[0], Rung.NONE, steer)
