"""Recording events: checked whole, pseudonymized, stored atomically.

`EventRecorder.record` asks the decision function whether the principal may
collect for the purpose, then checks the whole batch against the input rules,
the event catalog and the purpose before anything is written. One bad event
refuses the batch (nothing stored) with every violation named by field
(``events[3].occurred_at``). Under a consent purpose, events of subjects
without a grant are accepted but not stored. A text attribute's value is replaced
by its labels (segments/text_labels.py) once the batch checks, before it is stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, NamedTuple

from tactful.privacy.contract import AttributeSpec, AttributeType, Contract, LegalBasis, Purpose
from tactful.privacy.decisions import Action, Actor, Decision, decide, enforce
from tactful.privacy.errors import InvalidRequest, Violation
from tactful.privacy.pending_records import PendingRecord
from tactful.privacy.pseudonym import Pseudonymizer
from tactful.privacy.suppression import Tombstones
from tactful.privacy.vault import Identity, IdentityVault
from tactful.segments.attributes import check_attributes, quick_checks
from tactful.segments.store import AttributeScalar, Batch, BehaviorStore, BehaviorWrite, StoredEvent
from tactful.segments.subject_keys import KeyedSubject, SubjectKeys
from tactful.segments.text_labels import TextClassifier, TextNotClassified, kept_labels
from tactful.timestamps import SECOND_US, duration_us, to_us

MAX_BATCH_EVENTS = 1000
MAX_CLOCK_SKEW_US = duration_us(timedelta(minutes=5))
EARLIEST_US = to_us(datetime(2000, 1, 1, tzinfo=UTC))


class SubjectInput(NamedTuple):
    """A person as a client names them. A tuple (namespace, identifier): it keys a batch's
    subjects as it is, and costs a third of a frozen dataclass to build per event."""

    namespace: str
    identifier: str


class EventInput(NamedTuple):
    """An event as received, before any check. `malformed` names the fields (relative
    to the event, e.g. ``attributes.when``) that arrived as no value at all, such as a
    timestamp outside years 1 to 9999; they are left out of the fields above. A tuple:
    one is built per event of every batch."""

    subject: SubjectInput
    type: str
    occurred_at_us: int | None
    attributes: Mapping[str, AttributeScalar]
    malformed: tuple[Violation, ...] = ()


@dataclass(frozen=True)
class RecordResult:
    decision: Decision
    stored: int
    not_stored: int  # accepted, but the subject has not consented
    dropped_attributes: int
    new_subjects: int
    subject: str  # the pseudonym if the batch is about one person, else ""


@dataclass(frozen=True)
class PreparedBatch(Generic[Batch]):
    """A checked, pseudonymized batch, not yet stored (see EventRecorder.prepare)."""

    decision: Decision
    purpose: Purpose
    events: Batch  # the store's encoding of the batch (BehaviorStore.encode)
    per_subject: Counter[str]  # events per pseudonym
    identities: dict[str, Identity]  # by pseudonym under the primary key
    versions: dict[str, tuple[str, ...]]  # primary pseudonym -> every live version's
    tombstones: dict[str, tuple[str, ...]]  # primary pseudonym -> its possible tombstones
    received: int
    dropped_attributes: int


class EventRecorder(Generic[Batch]):
    def __init__(
        self,
        contract: Contract,
        pseudonymizer: Pseudonymizer,
        vault: IdentityVault,
        store: BehaviorStore[Batch],
        tombstones: Tombstones,
        *,
        classifier: TextClassifier | None = None,
    ) -> None:
        """`classifier` labels the contract's text attributes; without one, a batch
        carrying text fails (TextNotClassified) and nothing of it is stored."""
        self._contract = contract
        self._pseudonymizer = pseudonymizer
        self._vault = vault
        self._store = store
        self._tombstones = tombstones
        self._classifier = classifier
        self._subject_keys = SubjectKeys(pseudonymizer, tombstones)
        self._quick = {name: quick_checks(event) for name, event in contract.events.items()}
        # Per event type, its text attributes: an event of any other type costs nothing.
        self._texts: dict[str, dict[str, AttributeSpec]] = {
            name: texts
            for name, event in contract.events.items()
            if (
                texts := {a: s for a, s in event.attributes.items() if s.type is AttributeType.TEXT}
            )
        }

    def record(
        self, actor: Actor, purpose: str, events: Sequence[EventInput], *, now: datetime
    ) -> RecordResult:
        """Decide, check the batch, then pseudonymize it and store it atomically.

        Call from the single writer thread: the consent check and the write must
        not interleave with a withdrawal.
        """
        return self.store_many([(self.prepare(actor, purpose, events, now=now), now)])[0]

    def prepare(
        self, actor: Actor, purpose: str, events: Sequence[EventInput], *, now: datetime
    ) -> PreparedBatch[Batch]:
        """Decide, check the whole batch, and pseudonymize it: everything that reads no
        store, so another thread may do it while the writer stores an earlier batch."""
        decision = enforce(decide(self._contract, actor, Action.COLLECT, purpose))
        declared = self._contract.purposes[purpose]
        # Each person's pseudonym under every live key version (primary first): consent
        # recorded before a rotation still applies until the rekey moves it. And their
        # tombstone under every suppression key version, which no rotation moves.
        _check_size(events)  # before any work on a batch too large
        keyed = self._subject_keys.key(e.subject for e in events)
        kept, dropped = self._check(declared, events, keyed, to_us(now))
        identities: dict[str, Identity] = {}
        pseudonym_of: dict[tuple[str, str], str] = {}
        versions: dict[str, tuple[str, ...]] = {}
        tombstones: dict[str, tuple[str, ...]] = {}
        for reference, subject in keyed.items():
            assert isinstance(subject, KeyedSubject)  # checked above
            primary = subject.pseudonyms[0]
            pseudonym_of[reference] = primary
            if primary in identities:  # two spellings of one person in the batch
                tombstones[primary] = tuple({*tombstones[primary], *subject.tombstones})
                continue
            identities[primary] = Identity(primary, subject.namespace, subject.normalized)
            versions[primary] = subject.pseudonyms
            tombstones[primary] = subject.tombstones
        # Every time is set (checked above): `or 0` only tells the type checker so.
        stored = [
            StoredEvent(pseudonym_of[e.subject], purpose, e.type, e.occurred_at_us or 0, attributes)
            for e, attributes in zip(events, kept, strict=True)
        ]
        encoded = self._store.encode(stored, received_at_us=to_us(now))
        return PreparedBatch(
            decision,
            declared,
            encoded,
            Counter(e.pseudonym for e in stored),
            identities,
            versions,
            tombstones,
            len(events),
            dropped,
        )

    def store_many(
        self,
        batches: Sequence[tuple[PreparedBatch[Batch], datetime]],
        *,
        pending: Sequence[PendingRecord | None] = (),
        recorded: Sequence[tuple[str, int]] = (),
    ) -> list[RecordResult]:
        """Store prepared batches (each with the time it was received) in one transaction:
        one commit for all of them, and all or none of them stored. Call from the single
        writer thread.

        `pending`, one per batch (or none): the access record each batch's call gets,
        kept in the same transaction for any batch that stores an event, so that no
        event is ever stored without a record owed to its call
        (privacy/pending_records.py). `recorded`: the keys of pending records whose
        calls have their records now, dropped in the same transaction."""
        results = []
        # The check and the write in one transaction: a withdrawal or an erasure with
        # suppression, from this process or another, lands wholly before or after it.
        with self._store.writing() as write:
            for batch, now in batches:
                results.append(self._store_one(write, batch, now))
            owed = [p for p, r in zip(pending, results, strict=False) if p and r.stored]
            if owed:
                write.keep_pending_records(owed)
            if recorded:
                write.drop_pending_records(recorded)
        return results

    def _store_one(
        self, write: BehaviorWrite[Batch], batch: PreparedBatch[Batch], now: datetime
    ) -> RecordResult:
        versions, identities = batch.versions, batch.identities
        about = next(iter(identities)) if len(identities) == 1 else ""
        every_tombstone = [t for ts in batch.tombstones.values() for t in ts]
        blocked = _people(batch.tombstones, write.suppressed(every_tombstone))
        if blocked:
            identities = {p: i for p, i in identities.items() if p not in blocked}
        if batch.purpose.legal_basis is LegalBasis.CONSENT:
            every = [c for candidates in versions.values() for c in candidates]
            consenting = _people(versions, write.consenting(every, batch.purpose.name))
            identities = {p: i for p, i in identities.items() if p in consenting}
        # Identity first: behavior must never exist for a subject the vault cannot erase.
        new_subjects = self._vault.remember(identities.values(), now=now)
        write.append(batch.events, identities.keys())
        stored = sum(batch.per_subject[p] for p in identities)
        return RecordResult(
            batch.decision,
            stored,
            batch.received - stored,
            batch.dropped_attributes,
            new_subjects,
            about,
        )

    def _check(
        self,
        purpose: Purpose,
        events: Sequence[EventInput],
        keyed: Mapping[tuple[str, str], KeyedSubject | Violation],
        now_us: int,
    ) -> tuple[list[Mapping[str, AttributeScalar]], int]:
        """Every event's kept attributes and the number dropped; InvalidRequest if any
        rule is broken. An event whose attributes all pass their quick checks keeps them
        as they are; any other goes through `check_attributes`, which names problems."""
        violations: list[Violation] = []
        kept: list[Mapping[str, AttributeScalar]] = []
        dropped = 0
        events_of, quick = self._contract.events, self._quick
        type_problems: dict[str, str | None] = {}  # a batch holds a few types: each once
        latest = now_us + MAX_CLOCK_SKEW_US
        for index, event in enumerate(events):
            # Each person was checked once for the batch (SubjectKeys), not once per event.
            problem = keyed[event.subject]
            if isinstance(problem, Violation):
                field = f"events[{index}].subject{problem.field}"
                violations.append(Violation(field, problem.description))
            malformed, at = event.malformed, event.occurred_at_us
            if malformed:
                # Refused even where the purpose would drop the attribute: the value is no
                # value of its type at all, and the client must hear of it.
                where = f"events[{index}]"
                violations.extend(Violation(f"{where}.{v.field}", v.description) for v in malformed)
            in_range = at is not None and EARLIEST_US <= at <= latest
            if not in_range and not any(v.field == "occurred_at" for v in malformed):
                violations.extend(_time_violations(f"events[{index}]", at, now_us))
            kind = event.type
            if kind in type_problems:
                type_problem = type_problems[kind]
            else:
                type_problem = type_problems[kind] = self._type_problem(purpose, kind)
            if type_problem:
                violations.append(Violation(f"events[{index}].type", type_problem))
                kept.append({})
                continue
            attributes, accepts = event.attributes, quick[kind]
            for name, value in attributes.items():
                test = accepts.get(name)
                if test is None or not test(value):
                    break
            else:  # every attribute declared and well-typed: kept as it is (a dict, as
                # the full check would give: engines encode it as a JSON object)
                kept.append(attributes if type(attributes) is dict else dict(attributes))
                continue
            where = f"events[{index}]"
            checked = check_attributes(where, events_of[kind], purpose, attributes)
            if checked.violations:
                violations.extend(checked.violations)
            kept.append(checked.kept)
            dropped += checked.dropped
        if violations:
            raise InvalidRequest(violations)
        if self._texts:
            for index, event in enumerate(events):
                texts = self._texts.get(event.type)
                if texts:
                    kept[index] = self._labelled(f"events[{index}]", texts, kept[index])
        return kept, dropped

    def _labelled(
        self,
        where: str,
        texts: Mapping[str, AttributeSpec],
        attributes: Mapping[str, AttributeScalar],
    ) -> dict[str, AttributeScalar]:
        """`attributes` with each text replaced by its labels (checked: every text a str)."""
        labelled = {n: v for n, v in attributes.items() if n not in texts}
        for name, spec in texts.items():
            value = attributes.get(name)
            if not isinstance(value, str):
                continue
            if self._classifier is None:
                raise TextNotClassified(f"{where}.attributes.{name}: no classifier is configured")
            try:
                labels = self._classifier.classify(value)
            except Exception:
                # The failure's message or context could hold the text: neither goes on.
                raise TextNotClassified(
                    f"{where}.attributes.{name}: the classifier failed"
                ) from None
            labelled.update(kept_labels(name, spec.derive, labels))
        return labelled

    def _type_problem(self, purpose: Purpose, event_type: str) -> str | None:
        if not event_type:
            return "event type is empty"
        if event_type not in self._contract.events:
            return f"unknown event type {event_type!r}; see the contract's catalog"
        if event_type not in purpose.collects:
            return f"event type {event_type!r} is not collected for purpose {purpose.name}"
        return None


def _people(versions: dict[str, tuple[str, ...]], found: set[str]) -> set[str]:
    """The primary pseudonyms of the people any of whose versions (pseudonyms, or
    tombstones) is in `found`: by what was found (usually nothing, or everyone), not
    by testing every person against it."""
    if not found:
        return set()
    if len(versions) == 1:
        primary, candidates = next(iter(versions.items()))
        return {primary} if found.intersection(candidates) else set()
    owner = {c: primary for primary, candidates in versions.items() for c in candidates}
    return {owner[c] for c in found if c in owner}


def _check_size(events: Sequence[EventInput]) -> None:
    if not events:
        raise InvalidRequest([Violation("events", "the batch is empty")])
    if len(events) > MAX_BATCH_EVENTS:
        raise InvalidRequest(
            [Violation("events", f"{len(events)} events in one batch; at most {MAX_BATCH_EVENTS}")]
        )


def _time_violations(where: str, at: int | None, now_us: int) -> Sequence[Violation]:
    if at is None:
        return [Violation(f"{where}.occurred_at", "is required")]
    if at > now_us + MAX_CLOCK_SKEW_US:
        ahead = (at - now_us) // SECOND_US
        return [
            Violation(
                f"{where}.occurred_at",
                f"is {ahead} s in the future; at most 300 s ahead is accepted"
                " (check the client clock)",
            )
        ]
    if at < EARLIEST_US:
        return [Violation(f"{where}.occurred_at", "is before 2000-01-01")]
    return ()
