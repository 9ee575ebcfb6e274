"""Data-subject requests: erasure (right to be forgotten) and export (right of access).

Erasure is crypto-shredding first: the subject's data key is destroyed, so every
copy of their vault entry is unreadable, backups included; then their behavior,
consent, activity, signals and journey memory go. With `suppress`, a keyed
tombstone (under the keyring's suppression key, naming nobody without it;
privacy/suppression.py) blocks collection, and consent, from then on, across
pseudonym key rotations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from tactful.journeys.memory import Remembered
from tactful.journeys.outcomes import RecordedOutcome
from tactful.privacy.contract import Contract
from tactful.privacy.decisions import Action, Actor, Decision, decide, enforce
from tactful.privacy.pending_records import PendingRecord
from tactful.privacy.pseudonym import Pseudonymizer, normalize
from tactful.privacy.suppression import Tombstones
from tactful.privacy.vault import Identity
from tactful.timestamps import from_us, to_us


@dataclass(frozen=True)
class HeldEvent:
    """One event as the behavior store holds it about a subject, for their export."""

    purpose: str
    type: str
    occurred_at_us: int
    received_at_us: int
    attributes: Mapping[str, Any]


@dataclass(frozen=True)
class HeldConsent:
    """One consent change as recorded, for the subject's export."""

    purpose: str
    granted: bool
    source: str
    recorded_at_us: int


class SubjectBehavior(Protocol):
    def erase(self, pseudonyms: Sequence[str]) -> dict[str, int]: ...

    def events_of(self, pseudonyms: Sequence[str]) -> list[HeldEvent]:
        """Every event under any of `pseudonyms`, oldest first."""
        ...

    def consent_history_of(self, pseudonyms: Sequence[str]) -> list[HeldConsent]:
        """Every consent change under any of `pseudonyms`, in the order recorded."""
        ...

    def journey_memory_of(self, pseudonyms: Sequence[str]) -> list[Remembered]:
        """Every offer the journey engine remembers under any of `pseudonyms`, oldest
        first."""
        ...

    def journey_outcomes_of(self, pseudonyms: Sequence[str]) -> list[RecordedOutcome]:
        """Every outcome recorded under any of `pseudonyms`, in the order recorded."""
        ...


class ErasureOutbox(Protocol):
    """Erasures begun and not yet finished. The vault and the behavior store are two
    databases, so no transaction spans an erasure: each is written here first and
    removed once both stores are done, and whatever is left (a crash, a store
    unreachable halfway) is finished by `SubjectRequests.finish_erasures`."""

    def begin(
        self,
        pseudonyms: Sequence[str],
        *,
        at_us: int,
        tombstone: str | None = None,
        pending: PendingRecord | None = None,
    ) -> int:
        """Note an erasure of `pseudonyms`, durably, in one transaction with `tombstone`
        recorded (privacy/suppression.py) and `pending` kept: the access record its call
        gets (privacy/pending_records.py), where the recovery looks. Its ticket."""
        ...

    def pending(self) -> list[tuple[int, tuple[str, ...]]]:
        """(ticket, pseudonyms) of every erasure begun and not done, oldest first."""
        ...

    def done(self, ticket: int) -> None: ...


class SubjectIdentities(Protocol):
    def reveal(self, pseudonym: str) -> Identity | None: ...

    def shred(self, pseudonyms: Sequence[str]) -> int: ...


# Per purpose, what is computed about the subject now: (segments, signals).
Derived = Callable[[Sequence[str], str, datetime], tuple[list[str], dict[str, Any]]]
# The access records about the subject, as plain dictionaries.
AccessHistory = Callable[[Sequence[str]], list[dict[str, Any]]]


@dataclass(frozen=True)
class Erasure:
    decision: Decision
    subject: str
    deleted: dict[str, int]


@dataclass(frozen=True)
class Export:
    decision: Decision
    subject: str
    document: dict[str, Any]


def _us_to_iso(us: int) -> str:
    return from_us(us).isoformat()


def _remembered(r: Remembered) -> dict[str, Any]:
    """An offer as the export shows it (its pseudonym is the subject's, listed once)."""
    return {
        "decision_id": r.decision_id,
        "journey": r.journey,
        "purpose": r.purpose,
        "action": r.action,
        "kind": r.kind,
        "rung": r.rung,
        "playbook_version": r.playbook_version,
        "offered_at": _us_to_iso(r.offered_at_us),
        "result": r.result.value,
        "amount": r.amount,
    }


def _outcome(o: RecordedOutcome) -> dict[str, Any]:
    """An outcome as the export shows it: what was reported, nothing unreported."""
    reported = {k: v for k, v in vars(o.report).items() if v is not None}
    if o.report.agent_verdict is not None:
        reported["agent_verdict"] = o.report.agent_verdict.value
    return {
        "decision_id": o.decision_id,
        "journey": o.journey,
        "purpose": o.purpose,
        "recorded_at": _us_to_iso(o.recorded_at_us),
        **reported,
    }


