"""The keyed values of the subjects a batch is about, remembered across batches.

A batch's subject reference is checked and normalized, then keyed twice: its
pseudonym under every live pseudonym key version, and its tombstone under every
suppression key version, of each spelling older rules may have recorded. Each of
these is a function of the reference and the keys alone, and costs HMACs and a
PRECIS pass; the same people come back batch after batch, so `SubjectKeys`
remembers them while the keys and the normalization rules stand. A new keyring (a
rotation, a retirement) starts a new memory: nothing keyed under the old keys is
ever used again.

Nothing here decides anything: whether a person consents, or is erased and
suppressed, is still read from the store in the write's own transaction, so a
withdrawal or an erasure applies to the very next batch whatever is remembered.
The memory holds at most `capacity` references and is forgotten whole when full,
and whole again every `max_age_s` seconds (60 by default): the identifiers it holds
(the references as sent, and their normalized forms, which a new person's vault entry
needs) live in the process's memory no longer than a batch's own data does in a busy
queue, and an erased person's identifier is gone from every server's memory within a
minute, whichever server the erasure went through.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tactful.privacy.errors import Violation
from tactful.privacy.keyring import KeySet
from tactful.privacy.pseudonym import NORMALIZERS, Pseudonymizer, checked_subject, spellings
from tactful.privacy.suppression import Tombstones

Reference = tuple[str, str]  # (namespace, identifier) as sent
DEFAULT_CAPACITY = 65_536
DEFAULT_MAX_AGE_S = 60.0


@dataclass(frozen=True)
class KeyedSubject:
    """A well-formed subject reference, keyed."""

    namespace: str
    normalized: str
    pseudonyms: tuple[str, ...]  # under every live pseudonym key version, primary first
    tombstones: tuple[str, ...]  # of every spelling, under every suppression key version


@dataclass(frozen=True)
class _Memory:
    pseudonym_keys: KeySet
    suppression_keys: KeySet
    rules: tuple[object, ...]  # the normalizers it was made with
    subjects: dict[Reference, KeyedSubject]
    born_s: float  # when it was started, by the monotonic clock


class SubjectKeys:
    def __init__(
        self,
        pseudonymizer: Pseudonymizer,
        tombstones: Tombstones,
        *,
        capacity: int = DEFAULT_CAPACITY,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pseudonymizer = pseudonymizer
        self._tombstones = tombstones
        self._capacity = capacity
        self._max_age_s = max_age_s
        self._clock = clock
        self._memory: _Memory | None = None

    def key(self, references: Iterable[Reference]) -> dict[Reference, KeyedSubject | Violation]:
        """Each reference keyed, or what is wrong with it (field relative to the
        subject: ``.id``, ``.namespace``); all under one snapshot of the keys."""
        memory = self._current()
        known = memory.subjects
        keyed: dict[Reference, KeyedSubject | Violation] = {}
        new: dict[Reference, str] = {}
        for reference in references:
            if reference in keyed:
                continue
            remembered = known.get(reference)
            if remembered is not None:
                keyed[reference] = remembered
                continue
            normalized, violation = checked_subject(*reference, field="")
            if violation is not None:
                keyed[reference] = violation  # not remembered: a client's mistake is rare
            else:
                new[reference] = normalized
        if new:
            fresh = self._keyed(memory, new)
            if len(known) + len(fresh) > self._capacity:
                known.clear()
            known.update(fresh)
            keyed.update(fresh)
        return keyed

    def _current(self) -> _Memory:
        pseudonym_keys = self._pseudonymizer.keys()
        suppression_keys = self._tombstones.keys()
        # The rules are code and change only with a release; a test may swap them.
        rules = tuple(NORMALIZERS.values())
        memory = self._memory
        now_s = self._clock()
        if (
            memory is None
            or memory.pseudonym_keys is not pseudonym_keys
            or memory.suppression_keys is not suppression_keys
            or memory.rules != rules
            or now_s - memory.born_s >= self._max_age_s
        ):
            # Replaced, never emptied in place: a batch still keying under the old keys
            # writes into the old memory, which nothing reads again.
            memory = _Memory(pseudonym_keys, suppression_keys, rules, {}, now_s)
            self._memory = memory
        return memory

    def _keyed(self, memory: _Memory, new: dict[Reference, str]) -> dict[Reference, KeyedSubject]:
        people = {(reference[0], normalized) for reference, normalized in new.items()}
        pseudonyms = self._pseudonymizer.candidates_of(people, keys=memory.pseudonym_keys)
        # A tombstone made under the old normalization is checked as it was made.
        spelled = {r: spellings(*r, current=normalized) for r, normalized in new.items()}
        tombstones_of = self._tombstones.candidates_of(
            {(r[0], form) for r, forms in spelled.items() for form in forms},
            keys=memory.suppression_keys,
        )
        return {
            reference: KeyedSubject(
                reference[0],
                normalized,
                pseudonyms[(reference[0], normalized)],
                tuple(
                    dict.fromkeys(
                        t
                        for form in spelled[reference]
                        for t in tombstones_of[(reference[0], form)]
                    )
                ),
            )
            for reference, normalized in new.items()
        }
