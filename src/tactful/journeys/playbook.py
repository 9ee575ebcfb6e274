"""Playbooks as values: a journey's action catalogue, its fallback ladder, the
constraints and priority of each action, its explanations and its test cases.

A playbook file is read and checked against the contract by `playbook_file.py`; what
it holds is declared, never code (conditions are trees, `conditions.py`).

Arbitration (`decide.py`) ranks the eligible actions by

    priority = propensity × context weight × value × levers

where the propensity is the intent's confidence and the other three are the action's
declared `priority` parameters (each 1.0 unless declared).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from enum import StrEnum
from typing import Any

from tactful.journeys.conditions import Condition, Reads, reads

# The fallback ladder's defaults; a playbook's [ladder] table overrides each.
DEFAULT_CONFIDENCE_THRESHOLD = 0.5  # below: clarify
DEFAULT_AMBIGUITY_MARGIN = 0.1  # top two intents closer than this: clarify
DEFAULT_MODERATE_THRESHOLD = 0.8  # from confidence_threshold to here: least committal form


class ActionKind(StrEnum):
    CLARIFY = "clarify"  # ask which of the top options the person means
    GUIDE = "guide"  # guide or educate: the next step, explained
    REASSURE = "reassure"
    RETRY = "retry"  # retry, or a workflow that repairs the step
    COMPENSATE = "compensate"  # a discount, a credit: under caps and a budget
    KNOWLEDGE_BASE = "knowledge_base"  # route to an article
    HANDOFF = "handoff"  # a human, with the handoff context
    NOTHING = "nothing"  # do nothing: sometimes the smallest useful action


class Rung(StrEnum):
    """Where on the fallback ladder a decision was made."""

    NONE = "none"  # confident: no fallback fired
    CLARIFY = "clarify"  # unsure or ambiguous: ask, with the top two options
    MOST_LIKELY = "most_likely"  # moderately confident: the most likely, least committal
    HUMAN = "human"  # frustrated, urgent, or nothing eligible: a person


@dataclass(frozen=True)
class Ladder:
    """The fallback ladder's thresholds, intent confidences from 0 to 1."""

    confidence_threshold: float = DEFAULT_CONFIDENCE_THRESHOLD
    ambiguity_margin: float = DEFAULT_AMBIGUITY_MARGIN
    moderate_threshold: float = DEFAULT_MODERATE_THRESHOLD


@dataclass(frozen=True)
class Cap:
    """At most `count` within `window`, per person."""

    count: int
    window: timedelta


@dataclass(frozen=True)
class QuietHours:
    """No action from `start` to `end` (may wrap past midnight) in the person's local
    time, from `locale_signal` where the purpose releases one; UTC otherwise."""

    start: time
    end: time
    locale_signal: str | None = None


@dataclass(frozen=True)
class Constraints:
    """Business constraints, declared and checked here; enforced by `decide.py`."""

    frequency_cap: Cap | None = None
    cooldown: timedelta | None = None
    never_after_refusal: bool = False
    max_compensations: Cap | None = None
    daily_compensation_budget: float | None = None
    quiet_hours: QuietHours | None = None


@dataclass(frozen=True)
class Priority:
    """priority = propensity × context_weight × value × levers (propensity: the intent's
    confidence). Each parameter is 1.0 unless declared."""

    context_weight: float = 1.0
    value: float = 1.0
    levers: float = 1.0


@dataclass(frozen=True)
class Action:
    id: str
    kind: ActionKind
    template: str  # the approved content's id; Tactful never writes copy
    explanation: str  # a key of Playbook.explanations
    eligibility: Condition | None = None  # may this person get it at all?
    applicability: Condition | None = None  # does it fit the situation now?
    suitability: Condition | None = None  # is it right for this person now?
    constraints: Constraints = field(default_factory=Constraints)
    priority: Priority = field(default_factory=Priority)
    cost: float = 0.0  # a compensation's cost, counted against the daily budget

    def reads(self) -> Reads:
        """Every signal and segment the action's conditions read, and the intent."""
        found = Reads()
        for condition in (self.eligibility, self.applicability, self.suitability):
            if condition is not None:
                found = found | reads(condition)
        quiet = self.constraints.quiet_hours
        if quiet is not None and quiet.locale_signal is not None:
            found = found | Reads(signals=frozenset({quiet.locale_signal}))
        return found


@dataclass(frozen=True)
class CaseEvent:
    type: str
    attributes: Mapping[str, Any]


@dataclass(frozen=True)
class Case:
    """A release gate: after these events, the engine must choose `action` on `rung`."""

    name: str
    events: tuple[CaseEvent, ...]
    action: str
    rung: Rung


@dataclass(frozen=True)
class Playbook:
    source: str
    journey: str
    purpose: str
    owner: str
    version: int
    ladder: Ladder
    actions: Mapping[str, Action]
    explanations: Mapping[str, str]
    cases: tuple[Case, ...]
    # The action a held-out person gets: what the product did before (journeys/holdout.py).
    baseline: str | None = None
    changes: str = ""  # what this version changed, in words, for the review and the log
