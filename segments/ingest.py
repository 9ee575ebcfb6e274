"""Recording events and reading segments: the two use cases built so far.

`EventRecorder.record` checks a whole batch against the contract and the input
rules before anything is written; one bad event refuses the batch (nothing
stored) with every violation named by field (``events[3].occurred_at``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from privacy.contract import Contract
from privacy.errors import InvalidRequest, Violation
from privacy.pseudonym import NORMALIZERS, Pseudonymizer, subject_violations
from privacy.vault import Identity, IdentityVault
from segments.store import AttributeScalar, BehaviorStore, StoredEvent
from segments.visitor import visitor_segments

MAX_BATCH_EVENTS = 1000
MAX_CLOCK_SKEW_US = 5 * 60 * 1_000_000
EARLIEST_US = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)


@dataclass(frozen=True)
class SubjectInput:
    namespace: str
    identifier: str


@dataclass(frozen=True)
class EventInput:
    """An event as received, before any check."""

    subject: SubjectInput
    type: str
    occurred_at_us: int | None
    attributes: Mapping[str, AttributeScalar]


@dataclass(frozen=True)
class RecordResult:
    stored: int
    new_subjects: int


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


class EventRecorder:
    def __init__(
        self,
        contract: Contract,
        pseudonymizer: Pseudonymizer,
        vault: IdentityVault,
        store: BehaviorStore,
    ) -> None:
        self._contract = contract
        self._pseudonymizer = pseudonymizer
        self._vault = vault
        self._store = store

    def check(self, purpose: str, events: Sequence[EventInput], *, now: datetime) -> None:
        """Raise InvalidRequest naming every problem of the batch; write nothing."""
        violations = purpose_violations(self._contract, purpose)
        if not events:
            violations.append(Violation("events", "the batch is empty"))
        elif len(events) > MAX_BATCH_EVENTS:
            violations.append(
                Violation(
                    "events", f"{len(events)} events in one batch; at most {MAX_BATCH_EVENTS}"
                )
            )
        else:
            now_us = to_us(now)
            for index, event in enumerate(events):
                violations.extend(self._event_violations(f"events[{index}]", event, now_us))
        if violations:
            raise InvalidRequest(violations)

    def record(self, purpose: str, events: Sequence[EventInput], *, now: datetime) -> RecordResult:
        """Check the batch, then pseudonymize it and store it atomically."""
        self.check(purpose, events, now=now)
        identities: dict[tuple[str, str], Identity] = {}
        stored = []
        for event in events:
            key = (event.subject.namespace, event.subject.identifier)
            identity = identities.get(key)
            if identity is None:
                normalized = NORMALIZERS[key[0]](key[1])
                pseudonym = self._pseudonymizer.pseudonymize(key[0], normalized)
                identity = identities[key] = Identity(pseudonym, key[0], normalized)
            assert event.occurred_at_us is not None  # checked above
            stored.append(
                StoredEvent(
                    identity.pseudonym, purpose, event.type, event.occurred_at_us, event.attributes
                )
            )
        # Identity first: behavior must never exist for a subject the vault cannot erase.
        new_subjects = self._vault.remember(identities.values(), now=now)
        self._store.append(stored, received_at_us=to_us(now))
        return RecordResult(stored=len(stored), new_subjects=new_subjects)

    def _event_violations(self, where: str, event: EventInput, now_us: int) -> list[Violation]:
        found = subject_violations(
            event.subject.namespace, event.subject.identifier, field=f"{where}.subject"
        )
        if not event.type:
            found.append(Violation(f"{where}.type", "event type is empty"))
        elif event.type not in self._contract.events:
            found.append(
                Violation(
                    f"{where}.type",
                    f"unknown event type {event.type!r}; see the contract's catalog",
                )
            )
        at = event.occurred_at_us
        if at is None:
            found.append(Violation(f"{where}.occurred_at", "is required"))
        elif at > now_us + MAX_CLOCK_SKEW_US:
            ahead = (at - now_us) // 1_000_000
            found.append(
                Violation(
                    f"{where}.occurred_at",
                    f"is {ahead} s in the future; at most 300 s ahead is accepted"
                    " (check the client clock)",
                )
            )
        elif at < EARLIEST_US:
            found.append(Violation(f"{where}.occurred_at", "is before 2000-01-01"))
        return found


def purpose_violations(contract: Contract, purpose: str) -> list[Violation]:
    if not purpose:
        return [Violation("purpose", "is required")]
    if purpose not in contract.purposes:
        return [Violation("purpose", f"unknown purpose {purpose!r}; see `tactful contracts`")]
    return []


class SegmentReader:
    """Answers GetSegments from the behavior store alone; never touches the vault."""

    def __init__(
        self, contract: Contract, pseudonymizer: Pseudonymizer, store: BehaviorStore
    ) -> None:
        self._contract = contract
        self._pseudonymizer = pseudonymizer
        self._store = store

    def segments(self, subject: SubjectInput, purpose: str, *, now: datetime) -> list[str]:
        """The segments of one subject that the purpose releases, sorted."""
        violations = purpose_violations(self._contract, purpose) + subject_violations(
            subject.namespace, subject.identifier, field="subject"
        )
        if violations:
            raise InvalidRequest(violations)
        normalized = NORMALIZERS[subject.namespace](subject.identifier)
        candidates = self._pseudonymizer.candidates(subject.namespace, normalized)
        members = visitor_segments(self._store.activity(candidates), now_us=to_us(now))
        return sorted(members & self._contract.purposes[purpose].releases_segments)
