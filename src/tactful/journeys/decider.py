"""A journey's decision for some pseudonyms now: what the purpose releases about them
(the playbook's signals and segments, the journey states), their journey memory, and
the decision itself (decide.py). It remembers nothing; the server's engine
(engine.py) and the release gates (gates.py, over a replayed journey) decide through it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Protocol

from tactful.journeys import decide
from tactful.journeys.conditions import Reads
from tactful.journeys.holdout import Arm
from tactful.journeys.memory import JourneyMemory, OfferResult, Remembered
from tactful.journeys.next_action import Ask, Previous
from tactful.journeys.playbook import Playbook
from tactful.privacy.contract import Contract, SignalKind
from tactful.privacy.errors import InvalidRequest, Violation
from tactful.segments.frustration import Level, frustration_level
from tactful.segments.intent import Inference, Intent, infer_intent
from tactful.segments.journey import since
from tactful.segments.reader import Observation
from tactful.segments.states import uncertainty_level, urgency_level
from tactful.segments.store import JourneyEvent
from tactful.timestamps import duration_us, from_us, to_us


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


_STATE_KINDS = (
    SignalKind.INTENT,
    SignalKind.FRUSTRATION,
    SignalKind.UNCERTAINTY,
    SignalKind.URGENCY,
)


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
        # Each version's conditions compiled once: a Decider lives as long as what is
        # served, and the engine makes a new one when a release changes it.
        self._ready = {name: decide.Compiled.of(p) for name, p in playbooks.items()}
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
        arm: Arm = Arm.TREATMENT,
    ) -> tuple[decide.Decision, Remembered | None, frozenset[str]]:
        """The decision, the earlier offer `ask.previous` settles (with its new result;
        None without one), which the decision already counts, and the person's segments
        among those the playbook reads (for the explanation). `consent`: to the
        journey's purpose (a consent purpose is refused before without it; another
        purpose may condition an action on it). `arm`: a holdout's decision is the
        playbook's baseline, before the ladder and without reading the person."""
        offers = self._memory.recall(candidates, playbook.purpose, playbook.journey, 0)
        settled = None if ask.previous is None else _settled(offers, ask.previous)
        if settled is not None:
            offers = [settled if o.decision_id == settled.decision_id else o for o in offers]
        if arm is not Arm.TREATMENT:
            return decide.held_out(playbook, arm), settled, frozenset()
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
        ready = self._ready[playbook.journey]
        decision = decide.decide(playbook, situation, history, now=now, ready=ready)
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