class SubjectRequests:
    def __init__(
        self,
        contract: Contract,
        pseudonymizer: Pseudonymizer,
        behavior: SubjectBehavior,
        identities: SubjectIdentities,
        derived: Derived,
        access_history: AccessHistory,
        tombstones: Tombstones,
        outbox: ErasureOutbox,
    ) -> None:
        self._contract = contract
        self._pseudonymizer = pseudonymizer
        self._behavior = behavior
        self._identities = identities
        self._derived = derived
        self._access_history = access_history
        self._tombstones = tombstones
        self._outbox = outbox

    def erase(
        self,
        actor: Actor,
        namespace: str,
        identifier: str,
        *,
        suppress: bool,
        now: datetime,
        owed: Callable[[Decision, str], PendingRecord] | None = None,
    ) -> Erasure:
        """Erase one person. `owed(decision, pseudonym)`: the access record the call gets,
        kept with the erasure's first write until it is durable."""
        decision = enforce(decide(self._contract, actor, Action.ERASE_SUBJECT))
        normalized = normalize(namespace, identifier)
        pseudonyms = self._pseudonymizer.candidates(namespace, normalized)
        at_us = to_us(now)
        # First, in one transaction: the tombstone (no batch after it collects them
        # again), the ticket (the rest is finished after any crash) and the record owed.
        ticket = self._outbox.begin(
            pseudonyms,
            at_us=at_us,
            tombstone=self._tombstones.tombstone(namespace, normalized) if suppress else None,
            pending=owed(decision, pseudonyms[0]) if owed else None,
        )
        deleted = self._erase(pseudonyms)
        self._outbox.done(ticket)
        return Erasure(decision, pseudonyms[0], deleted)

    def finish_erasures(self) -> int:
        """Finish every erasure that was begun and cut short (a crash or an unreachable
        store between the vault and the behavior store); how many. Each step repeats
        harmlessly, so two servers finishing the same one at once do no harm."""
        pending = self._outbox.pending()
        for ticket, pseudonyms in pending:
            self._erase(pseudonyms)
            self._outbox.done(ticket)
        return len(pending)

    def _erase(self, pseudonyms: Sequence[str]) -> dict[str, int]:
        # Crypto-shredding first: cut short after it, the person is already unreadable.
        shredded = self._identities.shred(pseudonyms)
        deleted = {f"behavior.{k}": v for k, v in self._behavior.erase(pseudonyms).items()}
        # A batch that had passed its checks when the shred ran (the vault is another
        # database, outside its transaction) stored the identity again; the behavior
        # erase waited for it to commit, so this second shred removes what it brought back.
        shredded += self._identities.shred(pseudonyms)
        return {"vault.identities": shredded} | deleted

    def identity_of(self, pseudonyms: Sequence[str]) -> Identity | None:
        """Who the vault holds under any of `pseudonyms` (None: nobody, or shredded)."""
        return next(filter(None, map(self._identities.reveal, pseudonyms)), None)

    def export(self, actor: Actor, namespace: str, identifier: str, *, now: datetime) -> Export:
        decision = enforce(decide(self._contract, actor, Action.EXPORT_SUBJECT))
        pseudonyms = self._pseudonymizer.resolve(namespace, identifier)
        identity = next(filter(None, map(self._identities.reveal, pseudonyms)), None)
        held = self._behavior.events_of(pseudonyms)
        events: list[dict[str, Any]] = [
            {
                "purpose": e.purpose,
                "type": e.type,
                "attributes": dict(e.attributes),
                "occurred_at": _us_to_iso(e.occurred_at_us),
                "received_at": _us_to_iso(e.received_at_us),
            }
            for e in held
        ]
        consent = [
            {
                "purpose": c.purpose,
                "granted": c.granted,
                "source": c.source,
                "recorded_at": _us_to_iso(c.recorded_at_us),
            }
            for c in self._behavior.consent_history_of(pseudonyms)
        ]
        memory = [_remembered(r) for r in self._behavior.journey_memory_of(pseudonyms)]
        outcomes = [_outcome(o) for o in self._behavior.journey_outcomes_of(pseudonyms)]
        derived = {
            purpose: self._derived(pseudonyms, purpose, now)
            for purpose in sorted({e.purpose for e in held})
        }
        document = {
            "exported_at": now.isoformat(),
            "subject": {
                "namespace": identity.namespace if identity else namespace,
                "identifier": identity.identifier if identity else None,
                "pseudonyms": list(pseudonyms),
            },
            "events": events,
            "consent_history": consent,
            "journey_memory": memory,
            "journey_outcomes": outcomes,
            "segments": {p: d[0] for p, d in derived.items()},
            "signals": {p: d[1] for p, d in derived.items()},
            "access_records": self._access_history(pseudonyms),
        }
        return Export(decision, pseudonyms[0], document)
