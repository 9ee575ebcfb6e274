"""The retention job: data leaves on schedule, in small transactions, with a receipt.

For each purpose, events older than the purpose's retention, then the offers the
journey engine remembers under it, are deleted at most `chunk` rows a transaction,
with a short pause between, so the server keeps answering; activity derived from
the events is brought up to date in the same transaction. Identities inactive
longer than the identity retention lose their vault entry and data key. Every step
is a transaction of its own: a job killed at any point leaves a consistent store,
and running it again finishes the work.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from tactful.lifecycle.progress import NO_PROGRESS, Progress
from tactful.privacy.contract import Contract
from tactful.timestamps import to_us

CHUNK_ROWS = 5000
PAUSE_S = 0.005


class ExpiringBehavior(Protocol):
    def count_older(self, purpose: str, cutoff_us: int) -> int: ...

    def purge_older(self, purpose: str, cutoff_us: int, *, limit: int) -> int: ...

    def count_journey_memory_older(self, purpose: str, cutoff_us: int) -> int:
        """The offers the journey engine remembers under `purpose` from before the cut-off."""
        ...

    def purge_journey_memory_older(self, purpose: str, cutoff_us: int, *, limit: int) -> int:
        """Delete up to `limit` of them; how many went."""
        ...

    def count_journey_outcomes_older(self, purpose: str, cutoff_us: int) -> int:
        """The journey outcomes recorded under `purpose` before the cut-off."""
        ...

    def purge_journey_outcomes_older(self, purpose: str, cutoff_us: int, *, limit: int) -> int:
        """Delete up to `limit` of them; how many went."""
        ...

    def active_since(
        self, pseudonyms: Sequence[str], since_us: int, kept_from: Mapping[str, int]
    ) -> set[str]: ...

    def erase(self, pseudonyms: Sequence[str]) -> dict[str, int]: ...

    def forget_deleted(self) -> None:
        """Leave no copy of deleted rows that the engine can remove (old page images,
        log segments): what it cannot (backups, replicas) the operator expires."""
        ...


class ExpiringIdentities(Protocol):
    def created_before(
        self, cutoff: datetime, *, after: str = "", limit: int = 5000
    ) -> list[str]: ...

    def shred(self, pseudonyms: Sequence[str]) -> int: ...


@dataclass
class Receipt:
    """What a run removed (or, dry, would remove), per purpose and store, and why."""

    started_at: datetime
    dry_run: bool
    cutoffs: dict[str, datetime] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)  # purpose -> rows past retention
    journey_memory: dict[str, int] = field(default_factory=dict)  # purpose -> offers past it
    journey_outcomes: dict[str, int] = field(default_factory=dict)  # purpose -> outcomes
    identities: int = 0
    identity_cutoff: datetime | None = None
    # What went with the expired identities, per table (events, purpose_activity, …);
    # empty in a dry run, which does not erase them.
    with_identities: dict[str, int] = field(default_factory=dict)

    def events_deleted(self) -> int:
        """Every event row removed: past its purpose's retention, or with its identity."""
        return sum(self.events.values()) + self.with_identities.get("events", 0)

    def as_dict(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "started_at": self.started_at.isoformat(),
            "cutoffs": {p: c.isoformat() for p, c in sorted(self.cutoffs.items())},
            "deleted": {
                "behavior.events": dict(sorted(self.events.items())),
                "behavior.journey_memory": dict(sorted(self.journey_memory.items())),
                "behavior.journey_outcomes": dict(sorted(self.journey_outcomes.items())),
                "vault.identities": self.identities,
                "behavior.with_identities": dict(sorted(self.with_identities.items())),
            },
            "identity_cutoff": self.identity_cutoff.isoformat() if self.identity_cutoff else None,
        }


