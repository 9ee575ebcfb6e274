"""The journey engine as a use case: NextAction and the handoff's journey parts, over
the stores. What it is asked and what it answers are values here; `decide.py` makes
the decision itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Protocol

from tactful.journeys import decide
from tactful.journeys.conditions import Reads
from tactful.journeys.explanation import explain
from tactful.journeys.memory import JourneyMemory, OfferResult, Remembered
from tactful.journeys.playbook import ActionKind, Playbook
from tactful.privacy.consent import ConsentRecorder
from tactful.privacy.contract import Contract, SignalKind
from tactful.privacy.decisions import Action, Actor, enforce
from tactful.privacy.decisions import Decision as AccessDecision
from tactful.privacy.decisions import decide as decide_access
from tactful.privacy.errors import InvalidRequest, Violation
from tactful.privacy.pseudonym import Pseudonymizer
from tactful.segments.frustration import Level, frustration_level
from tactful.segments.ingest import SubjectInput
from tactful.segments.intent import Inference, Intent, infer_intent
from tactful.segments.journey import Handoff, since
from tactful.segments.reader import Observation
from tactful.segments.states import uncertainty_level, urgency_level
from tactful.segments.store import JourneyEvent
from tactful.timestamps import duration_us, from_us, to_us


class HandoffSource(Protocol):
    """Where the handoff comes from (segments.release.Releaser)."""

    def handoff(
        self, actor: Actor, subject: SubjectInput, purpose: str, *, now: datetime
    ) -> Handoff: ...


class Observer(Protocol):
    """What the engine reads through (segments.reader.Reader)."""

    def observe(
        self,
        candidates: tuple[str, ...],
        purpose: str,
        signals: Sequence[str],
        segments: frozenset[str],
        *,
        events_since_us: int | None,
        now: datetime,
    ) -> Observation: ...


@dataclass(frozen=True)
class Previous:
    """What became of the last decision, reported with the next question."""

    decision_id: str
    result: OfferResult


@dataclass(frozen=True)
class Ask:
    """NextAction's question: where the person is on which journey."""

    journey: str
    channel: str = ""  # "web", "chat", "email", "agent_console" …: the frontend's word
    step: str = ""  # the page or step the person is on
    previous: Previous | None = None


@dataclass(frozen=True)
class JourneyDecision:
    """NextAction's answer and what its access record says."""

    access: AccessDecision  # requested: the journey and data categories; released: the action
    subject: str  # the subject's pseudonym under the primary key, for the access log
    decision_id: str
    journey: str
    purpose: str
    decision: decide.Decision
    explanation: str  # plain language for the person: categories of data, never values
    offer: Remembered | None = None  # what `JourneyEngine.remember` keeps
    settles: Remembered | None = None  # the earlier offer, with what became of it


@dataclass(frozen=True)
class Attempt:
    """A step already attempted on a journey: an action offered, and what became of it."""

    decision_id: str
    journey: str
    action: str
    kind: str
    rung: str
    offered_at: datetime
    result: OfferResult


@dataclass(frozen=True)
class JourneyHandoff:
    """GetHandoffContext: the handoff as before, with the journey's parts. `attempts` is
    None when the purpose has no journey; `recommended` is the engine's recommendation
    for that journey (not an offer: nothing is remembered), None when there is none."""

    handoff: Handoff
    attempts: tuple[Attempt, ...] | None = None
    recommended: JourneyDecision | None = None


# -- the engine ------------------------------------------------------------------------

# The journey states a purpose may release, as signals of these kinds.
_STATE_KINDS = (
    SignalKind.INTENT,
    SignalKind.FRUSTRATION,
    SignalKind.UNCERTAINTY,
    SignalKind.URGENCY,
)


def new_decision_id() -> str:
    """A decision's id: random, so it says nothing of who or when."""
    return f"dec_{uuid.uuid4().hex}"


