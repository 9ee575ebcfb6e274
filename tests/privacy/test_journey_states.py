"""The contract's [intent] and [states.*] sections: defaults, values, every mistake named
by its place, and nothing but ContractError for any document."""

from __future__ import annotations

import copy
import doctest
from dataclasses import replace
from datetime import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tactful.privacy.journey_states
from tactful.journeys.playbook import ActionKind
from tactful.privacy.contract import parse_contract
from tactful.privacy.errors import ContractError
from tactful.privacy.journey_states import (
    ACTION_KINDS,
    DEFAULT_STATES,
    INTENTS,
    NO_TEXT,
    JourneyStates,
    State,
)
from tactful.segments.intent import Intent
from tests.privacy.test_contract import EXAMPLE_DOCUMENT, problems_of, toml_values

WITHOUT_STATES = {k: v for k, v in EXAMPLE_DOCUMENT.items() if k not in ("intent", "states")}


def with_sections(**sections: Any) -> dict[str, Any]:
    document = copy.deepcopy(WITHOUT_STATES)
    document.update(sections)
    return document


def test_the_names_kept_as_text_equal_the_enums_they_stand_for() -> None:
    assert list(ACTION_KINDS) == [k.value for k in ActionKind]
    assert list(INTENTS) == [i.value for i in Intent if i is not Intent.UNKNOWN]


def without_text(states: JourneyStates) -> JourneyStates:
    """The states less where the contract's text labels are, which its events decide."""
    return replace(
        states,
        intent=replace(states.intent, text_intents=NO_TEXT),
        frustration=replace(states.frustration, text_sentiments=NO_TEXT),
    )


def test_a_contract_without_the_sections_gets_the_defaults() -> None:
    states = parse_contract(WITHOUT_STATES).states
    assert without_text(states) == DEFAULT_STATES == JourneyStates()
    assert states.intent.text_intents == {"support_message": ("message",)}


def test_the_example_declares_the_defaults_and_names_its_high_value_segments() -> None:
    states = without_text(parse_contract(EXAMPLE_DOCUMENT).states)
    assert (states.intent, states.frustration, states.uncertainty) == (
        DEFAULT_STATES.intent,
        DEFAULT_STATES.frustration,
        DEFAULT_STATES.uncertainty,
    )
    assert states.urgency.high_value_segments == {"premium_account", "enterprise_admin"}


def test_declared_values_replace_the_defaults() -> None:
    states = parse_contract(
        with_sections(
            intent={
                "threshold": 0.4,
                "page_topics": {"/tarifs": "pricing", "/": "home"},
                "weights": {
                    "page:pricing": {"comparing": 1, "purchasing": 0.5},
                    "event:subscription_canceled": {"canceling": 2},
                },
            },
            states={
                "frustration": {"high_at": {"login_failed": 5}, "calls_for": ["handoff"]},
                "uncertainty": {"topics": ["pricing"], "switches": 2, "abandon_events": []},
                "urgency": {
                    "contact_events": ["support_ticket_opened"],
                    "repeated_at": 4,
                    "night": {"start": "21:30", "end": "07:00"},
                    "high_value_segments": ["premium_account"],
                    "calls_for": [],
                },
            },
        )
    ).states
    assert states.intent.threshold == 0.4
    assert dict(states.intent.page_topics) == {"/tarifs": "pricing", "/": "home"}
    assert dict(states.intent.weights["page:pricing"]) == {"comparing": 1.0, "purchasing": 0.5}
    assert set(states.intent.weights) == {"page:pricing", "event:subscription_canceled"}
    assert dict(states.frustration.high_at) == {"login_failed": 5}
    assert states.calls_for(State.FRUSTRATION) == {"handoff"}
    assert (states.uncertainty.topics, states.uncertainty.switches) == ({"pricing"}, 2)
    assert states.uncertainty.abandon_events == frozenset()
    assert states.calls_for("uncertainty") == {"guide", "reassure"}  # not declared: default
    assert (states.urgency.night_start, states.urgency.night_end) == (time(21, 30), time(7))
    assert states.urgency.repeated_at == 4
    assert states.calls_for(State.URGENCY) == frozenset()