class RetentionJob:
    def __init__(
        self,
        contract: Contract,
        behavior: ExpiringBehavior,
        identities: ExpiringIdentities,
        identity_retention: timedelta,
        *,
        chunk: int = CHUNK_ROWS,
        pause_s: float = PAUSE_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._contract = contract
        self._behavior = behavior
        self._identities = identities
        self._identity_retention = identity_retention
        self._chunk = chunk
        self._pause = pause_s
        self._sleep = sleep

    def cutoffs(self, now: datetime) -> Mapping[str, datetime]:
        """Per purpose, the moment before which its events are expired."""
        return {name: now - p.retention for name, p in sorted(self._contract.purposes.items())}

    def run(
        self,
        *,
        now: datetime,
        dry_run: bool = False,
        progress: Progress = NO_PROGRESS,
    ) -> Receipt:
        receipt = Receipt(now, dry_run, dict(self.cutoffs(now)))
        for purpose, cutoff in receipt.cutoffs.items():
            receipt.events[purpose] = self._purge(purpose, to_us(cutoff), dry_run, progress)
            receipt.journey_memory[purpose] = self._purge_memory(purpose, to_us(cutoff), dry_run)
            receipt.journey_outcomes[purpose] = self._purge_outcomes(
                purpose, to_us(cutoff), dry_run
            )
        receipt.identity_cutoff = now - self._identity_retention
        kept_from = {p: to_us(c) for p, c in receipt.cutoffs.items()}
        receipt.identities = self._expire_identities(
            receipt.identity_cutoff, dry_run, progress, kept_from, receipt.with_identities
        )
        if not dry_run:
            self._behavior.forget_deleted()
        return receipt

    def remaining(self, *, now: datetime) -> dict[str, int]:
        """Purposes that still hold events, remembered offers or outcomes past their
        retention, with how many rows."""
        counts = {
            purpose: self._behavior.count_older(purpose, to_us(cutoff))
            + self._behavior.count_journey_memory_older(purpose, to_us(cutoff))
            + self._behavior.count_journey_outcomes_older(purpose, to_us(cutoff))
            for purpose, cutoff in self.cutoffs(now).items()
        }
        return {purpose: n for purpose, n in counts.items() if n}

    def _purge(self, purpose: str, cutoff_us: int, dry_run: bool, progress: Progress) -> int:
        count = self._behavior.count_older(purpose, cutoff_us)
        if dry_run:
            progress.begin(f"{purpose}: events past retention", count)
            progress.end(f"{purpose}: would delete {count} events")
            return count
        progress.begin(f"{purpose}: deleting events past retention", count)
        total = 0
        while deleted := self._behavior.purge_older(purpose, cutoff_us, limit=self._chunk):
            total += deleted
            progress.advance(deleted)
            if deleted < self._chunk:
                break
            self._sleep(self._pause)  # let the server's writer in between chunks
        progress.end(f"{purpose}: {total} events deleted")
        return total

    def _purge_memory(self, purpose: str, cutoff_us: int, dry_run: bool) -> int:
        """The offers remembered under `purpose` past its retention, deleted in chunks as
        the events are (no progress line of their own: one row per decision)."""
        if dry_run:
            return self._behavior.count_journey_memory_older(purpose, cutoff_us)
        total = 0
        while deleted := self._behavior.purge_journey_memory_older(
            purpose, cutoff_us, limit=self._chunk
        ):
            total += deleted
            if deleted < self._chunk:
                break
            self._sleep(self._pause)
        return total

    def _expire_identities(
        self,
        cutoff: datetime,
        dry_run: bool,
        progress: Progress,
        kept_from: Mapping[str, int],
        erased: dict[str, int],
    ) -> int:
        """Shred identities inactive since `cutoff`; what went with them is added up in
        `erased`."""
        total, after = 0, ""
        progress.begin(f"identities inactive since {cutoff.isoformat()}: examined", None)
        while candidates := self._identities.created_before(cutoff, after=after, limit=self._chunk):
            after = candidates[-1]
            active = self._behavior.active_since(candidates, to_us(cutoff), kept_from)
            inactive = [p for p in candidates if p not in active]
            if inactive and not dry_run:
                for table, count in self._behavior.erase(inactive).items():
                    erased[table] = erased.get(table, 0) + count
                self._identities.shred(inactive)
            total += len(inactive)
            progress.advance(len(candidates))
            if len(candidates) < self._chunk:
                break
            self._sleep(self._pause)
        verb = "would shred" if dry_run else "shredded"
        progress.end(f"identities inactive since {cutoff.isoformat()}: {verb} {total}")
        return total

    def _purge_outcomes(self, purpose: str, cutoff_us: int, dry_run: bool) -> int:
        """The journey outcomes recorded under `purpose` past its retention, deleted in
        chunks as the remembered offers are."""
        if dry_run:
            return self._behavior.count_journey_outcomes_older(purpose, cutoff_us)
        total = 0
        while deleted := self._behavior.purge_journey_outcomes_older(
            purpose, cutoff_us, limit=self._chunk
        ):
            total += deleted
            if deleted < self._chunk:
                break
            self._sleep(self._pause)
        return total