@dataclass(frozen=True)
class _Reads:
    """What a journey's decisions read under its purpose, worked out once at start."""

    signals: tuple[str, ...]  # the conditions' signals
    segments: frozenset[str]  # the conditions' segments, and urgency's high-value ones
    conditioned: frozenset[str]  # the conditions' segments
    states: Mapping[SignalKind, tuple[str, timedelta]]  # released state: (signal, window)

    @classmethod
    def of(cls, playbook: Playbook, contract: Contract) -> _Reads:
        read = Reads()
        for action in playbook.actions.values():
            read = read | action.reads()
        released = contract.purposes[playbook.purpose].releases_signals
        states: dict[SignalKind, tuple[str, timedelta]] = {}
        for name in sorted(released):
            spec = contract.signals[name]
            if spec.kind in _STATE_KINDS and spec.window is not None:
                states.setdefault(spec.kind, (name, spec.window))
        segments = read.segments
        if SignalKind.URGENCY in states:  # its high-value accounts, read for urgency only
            segments |= contract.states.urgency.high_value_segments
        return cls(tuple(sorted(read.signals)), segments, read.segments, states)

    def events_since_us(self, now_us: int) -> int | None:
        if not self.states:
            return None
        return now_us - max(duration_us(w) for _, w in self.states.values())


class Decider:
    """A journey's decision for some pseudonyms now, over what the purpose releases and
    the journey's memory; remembers nothing. The server's engine and the release gates
    (gates.py, over a replayed journey) decide through it."""

    def __init__(
        self, contract: Contract, playbooks: Mapping[str, Playbook], reader: Observer,
        memory: JourneyMemory,
    ) -> None:  # fmt: skip
        self._contract = contract
        self._reads = {name: _Reads.of(p, contract) for name, p in playbooks.items()}
        self._budgeted = {
            name: any(a.constraints.daily_compensation_budget for a in p.actions.values())
            for name, p in playbooks.items()
        }
        self._reader = reader
        self._memory = memory

    def recommend(
        self,
        playbook: Playbook,
        candidates: tuple[str, ...],
        ask: Ask,
        *,
        now: datetime,
        consent: bool = True,
    ) -> tuple[decide.Decision, Remembered | None, frozenset[str]]:
        """The decision, the earlier offer `ask.previous` settles (with its new result;
        None without one), which the decision already counts, and the person's segments
        among those the playbook reads (for the explanation). `consent`: to the
        journey's purpose (a consent purpose is refused before without it; another
        purpose may condition an action on it)."""
        offers = self._memory.recall(candidates, playbook.purpose, playbook.journey, 0)
        settled = None if ask.previous is None else _settled(offers, ask.previous)
        if settled is not None:
            offers = [settled if o.decision_id == settled.decision_id else o for o in offers]
        situation = self._situation(playbook, candidates, ask, now, consent)
        spent = 0.0
        if self._budgeted[playbook.journey]:  # a sum over everyone: only when it matters
            day = to_us(datetime.combine(now.astimezone(UTC).date(), time(), UTC))
            spent = self._memory.compensation_spent(playbook.journey, day)
        history = decide.History(
            tuple(
                decide.Offer(o.action, from_us(o.offered_at_us), o.result is OfferResult.REFUSED)
                for o in offers
                if o.action
            ),
            spent,
        )
        decision = decide.decide(playbook, situation, history, now=now)
        return decision, settled, situation.segments

    def _situation(
        self,
        playbook: Playbook,
        candidates: tuple[str, ...],
        ask: Ask,
        now: datetime,
        consent: bool,
    ) -> decide.Situation:
        reads = self._reads[playbook.journey]
        now_us = to_us(now)
        seen = self._reader.observe(
            candidates,
            playbook.purpose,
            reads.signals,
            reads.segments,
            events_since_us=reads.events_since_us(now_us),
            now=now,
        )

        def recent(kind: SignalKind) -> list[JourneyEvent] | None:
            if kind not in reads.states:
                return None
            return since(seen.events, now_us - duration_us(reads.states[kind][1]))

        states = self._contract.states
        on_intent = recent(SignalKind.INTENT)
        if on_intent is None:
            # No intent released: nothing to be unsure of. The propensity is 1 and the
            # clarify and most-likely rungs, which are about an unsure intent, stay quiet.
            inference = Inference(Intent.UNKNOWN, 1.0)
        else:
            inference = infer_intent(on_intent, states.intent)
        readers: dict[SignalKind, Callable[[list[JourneyEvent]], Level]] = {
            SignalKind.FRUSTRATION: lambda e: frustration_level(e, states.frustration),
            SignalKind.UNCERTAINTY: lambda e: uncertainty_level(
                e, states.uncertainty, states.intent.page_topics
            ),
            SignalKind.URGENCY: lambda e: urgency_level(e, states.urgency, segments=seen.segments),
        }
        levels = {
            kind: read(events)
            for kind, read in readers.items()
            if (events := recent(kind)) is not None
        }
        calls_for = frozenset(
            kind
            for state, level in levels.items()
            if level is Level.HIGH
            for kind in states.calls_for(str(state))
        )
        return decide.Situation(
            step=ask.step,
            channel=ask.channel,
            segments=seen.segments & reads.conditioned,
            signals=seen.signals,
            intent=str(inference.intent),
            confidence=inference.confidence,
            runner_up=None if inference.runner_up is None else str(inference.runner_up),
            runner_up_confidence=inference.runner_up_confidence,
            frustration=levels.get(SignalKind.FRUSTRATION, Level.NONE),
            urgent=levels.get(SignalKind.URGENCY) is Level.HIGH,
            uncertain=levels.get(SignalKind.UNCERTAINTY) is Level.HIGH,
            calls_for=calls_for,
            consent=consent,
            states=frozenset(str(k) for k in reads.states),
        )


