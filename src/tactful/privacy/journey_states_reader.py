"""Reading and checking a contract's `[intent]` and `[states.*]` sections into
`JourneyStates` (journey_states.py): every key optional, its default today's model;
every mistake a problem named by its place (`intent.weights."page:docs".researching:
must be a number, 0 or more`), all reported at once by the contract's loader.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import time
from typing import Any, Protocol

from tactful.privacy.journey_states import (
    ACTION_KINDS,
    DERIVED_FEATURES,
    INTENTS,
    NO_TEXT,
    FrustrationRule,
    IntentModel,
    JourneyStates,
    State,
    UncertaintyRule,
    UrgencyRule,
    frozen,
)


class Checks(Protocol):
    """How the contract's loader collects problems (contract._Checker)."""

    def problem(self, where: str, what: str) -> None: ...

    def keys(self, where: str, table: Mapping[str, Any], known: Iterable[str]) -> None: ...


_INTENT_KEYS = ("threshold", "page_topics", "weights", "text_weight")
_STATE_KEYS: Mapping[State, tuple[str, ...]] = {
    State.FRUSTRATION: ("high_at", "calls_for", "negative_text_below", "negative_text_high_at"),
    State.UNCERTAINTY: ("topics", "switches", "abandon_events", "calls_for"),
    State.URGENCY: (
        "contact_events",
        "repeated_at",
        "night",
        "high_value_segments",
        "calls_for",
    ),
}
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_FEATURE = re.compile(r"(page|event):([a-z][a-z0-9_]{0,63})")


@dataclass(frozen=True)
class TextSources:
    """The contract's text attributes that derive intent, and sentiment, by event type."""

    intents: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: NO_TEXT)
    sentiments: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: NO_TEXT)


def parse_journey_states(
    checks: Checks,
    document: Mapping[str, Any],
    events: Iterable[str],
    segments: Iterable[str],
    text: TextSources = TextSources(),
) -> JourneyStates:
    """The `[intent]` and `[states.*]` tables of a contract document; each problem is
    given to `checks`, named by its place. `text`: where the fused text labels are."""
    parser = _Parser(checks, frozenset(events), frozenset(segments))
    intent = parser.intent(parser.table(document, "intent"))
    intent = replace(intent, text_intents=frozen(text.intents))
    states = parser.table(document, "states")
    checks.keys("states", states, [str(s) for s in State])
    frustration = parser.frustration(parser.table(states, "frustration", "states"))
    return JourneyStates(
        intent,
        replace(frustration, text_sentiments=frozen(text.sentiments)),
        parser.uncertainty(parser.table(states, "uncertainty", "states"), intent),
        parser.urgency(parser.table(states, "urgency", "states")),
    )


