"""Differentially private insights: noisy segment sizes, within a privacy budget.

`Insights.release_segment_sizes`, for a principal with role `analyst`, in order:

1. decide: the role may read aggregates, the principal may claim the purpose;
2. check epsilon: finite, above 0, at most `MAX_EPSILON_PER_RELEASE`, and one
   OpenDP can make a measurement of at the sensitivity below (5e-324 makes the
   scale infinite): else InvalidRequest, before anything is spent;
3. in one ledger transaction that refuses an overdraw (`BudgetExhausted`): debit
   the principal's budget (keeping the access record the call is owed until it is
   durable: privacy/pending_records.py), count the members of each segment,
   exactly, from the data collected under the purpose, and add discrete Laplace
   noise (OpenDP, in `tactful.privacy._dp`) at the scale for epsilon and the
   sensitivity. The debit commits, durably, before the sizes leave; a release
   that fails on the way rolls the debit back and spends nothing;
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
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from tactful.privacy import _dp
from tactful.privacy.contract import Contract
from tactful.privacy.decisions import Action, Actor, Decision, decide, enforce
from tactful.privacy.errors import BudgetExhausted, InvalidRequest, Violation
from tactful.privacy.pending_records import PendingRecord
from tactful.timestamps import to_us

MAX_EPSILON_PER_RELEASE = 10.0
DEFAULT_BUDGET = 1.0
# Decimal epsilons do not add up exactly in binary (0.1 + 0.2 > 0.3); this much
# slack, privacy-wise nothing, lets a budget be spent to the last decimal.
_ROUNDING_SLACK = 1e-9


@dataclass(frozen=True)
class Debit:
    """Privacy loss spent by one principal on one release."""

    principal: str
    purpose: str
    epsilon: float
    debited_at_us: int


class LedgerTransaction(Protocol):
    """One principal's debits, inside a transaction no other debit of theirs can enter."""

    @property
    def spent(self) -> float:
        """The epsilon the principal has spent so far."""
        ...

    def add(self, debit: Debit) -> None: ...

    def keep_pending_record(self, record: PendingRecord) -> None:
        """Keep the access record the debit's call is owed, with the debit."""
        ...


class BudgetLedger(Protocol):
    def transaction(self, principal: str) -> AbstractContextManager[LedgerTransaction]:
        """Exclusive over the principal's debits, whatever the concurrency (threads,
        processes, servers): what is added commits, durably, when the block ends,
        and is rolled back if the block raises."""
        ...

    def spent(self, principal: str) -> float: ...


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
        self,
        actor: Actor,
        purpose: str,
        epsilon: float,
        *,
        now: datetime,
        owed: Callable[[Decision], PendingRecord] | None = None,
    ) -> ReleasedSizes:
        """Noisy member counts of every contract segment under `purpose`. `owed(decision)`:
        the access record the call gets, kept with the debit until it is durable.

        Call from the single writer thread: the debit is a write.
        """
        segments = sorted(self._contract.segments)
        decision = enforce(decide(self._contract, actor, Action.READ_AGGREGATES, purpose, segments))
        sensitivity = len(segments)
        scale = _scale(epsilon, sensitivity)
        now_us = to_us(now)
        with self._ledger.transaction(actor.name) as ledger:
            before = ledger.spent
            if before + epsilon > self._budget + _ROUNDING_SLACK:  # never overdrawn
                raise BudgetExhausted(
                    round(before, 12), _remaining(self._budget, before), requested=epsilon
                )
            ledger.add(Debit(actor.name, purpose, epsilon, now_us))
            remaining = _remaining(self._budget, math.fsum((before, epsilon)))
            reason = (
                f"purpose {purpose} allows {Action.READ_AGGREGATES}; released segment sizes"
                f" with epsilon {epsilon}, {remaining} of the budget remaining"
            )
            decision = replace(decision, reason=reason)
            if owed is not None:
                ledger.keep_pending_record(owed(decision))
            counts = self._counter.segment_counts(purpose, now_us)
            exact = [counts.get(name, 0) for name in segments]
            noisy = _dp.add_discrete_laplace_noise(exact, scale) if exact else []
        return ReleasedSizes(
            decision,
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