W = 'intent.weights."page:docs"'


@pytest.mark.parametrize(
    ("sections", "problem"),
    [
        ({"intent": "fast"}, "intent: must be a table"),
        ({"intent": {"treshold": 0.5}}, "intent.treshold: unknown key; did you mean 'threshold'?"),
        ({"intent": {"threshold": "high"}}, "intent.threshold: must be a number from 0 to 1"),
        ({"intent": {"threshold": 1.5}}, "intent.threshold: must be a number from 0 to 1"),
        ({"intent": {"threshold": True}}, "intent.threshold: must be a number from 0 to 1"),
        ({"intent": {"threshold": float("nan")}}, "intent.threshold: must be a number from 0 to 1"),
        ({"intent": {"page_topics": ["/docs"]}}, "intent.page_topics: must be a table"),
        ({"intent": {"page_topics": {"docs": "docs"}}}, 'intent.page_topics."docs": a path'),
        ({"intent": {"page_topics": {"/docs/": "docs"}}}, 'intent.page_topics."/docs/": write'),
        ({"intent": {"page_topics": {"/docs": 3}}}, 'intent.page_topics."/docs": must be a topic'),
        ({"intent": {"page_topics": {"/d": "Docs"}}}, 'intent.page_topics."/d": must be a topic'),
        ({"intent": {"weights": []}}, "intent.weights: must be a table"),
        ({"intent": {"weights": {"page:docs": 1.0}}}, f"{W}: must be a table of intent = weight"),
        (
            {"intent": {"weights": {"page:docs": {"researching": "x"}}}},
            f"{W}.researching: must be a number, 0 or more",
        ),
        (
            {"intent": {"weights": {"page:docs": {"researching": -1}}}},
            f"{W}.researching: must be a number, 0 or more",
        ),
        (
            {"intent": {"weights": {"page:docs": {"researching": float("inf")}}}},
            f"{W}.researching: must be a number, 0 or more",
        ),
        (
            {"intent": {"weights": {"page:docs": {"wondering": 1}}}},
            f"{W}.wondering: is not an intent; intents: researching, comparing",
        ),
        (
            {"intent": {"weights": {"page:docs": {"unknown": 1}}}},
            f"{W}.unknown: is not an intent",
        ),
        (
            {"intent": {"weights": {"page:nowhere": {"researching": 1}}}},
            "intent.weights.\"page:nowhere\": no page topic 'nowhere' in intent.page_topics",
        ),
        (
            {"intent": {"page_topics": {"/x": "x"}, "weights": {"page:docs": {"comparing": 1}}}},
            f"{W}: no page topic 'docs'",
        ),
        (
            {"intent": {"weights": {"event:nope": {"researching": 1}}}},
            "intent.weights.\"event:nope\": event 'nope' is not declared in [events]",
        ),
        (
            {"intent": {"weights": {"click:docs": {"researching": 1}}}},
            'intent.weights."click:docs": a feature is "page:TOPIC" or "event:TYPE"',
        ),
        ({"states": []}, "states: must be a table"),
        ({"states": {"mood": {}}}, "states.mood: unknown key"),
        ({"states": {"frustration": "high"}}, "states.frustration: must be a table"),
        (
            {"states": {"frustration": {"high_at": {"nope": 2}}}},
            "states.frustration.high_at.nope: event 'nope' is not declared in [events]",
        ),
        (
            {"states": {"frustration": {"high_at": {"login_failed": 0}}}},
            "states.frustration.high_at.login_failed: must be a whole number, 1 or more",
        ),
        (
            {"states": {"frustration": {"high_at": {"login_failed": 2.5}}}},
            "states.frustration.high_at.login_failed: must be a whole number, 1 or more",
        ),
        ({"states": {"frustration": {"high_at": 3}}}, "states.frustration.high_at: must be"),
        (
            {"states": {"frustration": {"calls_for": ["escalate"]}}},
            "states.frustration.calls_for[0]: 'escalate' is not an action kind (clarify,",
        ),
        (
            {"states": {"frustration": {"calls_for": "handoff"}}},
            "states.frustration.calls_for: must be a list of names",
        ),
        (
            {"states": {"uncertainty": {"topics": ["pricing", "nowhere"]}}},
            "states.uncertainty.topics[1]: 'nowhere' is not a page topic of intent.page_topics",
        ),
        (
            {"states": {"uncertainty": {"switches": True}}},
            "states.uncertainty.switches: must be a whole number, 1 or more",
        ),
        (
            {"states": {"uncertainty": {"abandon_events": ["left"]}}},
            "states.uncertainty.abandon_events[0]: 'left' is not declared in [events]",
        ),
        (
            {"states": {"urgency": {"repeat_at": 2}}},
            "states.urgency.repeat_at: unknown key; did you mean 'repeated_at'?",
        ),
        (
            {"states": {"urgency": {"repeated_at": -1}}},
            "states.urgency.repeated_at: must be a whole number, 1 or more",
        ),
        (
            {"states": {"urgency": {"contact_events": ["called"]}}},
            "states.urgency.contact_events[0]: 'called' is not declared in [events]",
        ),
        (
            {"states": {"urgency": {"high_value_segments": ["vip"]}}},
            "states.urgency.high_value_segments[0]: 'vip' is not declared in [segments]",
        ),
        (
            {"states": {"urgency": {"night": "late"}}},
            'states.urgency.night: must be { start = "22:00", end = "06:00" }',
        ),
        (
            {"states": {"urgency": {"night": {"start": "22:00"}}}},
            'states.urgency.night: must be { start = "22:00", end = "06:00" }',
        ),
        (
            {"states": {"urgency": {"night": {"start": "25:00", "end": "06:00"}}}},
            'states.urgency.night.start: must be a time of day, "HH:MM" (24-hour)',
        ),
        (
            {"states": {"urgency": {"night": {"start": "22:00", "end": 6}}}},
            'states.urgency.night.end: must be a time of day, "HH:MM" (24-hour)',
        ),
        (
            {"states": {"urgency": {"night": {"start": "22:00", "end": "22:00"}}}},
            "states.urgency.night: start and end are equal; the night would be empty",
        ),
    ],
)
def test_each_mistake_is_named_by_its_place(sections: dict[str, Any], problem: str) -> None:
    found = problems_of(with_sections(**sections))
    assert any(p.startswith(problem) for p in found), found