class _Parser:
    def __init__(self, checks: Checks, events: frozenset[str], segments: frozenset[str]) -> None:
        self.checks = checks
        self.events = events
        self.segments = segments

    def table(self, parent: Mapping[str, Any], key: str, where: str = "") -> Mapping[str, Any]:
        value = parent.get(key, {})
        if not isinstance(value, dict):
            self.checks.problem(f"{where}.{key}" if where else key, "must be a table")
            return {}
        return value

    def intent(self, raw: Mapping[str, Any]) -> IntentModel:
        self.checks.keys("intent", raw, _INTENT_KEYS)
        default = IntentModel()
        threshold = default.threshold
        if "threshold" in raw:
            value = raw["threshold"]
            if _number(value) and 0 <= value <= 1:
                threshold = float(value)
            else:
                self.checks.problem("intent.threshold", "must be a number from 0 to 1")
        topics = default.page_topics
        if "page_topics" in raw:
            topics = self.page_topics(raw["page_topics"])
        weights = default.weights
        if "weights" in raw:
            weights = self.weights(raw["weights"], frozenset(topics.values()))
        text_weight = default.text_weight
        if "text_weight" in raw:
            value = raw["text_weight"]
            if _number(value) and value >= 0:
                text_weight = float(value)
            else:
                self.checks.problem("intent.text_weight", "must be a number, 0 or more")
        return IntentModel(threshold, topics, weights, text_weight)

    def page_topics(self, raw: object) -> Mapping[str, str]:
        where = "intent.page_topics"
        if not isinstance(raw, dict):
            self.checks.problem(
                where, 'must be a table of path prefix = topic, e.g. "/docs" = "docs"'
            )
            return {}
        topics = {}
        for prefix, topic in raw.items():
            if not (prefix.startswith("/") and len(prefix) <= 512):
                self.checks.problem(f'{where}."{prefix}"', "a path prefix starts with /")
            elif prefix != "/" and prefix.endswith("/"):
                self.checks.problem(f'{where}."{prefix}"', "write the prefix without a trailing /")
            elif not (isinstance(topic, str) and re.fullmatch(r"[a-z][a-z0-9_]{0,63}", topic)):
                self.checks.problem(f'{where}."{prefix}"', "must be a topic name, lower_snake_case")
            else:
                topics[prefix] = topic
        return frozen(topics)

    def weights(self, raw: object, topics: frozenset[str]) -> Mapping[str, Mapping[str, float]]:
        where = "intent.weights"
        if not isinstance(raw, dict):
            self.checks.problem(where, 'must be a table, e.g. "page:docs" = { researching = 1.0 }')
            return {}
        weights = {}
        for feature, table in raw.items():
            place = f'{where}."{feature}"'
            known = self.feature(place, feature, topics)
            if not isinstance(table, dict):
                self.checks.problem(place, "must be a table of intent = weight")
            elif known:
                weights[feature] = frozen(self.intent_weights(place, table))
        return frozen(weights)

    def feature(self, place: str, feature: str, topics: frozenset[str]) -> bool:
        match = _FEATURE.fullmatch(feature)
        if match is None:
            self.checks.problem(place, 'a feature is "page:TOPIC" or "event:TYPE"')
            return False
        kind, name = match.groups()
        if kind == "page" and name not in topics | {"other"}:
            self.checks.problem(place, f"no page topic {name!r} in intent.page_topics")
            return False
        if kind == "event" and DERIVED_FEATURES.get(name, name) not in self.events:
            self.checks.problem(place, f"event {name!r} is not declared in [events]")
            return False
        return True

    def intent_weights(self, place: str, table: Mapping[str, Any]) -> dict[str, float]:
        weights = {}
        for intent, weight in table.items():
            if intent not in INTENTS:
                self.checks.problem(
                    f"{place}.{intent}", f"is not an intent; intents: {', '.join(INTENTS)}"
                )
            elif not (_number(weight) and weight >= 0):
                self.checks.problem(f"{place}.{intent}", "must be a number, 0 or more")
            else:
                weights[intent] = float(weight)
        return weights

    def frustration(self, raw: Mapping[str, Any]) -> FrustrationRule:
        where = "states.frustration"
        self.checks.keys(where, raw, _STATE_KEYS[State.FRUSTRATION])
        default = FrustrationRule()
        high_at = default.high_at
        if "high_at" in raw:
            table = raw["high_at"]
            if not isinstance(table, dict):
                self.checks.problem(f"{where}.high_at", "must be a table of event type = count")
                table = {}
            high_at = frozen(
                {
                    event: count
                    for event, count in table.items()
                    if self.event(f"{where}.high_at.{event}", event)
                    and self.count(f"{where}.high_at.{event}", count)
                }
            )
        below = default.negative_text_below
        if "negative_text_below" in raw:
            value = raw["negative_text_below"]
            if _number(value) and -1 <= value <= 1:
                below = float(value)
            else:
                self.checks.problem(
                    f"{where}.negative_text_below", "must be a sentiment score from -1 to 1"
                )
        negative_high_at = default.negative_text_high_at
        key = "negative_text_high_at"
        if key in raw and self.count(f"{where}.{key}", raw[key]):
            negative_high_at = raw[key]
        calls_for = self.calls_for(raw, where, default.calls_for)
        return FrustrationRule(high_at, calls_for, below, negative_high_at)

    def uncertainty(self, raw: Mapping[str, Any], intent: IntentModel) -> UncertaintyRule:
        where = "states.uncertainty"
        self.checks.keys(where, raw, _STATE_KEYS[State.UNCERTAINTY])
        default = UncertaintyRule()
        topics = default.topics
        if "topics" in raw:
            known = set(intent.page_topics.values())
            topics = self.names(raw, "topics", where, known, "a page topic of intent.page_topics")
        switches = default.switches
        if "switches" in raw and self.count(f"{where}.switches", raw["switches"]):
            switches = raw["switches"]
        abandon = default.abandon_events
        if "abandon_events" in raw:
            abandon = self.names(raw, "abandon_events", where, self.events, "declared in [events]")
        return UncertaintyRule(
            topics, switches, abandon, self.calls_for(raw, where, default.calls_for)
        )

    def urgency(self, raw: Mapping[str, Any]) -> UrgencyRule:
        where = "states.urgency"
        self.checks.keys(where, raw, _STATE_KEYS[State.URGENCY])
        default = UrgencyRule()
        contacts = default.contact_events
        if "contact_events" in raw:
            contacts = self.names(raw, "contact_events", where, self.events, "declared in [events]")
        repeated_at = default.repeated_at
        if "repeated_at" in raw and self.count(f"{where}.repeated_at", raw["repeated_at"]):
            repeated_at = raw["repeated_at"]
        start, end = default.night_start, default.night_end
        if "night" in raw:
            start, end = self.night(raw["night"], f"{where}.night", (start, end))
        high_value = default.high_value_segments
        if "high_value_segments" in raw:
            high_value = self.names(
                raw, "high_value_segments", where, self.segments, "declared in [segments]"
            )
        calls_for = self.calls_for(raw, where, default.calls_for)
        return UrgencyRule(contacts, repeated_at, start, end, high_value, calls_for)

    def night(self, raw: object, where: str, default: tuple[time, time]) -> tuple[time, time]:
        if not (isinstance(raw, dict) and set(raw) == {"start", "end"}):
            self.checks.problem(where, 'must be { start = "22:00", end = "06:00" }')
            return default
        found = []
        for key in ("start", "end"):
            value = raw[key]
            match = _CLOCK.fullmatch(value) if isinstance(value, str) else None
            if match is None:
                self.checks.problem(f"{where}.{key}", 'must be a time of day, "HH:MM" (24-hour)')
                return default
            found.append(time(int(match.group(1)), int(match.group(2))))
        if found[0] == found[1]:
            self.checks.problem(where, "start and end are equal; the night would be empty")
            return default
        return found[0], found[1]

    def calls_for(
        self, raw: Mapping[str, Any], where: str, default: frozenset[str]
    ) -> frozenset[str]:
        if "calls_for" not in raw:
            return default
        return self.names(raw, "calls_for", where, frozenset(ACTION_KINDS), "an action kind")

    def names(
        self, raw: Mapping[str, Any], key: str, where: str, known: Iterable[str], what: str
    ) -> frozenset[str]:
        value = raw[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.checks.problem(f"{where}.{key}", "must be a list of names")
            return frozenset()
        known = sorted(known)
        good = set()
        for index, name in enumerate(value):
            if name in known:
                good.add(name)
            else:
                hint = ", ".join(known) if len(known) <= 12 else f"{len(known)} names"
                self.checks.problem(f"{where}.{key}[{index}]", f"{name!r} is not {what} ({hint})")
        return frozenset(good)

    def event(self, where: str, event: str) -> bool:
        if event not in self.events:
            self.checks.problem(where, f"event {event!r} is not declared in [events]")
            return False
        return True

    def count(self, where: str, value: object) -> bool:
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            self.checks.problem(where, "must be a whole number, 1 or more")
            return False
        return True


def _number(value: object) -> bool:
    """True for a finite TOML integer or float; booleans are not numbers here."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
