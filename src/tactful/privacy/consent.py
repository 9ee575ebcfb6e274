"""Consent, honoured at once.

For a purpose whose legal basis is consent, nothing is collected without a
grant and nothing is read back for it. A withdrawal takes effect on the very
next call and, in the same transaction, deletes the subject's data collected
under that purpose. Every grant and withdrawal is kept, with when and where it
was given, for the subject's export. A person erased with suppression gets no
consent recorded again (SubjectSuppressed), checked in the writing transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tactful.privacy.contract import Contract, LegalBasis
from tactful.privacy.decisions import Action, Actor, Decision, decide, enforce
from tactful.privacy.errors import InvalidRequest, Violation
from tactful.privacy.pending_records import PendingRecord
from tactful.privacy.pseudonym import Pseudonymizer, normalize, spellings
from tactful.privacy.suppression import Tombstones
from tactful.timestamps import to_us

MAX_SOURCE_CHARS = 200


@dataclass(frozen=True)
class ConsentChange:
    pseudonym: str
    purpose: str
    granted: bool
    source: str
    recorded_at_us: int


class ConsentStore(Protocol):
    def is_granted(self, pseudonyms: Sequence[str], purpose: str) -> bool:
        """True if consent for `purpose` is currently granted under any of the pseudonyms."""
        ...

    def record_consent(
        self,
        change: ConsentChange,
        subject: Sequence[str],
        tombstones: Sequence[str],
        pending: PendingRecord | None = None,
    ) -> int:
        """Record the change; on a withdrawal, delete everything collected under the
        purpose for all of `subject`'s pseudonyms, atomically. Returns rows deleted.
        SubjectSuppressed, nothing written, if any of `tombstones` is recorded: checked
        in the same transaction as the write. `pending`: the access record of the call,
        kept in the same transaction (privacy/pending_records.py)."""
        ...


@dataclass(frozen=True)
class ConsentResult:
    decision: Decision
    recorded_at: datetime
    deleted_events: int
    subject: str  # the pseudonym the change was recorded under


class ConsentRecorder:
    def __init__(
        self,
        contract: Contract,
        pseudonymizer: Pseudonymizer,
        store: ConsentStore,
        tombstones: Tombstones,
    ) -> None:
        self._contract = contract
        self._pseudonymizer = pseudonymizer
        self._store = store
        self._tombstones = tombstones

    def set_consent(
        self,
        actor: Actor,
        namespace: str,
        identifier: str,
        purpose: str,
        granted: bool,
        source: str,
        *,
        now: datetime,
        owed: Callable[[Decision, str], PendingRecord] | None = None,
    ) -> ConsentResult:
        """Record a consent change. `owed(decision, pseudonym)`: the access record the
        call gets, kept with the change until it is durable."""
        decision = enforce(decide(self._contract, actor, Action.SET_CONSENT, purpose))
        violations = []
        if self._contract.purposes[purpose].legal_basis is not LegalBasis.CONSENT:
            basis = self._contract.purposes[purpose].legal_basis
            violations.append(
                Violation(
                    "purpose",
                    f"purpose {purpose} rests on {basis}, not consent; consent does not apply",
                )
            )
        if not source.strip() or len(source) > MAX_SOURCE_CHARS:
            violations.append(
                Violation(
                    "source",
                    f"say where the decision was taken, 1 to {MAX_SOURCE_CHARS} characters",
                )
            )
        if violations:
            raise InvalidRequest(violations)
        normalized = normalize(namespace, identifier)
        subject = self._pseudonymizer.candidates(namespace, normalized)
        at_us = to_us(now)
        change = ConsentChange(subject[0], purpose, granted, source.strip(), at_us)
        tombstones = tuple(  # under the old normalization too: a tombstone never moves
            t
            for form in spellings(namespace, identifier)
            for t in self._tombstones.candidates(namespace, form)
        )
        pending = owed(decision, change.pseudonym) if owed else None
        deleted = self._store.record_consent(change, subject, tombstones, pending)
        return ConsentResult(decision, now, deleted, change.pseudonym)

    def needs_consent(self, purpose: str) -> bool:
        return self._contract.purposes[purpose].legal_basis is LegalBasis.CONSENT

    def is_granted(self, subject: Sequence[str], purpose: str) -> bool:
        """Consent state for reads; only consent purposes need a grant."""
        if not self.needs_consent(purpose):
            return True
        return self._store.is_granted(subject, purpose)
