"""Journey states as the contract declares them: the intent model (page topics,
feature weights, threshold) and the rules of frustration, uncertainty and urgency,
each with the kinds of action it calls for.

Every field is optional; the defaults are the model Tactful has always shipped.
A table a contract declares (`page_topics`, `weights`, `high_at`) replaces the
default table whole, so the file shows everything the model reads. The sections are
read and checked by `journey_states_reader.py`.

>>> sorted(DEFAULT_STATES.calls_for(State.URGENCY))
['compensate', 'handoff']
>>> DEFAULT_STATES.intent.threshold
0.5
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from enum import StrEnum
from types import MappingProxyType
from typing import Any

# The seven intents a weight may name (segments.intent.Intent less `unknown`, which is
# what the model answers when unsure); a test keeps the two lists equal.
INTENTS = (
    "researching",
    "comparing",
    "purchasing",
    "renewing",
    "canceling",
    "reporting_issue",
    "escalating",
)
# The kinds of action a state may call for (journeys.playbook.ActionKind's values; the
# contract sits below journeys, so it names them as text; a test keeps them equal).
ACTION_KINDS = (
    "clarify",
    "guide",
    "reassure",
    "retry",
    "compensate",
    "knowledge_base",
    "handoff",
    "nothing",
)
# A feature derived from an event's attributes rather than its type (segments.intent).
DERIVED_FEATURES = {"subscription_canceled": "subscription_changed"}


class State(StrEnum):
    FRUSTRATION = "frustration"  # repeated failures
    UNCERTAINTY = "uncertainty"  # comparing back and forth, abandoning after pricing
    URGENCY = "urgency"  # repeated contacts, a high-value account at night


def frozen(table: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only copy: the defaults and a contract's tables are shared values."""
    return MappingProxyType(dict(table))


# Page topics by path prefix; the longest matching prefix wins.
DEFAULT_PAGE_TOPICS: Mapping[str, str] = frozen(
    {
        "/docs": "docs",
        "/guides": "docs",
        "/features": "docs",
        "/blog": "docs",
        "/pricing": "pricing",
        "/compare": "compare",
        "/vs": "compare",
        "/cart": "checkout",
        "/checkout": "checkout",
        "/billing": "billing",
        "/billing/renew": "renew",
        "/renew": "renew",
        "/cancel": "cancel",
        "/account/cancel": "cancel",
        "/help": "help",
        "/status": "help",
        "/support": "help",
        "/contact": "contact",
        "/help/contact": "contact",
    }
)

# What each feature (`page:TOPIC` or `event:TYPE`) adds to each intent's score. Set by
# hand, reading the training part of segments/data/intent_examples.jsonl;
# `python -m tactful.segments.intent_eval` scores it.
DEFAULT_WEIGHTS: Mapping[str, Mapping[str, float]] = frozen(
    {
        feature: frozen(weights)
        for feature, weights in {
            "page:docs": {"researching": 1.0},
            "page:pricing": {
                "researching": 0.3,
                "comparing": 0.6,
                "purchasing": 0.5,
                "renewing": 0.2,
            },
            "page:compare": {"comparing": 1.5},
            "page:checkout": {"purchasing": 1.5},
            "page:billing": {"renewing": 0.6, "canceling": 0.3, "reporting_issue": 0.2},
            "page:renew": {"renewing": 2.0},
            "page:cancel": {"canceling": 2.0},
            "page:help": {"reporting_issue": 0.9, "researching": 0.1, "escalating": 0.2},
            "page:contact": {"escalating": 1.5},
            "event:cart_updated": {"purchasing": 1.0},
            "event:checkout_started": {"purchasing": 1.5},
            "event:order_completed": {"purchasing": 1.0},
            "event:subscription_changed": {"renewing": 1.0},
            "event:subscription_canceled": {"canceling": 2.0},
            "event:error_shown": {"reporting_issue": 1.0, "escalating": 0.2},
            "event:payment_failed": {"reporting_issue": 0.6, "purchasing": 0.4, "escalating": 0.2},
            "event:login_failed": {"reporting_issue": 0.6, "escalating": 0.3},
            "event:form_abandoned": {"reporting_issue": 0.2, "escalating": 0.6},
            "event:support_ticket_opened": {"escalating": 1.5, "reporting_issue": 0.5},
        }.items()
    }
)

# At this many events of a type in the window, frustration is high; one is mild.
DEFAULT_HIGH_AT: Mapping[str, int] = frozen(
    {"login_failed": 3, "payment_failed": 2, "form_abandoned": 3}
)


NO_TEXT: Mapping[str, tuple[str, ...]] = frozen({})


@dataclass(frozen=True)
class IntentModel:
    """Below `threshold` (the top intent's share of the total score) the answer is
    unknown.

    An event with a text attribute whose intent is derived (`text_intents`: event type
    -> those attributes, from the contract's events) adds `text_weight` × the label's
    confidence to its intent, and `text_weight` × the runner-up's confidence to the
    runner-up: one message can settle what the page views left open."""

    threshold: float = 0.5
    page_topics: Mapping[str, str] = field(default_factory=lambda: DEFAULT_PAGE_TOPICS)
    weights: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: DEFAULT_WEIGHTS)
    text_weight: float = 3.0
    text_intents: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: NO_TEXT)


@dataclass(frozen=True)
class FrustrationRule:
    """High at `high_at[type]` events of a failure type in the window; mild at one.

    A message whose sentiment score is below `negative_text_below` (-1 to 1) counts as
    a failure too: high at `negative_text_high_at` such messages, mild at one. Read from
    the text attributes that derive sentiment (`text_sentiments`: event type -> those
    attributes)."""

    high_at: Mapping[str, int] = field(default_factory=lambda: DEFAULT_HIGH_AT)
    calls_for: frozenset[str] = frozenset({"reassure", "handoff"})
    negative_text_below: float = -0.5
    negative_text_high_at: int = 2
    text_sentiments: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: NO_TEXT)


@dataclass(frozen=True)
class UncertaintyRule:
    """Switching between pages of `topics`: mild at one switch, high at `switches`;
    high as well when an `abandon_events` event follows a view of one of `topics`."""

    topics: frozenset[str] = frozenset({"pricing", "compare"})
    switches: int = 3
    abandon_events: frozenset[str] = frozenset({"form_abandoned"})
    calls_for: frozenset[str] = frozenset({"guide", "reassure"})


@dataclass(frozen=True)
class UrgencyRule:
    """Mild at one contact in the window, high at `repeated_at`; high as well at one
    contact from `night_start` to `night_end` (the person's local time) by a member of
    one of `high_value_segments` (none by default: no one is high-value until named)."""

    contact_events: frozenset[str] = frozenset({"support_ticket_opened", "ticket_created"})
    repeated_at: int = 2
    night_start: time = time(22, 0)
    night_end: time = time(6, 0)
    high_value_segments: frozenset[str] = frozenset()
    calls_for: frozenset[str] = frozenset({"handoff", "compensate"})


@dataclass(frozen=True)
class JourneyStates:
    intent: IntentModel = IntentModel()
    frustration: FrustrationRule = FrustrationRule()
    uncertainty: UncertaintyRule = UncertaintyRule()
    urgency: UrgencyRule = UrgencyRule()

    def calls_for(self, state: State | str) -> frozenset[str]:
        """The kinds of action (ActionKind values) the state calls for when high."""
        rule: FrustrationRule | UncertaintyRule | UrgencyRule = getattr(self, State(state))
        return rule.calls_for


DEFAULT_STATES = JourneyStates()
