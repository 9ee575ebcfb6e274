"""Differentially private insights: noisy segment sizes, within a privacy budget.

`Insights.release_segment_sizes`, for a principal with role `analyst`, in order:

1. decide: the role may read aggregates, the principal may claim the purpose;
2. check epsilon: finite, above 0, at most `MAX_EPSILON_PER_RELEASE`, and one
   OpenDP can make a measurement of at the sensitivity below (5e-324 makes the
   scale infinite): else InvalidRequest, before anything is spent;
3. in one ledger transaction that refuses an overdraw (`BudgetExhausted`): debit
   the principal's budget, count the members of each segment, exactly, from the
   data collected under the purpose, and add discrete Laplace noise (OpenDP, in
   `privacy._dp`) at the scale for epsilon and the sensitivity. The debit
   commits, durably, before the sizes leave; a release that fails on the way
   rolls the debit back and spends nothing;
4. clamp each noisy count at 0: post-processing, which costs no privacy, so an
   analyst never sees a negative size.

Which segments. `releases_segments` says what may leave about one person
(`GetSegments`); an aggregate purpose such as `analytics` releases none of that.
Its aggregate release covers every segment the contract declares, in name
order: a set fixed by the contract, never by the data. A declared segment that
nothing computes yet has no members, as `GetSegments` would say too.

Sensitivity. The privacy unit is one subject. Each contributes at most 1 to a
segment's count (members are counted, not events) and may be in several
segments at once; we bound that number explicitly as `max_segments_per_person`
= the number of segments released, so the L1 sensitivity of the count vector
is that number, whatever rules the segments come to have (7 for the example
contract: epsilon 0.5 gives scale 14). `new_visitor` and `returning_visitor`
exclude each other, so with those two the bound also covers a subject counted
under two pseudonym key versions between a rotation and its rekey. The reply
carries the sensitivity and the scale, so an analyst can read the noise off it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

import sqlite_utils

from privacy import _dp
from privacy.contract import Contract
from privacy.decisions import Action, Actor, Decision, decide, enforce
from privacy.errors import BudgetExhausted, InvalidRequest, Violation
from privacy.sqlite import connect

MAX_EPSILON_PER_RELEASE = 10.0
DEFAULT_BUDGET = 1.0
# Decimal epsilons do not add up exactly in binary (0.1 + 0.2 > 0.3); this much
# slack, privacy-wise nothing, lets a budget be spent to the last decimal.
_ROUNDING_SLACK = 1e-9

migrations = sqlite_utils.Migrations("tactful.insights")


@migrations()
def m001_debits(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE TABLE debits (id INTEGER PRIMARY KEY, principal TEXT NOT NULL,"
        " purpose TEXT NOT NULL, epsilon REAL NOT NULL, debited_at_us INTEGER NOT NULL)"
    )
    db.execute("CREATE INDEX debits_principal ON debits (principal)")


@dataclass(frozen=True)
class Debit:
    """Privacy loss spent by one principal on one release."""

    principal: str
    purpose: str
    epsilon: float
    debited_at_us: int


class BudgetLedger(Protocol):
    def debiting(self, debit: Debit, *, budget: float) -> AbstractContextManager[float]:
        """A transaction that records `debit` if the principal's total stays within
        `budget` and yields the total spent with it (otherwise BudgetExhausted, nothing
        recorded). The debit commits, durably, when the block ends, and is rolled back
        if the block raises."""
        ...


class SegmentCounter(Protocol):
    def segment_counts(self, purpose: str, now_us: int) -> dict[str, int]:
        """Exact members per segment among the subjects with data under `purpose`."""
        ...


@dataclass(frozen=True)
class ReleasedSizes:
    decision: Decision
    sizes: Mapping[str, int]  # segment -> noisy count clamped at 0, in name order
    epsilon_spent: float
    epsilon_remaining: float
    sensitivity: int  # L1: the number of sizes released
    scale: float  # of the discrete Laplace noise: sensitivity / epsilon (rounded up)


class Insights:
    def __init__(
        self,
        contract: Contract,
        counter: SegmentCounter,
        ledger: BudgetLedger,
        *,
        budget: float = DEFAULT_BUDGET,
    ) -> None:
        self._contract = contract
        self._counter = counter
        self._ledger = ledger
        self._budget = budget

    def release_segment_sizes(
        self, actor: Actor, purpose: str, epsilon: float, *, now: datetime
    ) -> ReleasedSizes:
        """Noisy member counts of every contract segment under `purpose`.

        Call from the single writer thread: the debit is a write.
        """
        segments = sorted(self._contract.segments)
        decision = enforce(decide(self._contract, actor, Action.READ_AGGREGATES, purpose, segments))
        sensitivity = len(segments)
        scale = _scale(epsilon, sensitivity)
        now_us = int(now.timestamp()) * 1_000_000 + now.microsecond
        debit = Debit(actor.name, purpose, epsilon, now_us)
        with self._ledger.debiting(debit, budget=self._budget) as spent:
            counts = self._counter.segment_counts(purpose, now_us)
            exact = [counts.get(name, 0) for name in segments]
            noisy = _dp.add_discrete_laplace_noise(exact, scale) if exact else []
        remaining = _remaining(self._budget, spent)
        reason = (
            f"purpose {purpose} allows {Action.READ_AGGREGATES}; released segment sizes"
            f" with epsilon {epsilon}, {remaining} of the budget remaining"
        )
        return ReleasedSizes(
            replace(decision, reason=reason),
            dict(zip(segments, (max(0, n) for n in noisy), strict=True)),
            epsilon,
            remaining,
            sensitivity,
            scale,
        )


def _scale(epsilon: float, sensitivity: int) -> float:
    """The noise scale for `epsilon`, or InvalidRequest: checked before any debit."""
    _check_epsilon(epsilon)
    if sensitivity == 0:
        return 0.0  # no segments, nothing to add noise to
    try:
        return _dp.discrete_laplace_scale(epsilon, sensitivity)
    except ValueError:
        problem = (
            f"is {epsilon!r}; too small for a noise scale at sensitivity {sensitivity}"
            " (OpenDP can make no measurement of it), e.g. 0.1"
        )
        raise InvalidRequest([Violation("epsilon", problem)]) from None


def _check_epsilon(epsilon: float) -> None:
    if not math.isfinite(epsilon) or epsilon <= 0:
        problem = "must be a finite number greater than 0, e.g. 0.1"
    elif epsilon > MAX_EPSILON_PER_RELEASE:
        problem = f"is {epsilon}; at most {MAX_EPSILON_PER_RELEASE} in one release"
    else:
        return
    raise InvalidRequest([Violation("epsilon", problem)])


def _remaining(budget: float, spent: float) -> float:
    return max(0.0, round(budget - spent, 12))


class SqliteBudgetLedger:
    """The ledger on SQLite, in its own file: one row per debit, never updated.

    Debits are fsynced at commit (`synchronous=FULL`): a release must never leave
    while the debit that pays for it could still be lost.
    """

    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._db.execute("PRAGMA synchronous=FULL")
        migrations.apply(self._db)

    @contextmanager
    def debiting(self, debit: Debit, *, budget: float) -> Iterator[float]:
        conn = self._db.conn
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            spent = self._spent(debit.principal)
            if spent + debit.epsilon > budget + _ROUNDING_SLACK:
                raise BudgetExhausted(
                    round(spent, 12), _remaining(budget, spent), requested=debit.epsilon
                )
            conn.execute(
                "INSERT INTO debits (principal, purpose, epsilon, debited_at_us)"
                " VALUES (?, ?, ?, ?)",
                (debit.principal, debit.purpose, debit.epsilon, debit.debited_at_us),
            )
            yield math.fsum((spent, debit.epsilon))

    def spent(self, principal: str) -> float:
        """The epsilon `principal` has spent so far."""
        return self._spent(principal)

    def debits(self) -> list[Debit]:
        """Every debit, oldest first: each release made, by whom, and its epsilon."""
        rows = self._db.conn.execute(
            "SELECT principal, purpose, epsilon, debited_at_us FROM debits ORDER BY id"
        )
        return [Debit(*row) for row in rows]

    def _spent(self, principal: str) -> float:
        rows = self._db.conn.execute("SELECT epsilon FROM debits WHERE principal = ?", (principal,))
        return math.fsum(row[0] for row in rows)

    def close(self) -> None:
        self._db.close()