class JourneyEngine:
    """NextAction over the stores: the purpose's decision first (no lookup for a caller
    who may not ask), then what the purpose releases, the journey's memory, the
    decision, and the memory of this offer."""

    def __init__(
        self,
        contract: Contract,
        playbooks: Mapping[str, Playbook],
        pseudonymizer: Pseudonymizer,
        consent: ConsentRecorder,
        reader: Observer,
        memory: JourneyMemory,
        handoffs: HandoffSource,
        *,
        new_id: Callable[[], str] = new_decision_id,
    ) -> None:
        self._handoffs = handoffs
        self._contract = contract
        self._playbooks = dict(playbooks)
        self._decider = Decider(contract, playbooks, reader, memory)
        self._pseudonymizer = pseudonymizer
        self._consent = consent
        self._memory = memory
        self._new_id = new_id

    @property
    def playbooks(self) -> Mapping[str, Playbook]:
        return self._playbooks

    def next_action(
        self, actor: Actor, subject: SubjectInput, ask: Ask, *, now: datetime
    ) -> JourneyDecision:
        """The decision, read-only: `remember` keeps it (and what became of the previous
        one), so that the reads need not wait for the writes. Two calls for one person at
        the same moment may both count the memory as it was before either."""
        playbook = self._playbook(ask.journey)
        candidates, access, granted = self._allow(actor, subject, playbook)
        decision, settled, member_of = self._decider.recommend(
            playbook, candidates, ask, now=now, consent=granted
        )
        decision_id = self._new_id()
        offer = Remembered(
            decision_id,
            candidates[0],
            playbook.purpose,
            playbook.journey,
            decision.action or "",
            str(decision.kind or ""),
            str(decision.rung),
            playbook.version,
            to_us(now),
            amount=_cost(playbook, decision),
        )
        answer = self._answer(
            access, candidates[0], decision_id, playbook, decision, ask, member_of
        )
        return replace(answer, offer=offer, settles=settled)

    def remember(self, decided: JourneyDecision) -> None:
        """Keep the decision's offer, and what became of the previous one."""
        if decided.settles is not None:
            previous = decided.settles
            self._memory.settle([previous.pseudonym], previous.decision_id, previous.result)
        if decided.offer is not None:
            self._memory.remember(decided.offer)

    def handoff(
        self, actor: Actor, subject: SubjectInput, purpose: str, *, now: datetime
    ) -> JourneyHandoff:
        """The handoff (the releaser decides who may see which part) with the journey's
        parts: the steps attempted on the purpose's journey and what the engine would
        do now (remembered as nothing: the agent decides). Withheld when no journey is
        bound to the purpose."""
        handoff = self._handoffs.handoff(actor, subject, purpose, now=now)
        playbook = next((p for p in self._playbooks.values() if p.purpose == purpose), None)
        if playbook is None:
            return JourneyHandoff(handoff)
        candidates = self._pseudonymizer.resolve(subject.namespace, subject.identifier)
        offers = self._memory.recall(candidates, purpose, playbook.journey, 0)
        attempts = tuple(
            Attempt(
                o.decision_id,
                o.journey,
                o.action,
                o.kind,
                o.rung,
                from_us(o.offered_at_us),
                o.result,
            )
            for o in offers
            if o.action
        )
        decision, _, member_of = self._decider.recommend(
            playbook, candidates, Ask(playbook.journey, "agent"), now=now
        )
        recommended = self._answer(
            handoff.decision, candidates[0], "", playbook, decision, Ask(playbook.journey),
            member_of,
        )  # fmt: skip
        return JourneyHandoff(handoff, attempts, recommended)

    def _playbook(self, journey: str) -> Playbook:
        found = self._playbooks.get(journey)
        if found is None:
            known = ", ".join(sorted(self._playbooks)) or "none"
            raise InvalidRequest(
                [Violation("journey", f"journey {journey!r} is not declared; declared: {known}")]
            )
        return found

    def _allow(
        self, actor: Actor, subject: SubjectInput, playbook: Playbook
    ) -> tuple[tuple[str, ...], AccessDecision, bool]:
        requested = (f"journey:{playbook.journey}",)
        purpose = playbook.purpose
        enforce(decide_access(self._contract, actor, Action.DECIDE_JOURNEY, purpose,
                              consent_granted=True))  # fmt: skip
        candidates = self._pseudonymizer.resolve(subject.namespace, subject.identifier)
        granted = self._consent.is_granted(candidates, purpose)
        access = enforce(
            decide_access(
                self._contract,
                actor,
                Action.DECIDE_JOURNEY,
                purpose,
                requested,
                consent_granted=granted,
            )
        )
        return candidates, access, granted

    def _answer(
        self,
        access: AccessDecision,
        subject: str,
        decision_id: str,
        playbook: Playbook,
        decision: decide.Decision,
        ask: Ask,
        member_of: frozenset[str],
    ) -> JourneyDecision:
        """The answer, and the access record's view of it: what was read (the journey and
        the data categories, never values) and what was released (the action, its rung),
        with the reason codes in the record's reason."""
        requested = (f"journey:{playbook.journey}", *sorted(decision.categories))
        released = (
            *((f"decision:{decision_id}",) if decision_id else ()),
            f"action:{decision.action or ''}",
            f"rung:{decision.rung}",
        )
        why = ", ".join(decision.reasons) or "confident"
        recorded = replace(
            access,
            requested=requested,
            released=released,
            reason=f"{access.reason}; {playbook.journey} v{playbook.version}: "
            f"{decision.action} on rung {decision.rung} ({why})",
        )
        text = explain(playbook, decision, self._contract, step=ask.step, member_of=member_of)
        return JourneyDecision(
            recorded, subject, decision_id, playbook.journey, playbook.purpose, decision, text
        )


def _settled(offers: Sequence[Remembered], previous: Previous) -> Remembered:
    """The earlier offer `previous` names, with its new result; InvalidRequest when it
    names none of this person's offers on this journey."""
    if previous.result is OfferResult.OFFERED:
        why = "say what became of it: accepted, refused, failed or ignored"
        raise InvalidRequest([Violation("previous.result", why)])
    for offer in offers:
        if offer.decision_id == previous.decision_id:
            return replace(offer, result=previous.result)
    why = "no decision with this id was made for this subject on this journey"
    raise InvalidRequest([Violation("previous.decision_id", why)])


def _cost(playbook: Playbook, decision: decide.Decision) -> float:
    action = playbook.actions.get(decision.action or "")
    return action.cost if action is not None and action.kind is ActionKind.COMPENSATE else 0.0
