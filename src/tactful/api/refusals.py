"""Every field problem of a refused request, not only the ones its method met first.

A method stops at the first check that fails: GetSignals at an undeclared purpose
before it reads the subject, NextAction at a bad `previous.result` before the journey,
RecordEvents at the purpose before the events. Once a request of the methods below
has been refused with INVALID_ARGUMENT, `Refusals.complete` adds what else is wrong
with the fields every such request shares (the subject, the purpose, the journey, each
event's subject and type) and the refusal does not name yet, so the client hears of
all of it in one answer (one FieldViolation each, api/errors.py).

It runs only on that refusal: a call that succeeds never reaches it. Attributes are
checked against a purpose, so they are named only once the purpose is declared (the
method's own check, segments/ingest.py, names them all).
"""

from __future__ import annotations

from typing import Any

from tactful.privacy.contract import Contract
from tactful.privacy.decisions import Actor, undeclared
from tactful.privacy.errors import InvalidRequest, Violation
from tactful.privacy.pseudonym import subject_violations
from tactful.privacy.suggestions import hint
from tactful.segments.ingest import MAX_BATCH_EVENTS

# The methods whose requests carry these shared fields with these meanings (an access
# log query's `purpose`, say, is a filter, never a purpose claimed).
COMPLETED = frozenset(
    f"tactful.v1.{method}"
    for method in (
        "Personalization/RecordEvents",
        "Personalization/SetConsent",
        "Personalization/GetSegments",
        "Personalization/GetSignals",
        "Personalization/GetHandoffContext",
        "Journeys/NextAction",
        "Journeys/RecordOutcome",
    )
)
SUBJECT = "subject"


class Refusals:
    def __init__(self, contract: Contract) -> None:
        self._contract = contract

    def complete(
        self, method: str, request: Any, actor: Actor | None, refused: InvalidRequest
    ) -> InvalidRequest:
        """`refused`, with the problems of the shared fields it does not name yet."""
        if method not in COMPLETED:
            return refused
        named = {v.field for v in refused.violations}
        subjects = {_subject_of(field) for field in named} - {None}
        more = [
            v
            for v in self._problems(request, actor)
            if v.field not in named and _subject_of(v.field) not in subjects
        ]
        return InvalidRequest([*refused.violations, *more]) if more else refused

    def _problems(self, request: Any, actor: Actor | None) -> list[Violation]:
        found: list[Violation] = []
        if _has(request, SUBJECT):
            found += subject_violations(request.subject.namespace, request.subject.id,
                                        field=SUBJECT)  # fmt: skip
        if hasattr(request, "purpose"):
            found += self._purpose(request.purpose, actor)
        journey = getattr(request, "journey", "")
        if journey and journey not in self._contract.journeys:
            known = hint(journey, self._contract.journeys)
            found.append(Violation("journey", f"journey {journey!r} is not declared; {known}"))
        events = getattr(request, "events", ())
        if len(events) > MAX_BATCH_EVENTS:  # to be split: its events are checked then
            many = f"{len(events)} events in one batch; at most {MAX_BATCH_EVENTS}"
            return [*found, Violation("events", many)]
        subject_problems: dict[tuple[str, str], list[Violation]] = {}
        for index, event in enumerate(events):
            where, key = f"events[{index}]", (event.subject.namespace, event.subject.id)
            if key not in subject_problems:  # each person once, as the ingest check does
                subject_problems[key] = subject_violations(*key, field="")
            found += [Violation(f"{where}.{SUBJECT}{v.field}", v.description)
                      for v in subject_problems[key]]  # fmt: skip
            if event.type and event.type not in self._contract.events:
                unknown = f"unknown event type {event.type!r}; see the contract's catalog"
                found.append(Violation(f"{where}.type", unknown))
        return found

    def _purpose(self, purpose: str, actor: Actor | None) -> list[Violation]:
        if purpose in self._contract.purposes:
            return []
        anyone = actor or Actor("", frozenset(), frozenset())
        return [Violation("purpose", undeclared(self._contract, anyone, purpose))]


def _subject_of(field: str) -> str | None:
    """The subject a field belongs to ("events[2].subject" for "events[2].subject.id"):
    one problem is named per subject, whichever field the method found it in."""
    head, found, _ = field.partition(SUBJECT)
    return head + SUBJECT if found else None


def _has(request: Any, field: str) -> bool:
    try:
        return bool(request.HasField(field))
    except (ValueError, AttributeError):  # no such field; an Undecodable has none
        return False
