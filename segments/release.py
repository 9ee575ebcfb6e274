"""Reading back, for one purpose: segments and individual signals.

Both ask the decision function first; both read only data collected under the
purpose asked for; neither touches the identity vault.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from privacy.consent import ConsentRecorder
from privacy.contract import JOURNEY_KINDS, AttributeType, Contract, SignalKind, SignalSpec
from privacy.decisions import Action, Actor, Decision, decide, enforce
from privacy.errors import InvalidRequest, Violation
from privacy.pseudonym import Pseudonymizer
from privacy.rules import signals_of
from segments.frustration import frustration_level
from segments.ingest import SubjectInput, to_us
from segments.intent import infer_intent, next_action
from segments.journey import (
    HANDOFF_PARTS,
    NEXT_ACTION,
    Handoff,
    error_codes,
    journey_signal,
    since,
    steps,
)
from segments.minimum import MinimumSegmentSize
from segments.rules import matches
from segments.store import Activity, AttributeScalar, BehaviorStore
from segments.visitor import visitor_segments


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
        store: BehaviorStore,
        consent: ConsentRecorder,
        minimum: MinimumSegmentSize | None = None,
    ) -> None:
        self._contract = contract
        self._pseudonymizer = pseudonymizer
        self._store = store
        self._consent = consent
        self._minimum = minimum

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
            members |= self._rule_members(candidates, purpose, activity, now, released)
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
        values = {}
        for name in decision.released:
            value = self._signal(self._contract.signals[name], candidates, purpose, to_us(now))
            if value is not None:
                values[name] = value
        return Released(decision, values, candidates[0])

    def handoff(
        self, actor: Actor, subject: SubjectInput, purpose: str, *, now: datetime
    ) -> Handoff:
        """The handoff parts the purpose releases; the others are withheld, not refused."""
        candidates, granted = self._prepare(actor, Action.READ_HANDOFF, subject, purpose)
        signals = self._contract.signals
        journey = {name: spec for name, spec in signals.items() if spec.kind in JOURNEY_KINDS}
        asked = decide(
            self._contract, actor, Action.READ_HANDOFF, purpose, journey, consent_granted=granted
        )
        decision = enforce(asked)
        windows = {
            journey[name].kind: _us(w) for name in decision.released if (w := journey[name].window)
        }
        now_us = to_us(now)
        start = now_us - max(windows.values(), default=0)
        events = self._store.recent_events(candidates, purpose, start) if windows else []
        found = {
            part: since(events, now_us - windows[kind])
            for part, kind in HANDOFF_PARTS.items()
            if kind in windows
        }
        intent = infer_intent(found["intent"]) if "intent" in found else None
        frustration = frustration_level(found["frustration"]) if "frustration" in found else None
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
            members |= self._rule_members(
                candidates, purpose, activity, now, self._contract.segments
            )
        signals = {}
        for name, spec in sorted(self._contract.signals.items()):
            value = self._signal(spec, candidates, purpose, to_us(now), activity)
            counted = spec.kind in (SignalKind.COUNT, SignalKind.DISTINCT)
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

    def _signal(
        self,
        spec: SignalSpec,
        candidates: tuple[str, ...],
        purpose: str,
        now_us: int,
        activity: Activity | None = None,
    ) -> AttributeScalar | None:
        if spec.kind in JOURNEY_KINDS:
            assert spec.window is not None  # checked by the contract loader
            events = self._store.recent_events(candidates, purpose, now_us - _us(spec.window))
            return journey_signal(spec.kind, events)
        if spec.kind in (SignalKind.FIRST_SEEN, SignalKind.LAST_SEEN):
            if activity is None:
                _, activity = self._store.consent_and_activity(candidates, purpose)
            if activity is None:
                return None
            seen = (
                activity.first_seen_us
                if spec.kind is SignalKind.FIRST_SEEN
                else activity.last_seen_us
            )
            return datetime.fromtimestamp(seen / 1_000_000, tz=UTC)
        if spec.kind in (SignalKind.COUNT, SignalKind.DISTINCT):
            assert spec.window is not None  # checked by the contract loader
            start = now_us - _us(spec.window)
            if spec.kind is SignalKind.COUNT:
                return self._store.count_events(candidates, purpose, spec.event, start)
            assert spec.attribute is not None
            return self._store.distinct_values(
                candidates, purpose, spec.event, spec.attribute, start
            )
        assert spec.attribute is not None
        raw = self._store.last_attribute(candidates, purpose, spec.event, spec.attribute)
        declared = self._contract.events[spec.event].attributes[spec.attribute].type
        if raw is None:
            return None
        if declared is AttributeType.BOOL:
            return bool(raw)
        if declared is AttributeType.TIMESTAMP:
            return datetime.fromisoformat(str(raw))
        return raw

    def _rule_members(
        self,
        candidates: tuple[str, ...],
        purpose: str,
        activity: Activity,
        now: datetime,
        segments: Iterable[str],
    ) -> set[str]:
        """The rule-based segments among `segments` the subject is in; each signal a
        rule reads is computed once."""
        rules = {name: self._contract.segments[name].rule for name in segments}
        wanted = set().union(*(signals_of(r) for r in rules.values() if r is not None))
        values = {
            name: self._signal(
                self._contract.signals[name], candidates, purpose, to_us(now), activity
            )
            for name in sorted(wanted)
        }
        return {
            name
            for name, rule in rules.items()
            if rule is not None and matches(rule, values, now=now)
        }


def _us(window: timedelta) -> int:
    return int(window.total_seconds() * 1_000_000)