def test_every_mistake_is_reported_at_once() -> None:
    found = problems_of(
        with_sections(
            intent={"threshold": 2, "weights": {"page:docs": {"wondering": 1}}},
            states={"urgency": {"repeated_at": 0}, "uncertainty": {"switches": 0}},
        )
    )
    assert len(found) == 4, found


def test_the_doctests_hold() -> None:
    result = doctest.testmod(tactful.privacy.journey_states)
    assert result.attempted > 0 and result.failed == 0


SECTION_WORDS = [
    "threshold", "page_topics", "weights", "frustration", "uncertainty", "urgency",
    "high_at", "calls_for", "topics", "switches", "abandon_events", "contact_events",
    "repeated_at", "night", "start", "end", "high_value_segments", "page:docs",
    "event:login_failed", "researching", "login_failed", "/docs", "22:00", "handoff",
]  # fmt: skip
section_keys = st.one_of(st.sampled_from(SECTION_WORDS), st.text(max_size=6))
section_values = st.recursive(
    st.one_of(st.sampled_from(SECTION_WORDS), toml_values),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(section_keys, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    intent=st.one_of(st.dictionaries(section_keys, section_values, max_size=4), section_values),
    states=st.one_of(
        st.dictionaries(
            st.sampled_from(["frustration", "uncertainty", "urgency", "x"]),
            st.dictionaries(section_keys, section_values, max_size=5),
            max_size=3,
        ),
        section_values,
    ),
)
def test_any_sections_load_or_raise_contract_error(intent: Any, states: Any) -> None:
    try:
        parse_contract(with_sections(intent=intent, states=states))
    except ContractError as exc:
        assert exc.problems
        assert all(isinstance(p, str) and ": " in p for p in exc.problems)
