"""Reading back, for one purpose: segments and individual signals.

Both ask the decision function first; both read only data collected under the
purpose asked for; neither touches the identity vault.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from tactful.privacy.consent import ConsentRecorder
from tactful.privacy.contract import JOURNEY_KINDS, Contract, SignalKind, SignalSpec
from tactful.privacy.decisions import Action, Actor, Decision, decide, enforce
from tactful.privacy.errors import InvalidRequest, Violation
from tactful.privacy.pseudonym import Pseudonymizer
from tactful.privacy.rules import signals_of
from tactful.segments.frustration import frustration_level
from tactful.segments.ingest import SubjectInput
from tactful.segments.intent import infer_intent, next_action
from tactful.segments.journey import (
    HANDOFF_KINDS,
    HANDOFF_PARTS,
    NEXT_ACTION,
    Handoff,
    error_codes,
    journey_signal,
    since,
    steps,
)
from tactful.segments.minimum import MinimumSegmentSize
from tactful.segments.rules import matches
from tactful.segments.store import (
    Activity,
    AttributeScalar,
    BehaviorReads,
    SignalQuery,
    seen_signal,
    typed_signal,
)
from tactful.segments.visitor import visitor_segments
from tactful.timestamps import duration_us, from_us, to_us


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
        found = self._signals(decision.released, candidates, purpose, to_us(now))
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
            members |= self._rule_members(
                candidates, purpose, activity, now, self._contract.segments
            )
        signals = {}
        every = self._signals(
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

    def _signals(
        self,
        names: Iterable[str],
        candidates: tuple[str, ...],
        purpose: str,
        now_us: int,
        activity: Activity | None = None,
    ) -> dict[str, AttributeScalar | None]:
        """The value of each named signal; counts, distinct and latest values all come
        from one read of the signal state."""
        names = list(names)
        values: dict[str, AttributeScalar | None] = {}
        queries: list[tuple[SignalSpec, SignalQuery]] = []
        for name in names:
            spec = self._contract.signals[name]
            if spec.kind in JOURNEY_KINDS:
                assert spec.window is not None  # checked by the contract loader
                start = now_us - duration_us(spec.window)
                events = self._store.recent_events(candidates, purpose, start)
                segments = frozenset[str]()
                if spec.kind is SignalKind.URGENCY and events:
                    segments = self._high_value(candidates, purpose, now_us, activity)
                values[name] = journey_signal(
                    spec.kind, events, self._contract.states, segments=segments
                )
            elif spec.kind in (SignalKind.FIRST_SEEN, SignalKind.LAST_SEEN):
                if activity is None:
                    _, activity = self._store.consent_and_activity(candidates, purpose)
                values[name] = seen_signal(spec.kind, activity)
            else:
                since = now_us - duration_us(spec.window) if spec.window is not None else 0
                query = SignalQuery(name, str(spec.kind), spec.event, spec.attribute, since)
                queries.append((spec, query))
        raw = self._store.signal_values(candidates, purpose, [q for _, q in queries])
        for (spec, query), value in zip(queries, raw, strict=True):
            values[query.name] = typed_signal(self._contract, spec, value)
        return {name: values[name] for name in names}  # in the order asked

    def _high_value(
        self, candidates: tuple[str, ...], purpose: str, now_us: int, activity: Activity | None
    ) -> frozenset[str]:
        """The high-value segments urgency reads that the subject is in, computed from
        the events collected under the purpose, as any segment is."""
        wanted = self._contract.states.urgency.high_value_segments
        if not wanted:
            return frozenset()
        if activity is None:
            _, activity = self._store.consent_and_activity(candidates, purpose)
        if activity is None:
            return frozenset()
        now = from_us(now_us)
        members = set(visitor_segments(activity, now_us=now_us)) & wanted
        members |= self._rule_members(candidates, purpose, activity, now, wanted)
        return frozenset(members)

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
        values = self._signals(sorted(wanted), candidates, purpose, to_us(now), activity)
        return {
            name
            for name, rule in rules.items()
            if rule is not None and matches(rule, values, now=now)
        }
