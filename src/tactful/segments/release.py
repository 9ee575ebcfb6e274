"""Reading back, for one purpose: segments and individual signals.

Both ask the decision function first; both read only data collected under the
purpose asked for; neither touches the identity vault.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tactful.privacy.consent import ConsentRecorder
from tactful.privacy.contract import Contract, SignalKind
from tactful.privacy.decisions import Action, Actor, Decision, decide, enforce
from tactful.privacy.errors import InvalidRequest, Violation
from tactful.privacy.pseudonym import Pseudonymizer
from tactful.segments.frustration import frustration_level
from tactful.segments.ingest import SubjectInput
from tactful.segments.intent import infer_intent, next_action
from tactful.segments.journey import (
    HANDOFF_KINDS,
    HANDOFF_PARTS,
    NEXT_ACTION,
    Handoff,
    error_codes,
    since,
    steps,
)
from tactful.segments.minimum import MinimumSegmentSize
from tactful.segments.reader import Reader
from tactful.segments.store import (
    AttributeScalar,
    BehaviorReads,
)
from tactful.segments.visitor import visitor_segments
from tactful.timestamps import duration_us, to_us


@dataclass(frozen=True)
class Released:
    """What leaves: the decision, and the released items with their values (if any)."""

    decision: Decision
    values: dict[str, AttributeScalar]
    subject: str  # the subject's pseudonym under the primary key, for the access log


class Releaser:
    def __init__(
        self,
        contract: Contract,
        pseudonymizer: Pseudonymizer,
        store: BehaviorReads,
        consent: ConsentRecorder,
        minimum: MinimumSegmentSize | None = None,
    ) -> None:
        self._contract = contract
        self._pseudonymizer = pseudonymizer
        self._store = store
        self._consent = consent
        self._minimum = minimum
        self._reader = Reader(contract, store, minimum)

    def segments(
        self, actor: Actor, subject: SubjectInput, purpose: str, *, now: datetime
    ) -> Released:
        """The segments of one subject that the purpose releases.

        One decision, after the lookup (the hot path): reading a subject's activity
        releases nothing by itself, and the decision then releases or refuses it all.
        """
        candidates = self._pseudonymizer.resolve(subject.namespace, subject.identifier)
        granted, activity = False, None
        if purpose in self._contract.purposes:
            granted, activity = self._store.consent_and_activity(candidates, purpose)
            granted = granted or not self._consent.needs_consent(purpose)
        members = visitor_segments(activity, now_us=to_us(now)) if granted else frozenset()
        if granted and activity is not None:
            released = self._contract.purposes[purpose].releases_segments
            members |= self._reader.rule_members(candidates, purpose, activity, now, released)
        if members and self._minimum is not None:
            members -= self._minimum.too_small(purpose, to_us(now))
        decision = enforce(
            decide(
                self._contract,
                actor,
                Action.READ_SEGMENTS,
                purpose,
                members,
                consent_granted=granted,
            )
        )
        return Released(decision, dict.fromkeys(decision.released, True), candidates[0])

    def signals(
        self,
        actor: Actor,
        subject: SubjectInput,
        purpose: str,
        names: Sequence[str],
        *,
        now: datetime,
    ) -> Released:
        """The requested signals, all released by the purpose, or ReleaseNotAllowed."""
        candidates, granted = self._prepare(actor, Action.READ_SIGNALS, subject, purpose)
        unknown = [
            Violation(f"names[{i}]", f"signal {n!r} is not declared in the contract")
            for i, n in enumerate(names)
            if n not in self._contract.signals
        ]
        if not names:
            unknown.append(Violation("names", "name at least one signal"))
        if unknown:
            raise InvalidRequest(unknown)
        decision = enforce(
            decide(
                self._contract, actor, Action.READ_SIGNALS, purpose, names, consent_granted=granted
            )
        )
        found = self._reader.signals(decision.released, candidates, purpose, to_us(now))
        values = {name: value for name, value in found.items() if value is not None}
        return Released(decision, values, candidates[0])

    def handoff(
        self, actor: Actor, subject: SubjectInput, purpose: str, *, now: datetime
    ) -> Handoff:
        """The handoff parts the purpose releases; the others are withheld, not refused."""
        candidates, granted = self._prepare(actor, Action.READ_HANDOFF, subject, purpose)
        signals = self._contract.signals
        journey = {name: spec for name, spec in signals.items() if spec.kind in HANDOFF_KINDS}
        asked = decide(
            self._contract, actor, Action.READ_HANDOFF, purpose, journey, consent_granted=granted
        )
        decision = enforce(asked)
        windows = {
            journey[name].kind: duration_us(w)
            for name in decision.released
            if (w := journey[name].window)
        }
        now_us = to_us(now)
        start = now_us - max(windows.values(), default=0)
        events = self._store.recent_events(candidates, purpose, start) if windows else []
        found = {
            part: since(events, now_us - windows[kind])
            for part, kind in HANDOFF_PARTS.items()
            if kind in windows
        }
        states = self._contract.states
        intent = infer_intent(found["intent"], states.intent) if "intent" in found else None
        frustration = (
            frustration_level(found["frustration"], states.frustration)
            if "frustration" in found
            else None
        )
        action = (
            next_action(intent.intent, frustration)
            if intent is not None and frustration is not None
            else None
        )
        withheld = [part for part in HANDOFF_PARTS if part not in found]
        return Handoff(
            decision,
            candidates[0],
            intent,
            steps(found["recent_steps"]) if "recent_steps" in found else None,
            error_codes(found["last_error_codes"]) if "last_error_codes" in found else None,
            frustration,
            action,
            tuple(withheld + ([NEXT_ACTION] if action is None else [])),
        )

    def held(
        self, pseudonyms: Sequence[str], purpose: str, now: datetime
    ) -> tuple[list[str], dict[str, AttributeScalar]]:
        """Everything computed about a subject under a purpose, released or not: the
        subject's own export, never a caller's read."""
        candidates = tuple(pseudonyms)
        _, activity = self._store.consent_and_activity(candidates, purpose)
        members = set(visitor_segments(activity, now_us=to_us(now)))
        if activity is not None:
            members |= self._reader.rule_members(
                candidates, purpose, activity, now, self._contract.segments
            )
        signals = {}
        every = self._reader.signals(
            sorted(self._contract.signals), candidates, purpose, to_us(now), activity
        )
        for name, value in every.items():
            counted = self._contract.signals[name].kind in (SignalKind.COUNT, SignalKind.DISTINCT)
            if value is not None and (not counted or value):
                signals[name] = value
        return sorted(members), signals

    def _prepare(
        self, actor: Actor, action: Action, subject: SubjectInput, purpose: str
    ) -> tuple[tuple[str, ...], bool]:
        """Role and purpose first (no lookups for a caller who may not ask), then the
        subject's pseudonyms and consent state."""
        enforce(decide(self._contract, actor, action, purpose, consent_granted=True))
        candidates = self._pseudonymizer.resolve(subject.namespace, subject.identifier)
        return candidates, self._consent.is_granted(candidates, purpose)
