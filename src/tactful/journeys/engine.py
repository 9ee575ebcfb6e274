"""The journey engine as a use case: NextAction and the handoff's journey parts, over
the stores. Who may ask is decided here, first; `decider.py` reads and decides;
`next_action.py` holds what is asked and answered.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from tactful.journeys import decide
from tactful.journeys.catalogue import Served
from tactful.journeys.decider import Decider, Observer
from tactful.journeys.explanation import explain
from tactful.journeys.holdout import Arm, Holdouts
from tactful.journeys.memory import JourneyMemory, Remembered
from tactful.journeys.next_action import Ask, Attempt, JourneyDecision, JourneyHandoff
from tactful.journeys.playbook import ActionKind, Playbook
from tactful.journeys.staging import StagedRollout
from tactful.privacy.consent import ConsentRecorder
from tactful.privacy.contract import Contract
from tactful.privacy.decisions import Action, Actor, enforce
from tactful.privacy.decisions import Decision as AccessDecision
from tactful.privacy.decisions import decide as decide_access
from tactful.privacy.errors import InvalidRequest, Violation
from tactful.privacy.pseudonym import Pseudonymizer, normalize
from tactful.privacy.suggestions import hint
from tactful.segments.ingest import SubjectInput
from tactful.segments.journey import Handoff
from tactful.timestamps import from_us, to_us


class PlaybookSource(Protocol):
    """Where the served playbooks come from when they may change (catalogue.py): the
    same object until a playbook or a staging changes; with a journey, looking only at
    what that journey's decision reads."""

    def served(self, journey: str | None = None) -> Served: ...


class HandoffSource(Protocol):
    """Where the handoff comes from (segments.release.Releaser)."""

    def handoff(
        self, actor: Actor, subject: SubjectInput, purpose: str, *, now: datetime
    ) -> Handoff: ...


def new_decision_id() -> str:
    """A decision's id: random, so it says nothing of who or when."""
    return f"dec_{uuid.uuid4().hex}"


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
        holdouts: Holdouts | None = None,
        catalogue: PlaybookSource | None = None,
        staging: StagedRollout | None = None,
    ) -> None:
        self._handoffs = handoffs
        self._contract = contract
        self._reader = reader
        self._memory = memory
        # What is served: the playbooks (live and staged) and their deciders, swapped
        # whole (one attribute) when the catalogue reads a changed file.
        self._serving = self._deciders(Served(dict(playbooks), {}))
        self._catalogue = catalogue
        self._staging = staging  # None: a staged version serves nobody
        self._pseudonymizer = pseudonymizer
        self._consent = consent
        self._new_id = new_id
        self._holdouts = holdouts  # None: everyone is in treatment

    @property
    def playbooks(self) -> Mapping[str, Playbook]:
        """The live playbooks."""
        return self._current()[0].live

    def purpose_of(self, journey: str) -> str:
        """The purpose a journey serves; "" for a journey not declared."""
        found = self._current()[0].live.get(journey)
        return found.purpose if found is not None else ""

    def _deciders(self, served: Served) -> tuple[Served, Decider, Decider]:
        staged = {name: s.playbook for name, s in served.staged.items()}
        return (
            served,
            Decider(self._contract, served.live, self._reader, self._memory),
            Decider(self._contract, staged, self._reader, self._memory),
        )

    def _current(self, journey: str | None = None) -> tuple[Served, Decider, Decider]:
        serving = self._serving
        if self._catalogue is not None:
            served = self._catalogue.served(journey)
            if served is not serving[0]:
                self._serving = serving = self._deciders(served)
        return serving

    def _version(
        self,
        serving: tuple[Served, Decider, Decider],
        live: Playbook,
        arm: Arm,
        subject: SubjectInput,
    ) -> tuple[Playbook, Decider]:
        """The version that serves the person: a staged one serves its share of the
        treatment arm (staging.py); held-out people get the live one's baseline."""
        served, live_decider, staged_decider = serving
        staged = served.staged.get(live.journey)
        if staged is None or arm is not Arm.TREATMENT or self._staging is None:
            return live, live_decider
        normalized = normalize(subject.namespace, subject.identifier)  # checked: resolved
        if self._staging.serves_staged(live.journey, subject.namespace, normalized, staged.share):
            return staged.playbook, staged_decider
        return live, live_decider

    def next_action(
        self, actor: Actor, subject: SubjectInput, ask: Ask, *, now: datetime
    ) -> JourneyDecision:
        """The decision, read-only: `remember` keeps it (and what became of the previous
        one), so that the reads need not wait for the writes. Two calls for one person at
        the same moment may both count the memory as it was before either."""
        serving = self._current(ask.journey)  # one version for the whole decision
        playbook = self._playbook(serving[0].live, ask.journey)
        candidates, access, granted, arm = self._allow(actor, subject, playbook)
        playbook, decider = self._version(serving, playbook, arm, subject)
        decision, settled, member_of = decider.recommend(
            playbook, candidates, ask, now=now, consent=granted, arm=arm
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
            arm=str(decision.arm),
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
        serving = self._current()
        playbook = next((p for p in serving[0].live.values() if p.purpose == purpose), None)
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
        arm = self._arm(playbook, subject)
        playbook, decider = self._version(serving, playbook, arm, subject)
        decision, _, member_of = decider.recommend(
            playbook, candidates, Ask(playbook.journey, "agent"), now=now, arm=arm
        )
        recommended = self._answer(
            handoff.decision, candidates[0], "", playbook, decision, Ask(playbook.journey),
            member_of,
        )  # fmt: skip
        return JourneyHandoff(handoff, attempts, recommended)

    def _playbook(self, playbooks: Mapping[str, Playbook], journey: str) -> Playbook:
        found = playbooks.get(journey)
        if found is None:
            known = hint(journey, playbooks)
            raise InvalidRequest(
                [Violation("journey", f"journey {journey!r} is not declared; {known}")]
            )
        return found

    def _allow(
        self, actor: Actor, subject: SubjectInput, playbook: Playbook
    ) -> tuple[tuple[str, ...], AccessDecision, bool, Arm]:
        """The person's pseudonyms, the access decision, their consent to the purpose and
        their arm on the journey."""
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
        return candidates, access, granted, self._arm(playbook, subject)

    def _arm(self, playbook: Playbook, subject: SubjectInput) -> Arm:
        """The person's arm: from their normalized identifier, never their pseudonym
        (which changes when the pseudonym key rotates)."""
        if self._holdouts is None or not self._holdouts.holds_out(playbook.journey):
            return Arm.TREATMENT
        normalized = normalize(subject.namespace, subject.identifier)  # checked: resolved
        return self._holdouts.arm(playbook.journey, subject.namespace, normalized)

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
            # A held-out decision says so: its person is in the comparison, not the ladder.
            *((f"arm:{decision.arm}",) if decision.arm is not Arm.TREATMENT else ()),
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


def _cost(playbook: Playbook, decision: decide.Decision) -> float:
    action = playbook.actions.get(decision.action or "")
    return action.cost if action is not None and action.kind is ActionKind.COMPENSATE else 0.0
