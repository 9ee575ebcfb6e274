"""Differentially private insights: noisy segment sizes, within a privacy budget.

`Insights.release_segment_sizes`, for a principal with role `analyst`, in order:

1. decide: the role may read aggregates, the principal may claim the purpose;
2. check epsilon: finite, above 0, at most `MAX_EPSILON_PER_RELEASE`;
3. debit the principal's budget in the ledger, durably, in one transaction that
   refuses an overdraw (`BudgetExhausted`). The debit comes before anything is
   counted: a release that fails after it has still spent its epsilon, which is
   the safe direction;
4. count the members of each segment, exactly, from the data collected under
   the purpose;
5. add discrete Laplace noise (OpenDP, in `privacy._dp`) at the scale for
   epsilon and the sensitivity below.

Which segments. `releases_segments` says what may leave about one person
(`GetSegments`); an aggregate purpose such as `analytics` releases none of that.
Its aggregate release covers every segment the contract declares, in name
order: a set fixed by the contract, never by the data. A declared segment that
nothing computes yet has no members, as `GetSegments` would say too.

Sensitivity. The privacy unit is one subject. Each contributes at most 1 to a
segment's count (members are counted, not events) and may be in several
segments at once; we bound that number explicitly as `max_segments_per_person`
= the number of segments released, so the L1 sensitivity of the count vector
is that number, whatever rules the segments come to have. `new_visitor` and
`returning_visitor` exclude each other, so with those two the bound also covers
a subject counted under two pseudonym key versions between a rotation and its
rekey.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
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
    def debit(self, debit: Debit, *, budget: float) -> float:
        """Record `debit` if the principal's total stays within `budget` and return
        the total spent with it; otherwise BudgetExhausted, nothing recorded."""
        ...


class SegmentCounter(Protocol):
    def segment_counts(self, purpose: str, now_us: int) -> dict[str, int]:
        """Exact members per segment among the subjects with data under `purpose`."""
        ...


@dataclass(frozen=True)
class ReleasedSizes:
    decision: Decision
    sizes: Mapping[str, int]  # segment -> noisy count, in name order
    epsilon_spent: float
    epsilon_remaining: float


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
        _check_epsilon(epsilon)
        now_us = int(now.timestamp()) * 1_000_000 + now.microsecond
        spent = self._ledger.debit(Debit(actor.name, purpose, epsilon, now_us), budget=self._budget)
        remaining = _remaining(self._budget, spent)
        counts = self._counter.segment_counts(purpose, now_us)
        exact = [counts.get(name, 0) for name in segments]
        noisy = (
            _dp.add_discrete_laplace_noise(exact, _dp.discrete_laplace_scale(epsilon, len(exact)))
            if exact
            else []
        )
        reason = (
            f"purpose {purpose} allows {Action.READ_AGGREGATES}; released segment sizes"
            f" with epsilon {epsilon}, {remaining} of the budget remaining"
        )
        return ReleasedSizes(
            replace(decision, reason=reason),
            dict(zip(segments, noisy, strict=True)),
            epsilon,
            remaining,
        )


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

    def debit(self, debit: Debit, *, budget: float) -> float:
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
        return math.fsum((spent, debit.epsilon))

    def spent(self, principal: str) -> float:
        """The epsilon `principal` has spent so far."""
        return self._spent(principal)

    def _spent(self, principal: str) -> float:
        rows = self._db.conn.execute("SELECT epsilon FROM debits WHERE principal = ?", (principal,))
        return math.fsum(row[0] for row in rows)

    def close(self) -> None:
        self._db.close()
