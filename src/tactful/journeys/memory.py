"""The journey's memory: what was offered to a person on a journey, and what became of
it, so the engine never offers again what was refused and never makes a person
restate what was already tried.

It is behaviour data like any other: kept by pseudonym, under the journey's purpose,
within that purpose's retention, in a subject's export, gone on erasure. Each engine
keeps it beside its behaviour store (storage/sqlite, storage/postgres); the domain
sees only `JourneyMemory`. `MemoryJourneyMemory` keeps it in a list, for the release
gates (a playbook's test cases) and for tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol


class OfferResult(StrEnum):
    """What became of an offer, as the frontend reports it."""

    OFFERED = "offered"  # shown; nothing reported yet
    ACCEPTED = "accepted"  # the person took it (and it worked, as far as anyone knows)
    REFUSED = "refused"  # the person said no: never offered again where a rule says so
    FAILED = "failed"  # taken, and it did not help (a retry that failed again)
    IGNORED = "ignored"  # shown and passed over


@dataclass(frozen=True)
class Remembered:
    """One decision that offered an action, kept by pseudonym. An empty `action` is a
    decision that offered nothing."""

    decision_id: str
    pseudonym: str
    purpose: str
    journey: str
    action: str
    kind: str
    rung: str
    playbook_version: int
    offered_at_us: int
    result: OfferResult = OfferResult.OFFERED
    amount: float = 0.0  # a compensation's value, counted against the daily budget
    arm: str = "treatment"  # or a holdout: what the scorecard compares (journeys/holdout.py)


class JourneyMemory(Protocol):
    """Where an engine keeps the journey's memory. Reads never raise for a subject with
    no memory; an engine that cannot be read raises its StorageUnavailable."""

    def remember(self, offer: Remembered) -> None:
        """Keep one offer (a decision id is kept once; a second is an error)."""
        ...

    def recall(
        self, pseudonyms: Sequence[str], purpose: str, journey: str, since_us: int
    ) -> list[Remembered]:
        """The offers to any of `pseudonyms` on `journey` under `purpose` made at or
        after `since_us`, oldest first."""
        ...

    def settle(self, pseudonyms: Sequence[str], decision_id: str, result: OfferResult) -> bool:
        """Set what became of the offer `decision_id` made to one of `pseudonyms`; False
        when there is none (another person's decision is never touched)."""
        ...

    def find(self, pseudonyms: Sequence[str], decision_id: str) -> Remembered | None:
        """The decision `decision_id` made for one of `pseudonyms`; None when there is none
        (another person's decision is never found)."""
        ...

    def compensation_spent(self, journey: str, since_us: int) -> float:
        """The sum of the amounts of compensate offers on `journey` since `since_us`,
        over everyone: the journey's budget is the business's, not the person's."""
        ...


class MemoryJourneyMemory:
    """A JourneyMemory in a list: for the release gates and tests, never for a server."""

    def __init__(self) -> None:
        self.offers: list[Remembered] = []

    def remember(self, offer: Remembered) -> None:
        if any(o.decision_id == offer.decision_id for o in self.offers):
            raise ValueError(f"decision {offer.decision_id} is already remembered")
        self.offers.append(offer)

    def recall(
        self, pseudonyms: Sequence[str], purpose: str, journey: str, since_us: int
    ) -> list[Remembered]:
        found = [
            o
            for o in self.offers
            if o.pseudonym in pseudonyms
            and o.purpose == purpose
            and o.journey == journey
            and o.offered_at_us >= since_us
        ]
        return sorted(found, key=lambda o: o.offered_at_us)

    def settle(self, pseudonyms: Sequence[str], decision_id: str, result: OfferResult) -> bool:
        for i, offer in enumerate(self.offers):
            if offer.decision_id == decision_id and offer.pseudonym in pseudonyms:
                self.offers[i] = replace(offer, result=result)
                return True
        return False

    def find(self, pseudonyms: Sequence[str], decision_id: str) -> Remembered | None:
        for offer in self.offers:
            if offer.decision_id == decision_id and offer.pseudonym in pseudonyms:
                return offer
        return None

    def compensation_spent(self, journey: str, since_us: int) -> float:
        return sum(
            o.amount
            for o in self.offers
            if o.journey == journey and o.kind == "compensate" and o.offered_at_us >= since_us
        )
