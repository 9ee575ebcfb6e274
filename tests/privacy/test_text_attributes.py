"""Text attributes in the contract: what they derive, the labels kept instead, signals
over the labels (never over the text), and every misuse named by its place."""

from __future__ import annotations

import copy
import doctest
from collections.abc import Callable
from typing import Any

import pytest

import tactful.privacy.text_attributes
from tactful.privacy.contract import AttributeType, parse_contract
from tactful.privacy.explain import explain
from tactful.privacy.text_attributes import Derived
from tests.privacy.test_contract import EXAMPLE_DOCUMENT, places, problems_of

MESSAGE = {"type": "text", "max_length": 2000, "derive": ["intent", "sentiment", "language"]}
EVENT = {"description": "A chat message.", "attributes": {"message": MESSAGE}}


def with_chat(
    message: dict[str, Any] | None = None, **more: Any
) -> Callable[[dict[str, Any]], None]:
    """The example contract with a chat_message event collected by support_triage."""

    def edit(document: dict[str, Any]) -> None:
        event = copy.deepcopy(EVENT)
        if message is not None:
            event["attributes"]["message"] = message
        event["attributes"].update(more)
        document["events"]["chat_message"] = event
        document["purposes"]["support_triage"]["collects"].append("chat_message")

    return edit


def document_with(*edits: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    document = copy.deepcopy(EXAMPLE_DOCUMENT)
    for edit in edits:
        edit(document)
    return document


def signal(**raw: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["signals"].__setitem__("chat", {"description": "Chat.", **raw})


def chat_signal(**raw: Any) -> Callable[[dict[str, Any]], None]:
    """The chat event, and a signal over it."""

    def edit(document: dict[str, Any]) -> None:
        with_chat()(document)
        signal(**raw)(document)

    return edit


def test_a_text_attribute_keeps_its_labels_and_never_itself() -> None:
    contract = parse_contract(document_with(with_chat()))
    event = contract.events["chat_message"]
    spec = event.attributes["message"]
    assert spec.type is AttributeType.TEXT and spec.max_length == 2000
    assert spec.derive == frozenset(Derived)
    assert {name: s.type.value for name, s in event.labels.items()} == {
        "message_intent": "enum",
        "message_intent_confidence": "float",
        "message_intent_runner_up": "enum",
        "message_intent_runner_up_confidence": "float",
        "message_sentiment": "enum",
        "message_sentiment_score": "float",
        "message_language": "string",
        "message_classifier": "string",
    }
    assert "unknown" in event.labels["message_intent"].values
    assert event.kept("message") is None  # the text: never kept
    assert event.kept("message_sentiment") is not None
    assert event.texts(Derived.INTENT) == ("message",)
    both = {"support_message": ("message",), "chat_message": ("message",)}
    assert contract.states.intent.text_intents == both
    assert contract.states.frustration.text_sentiments == both


def test_only_the_labels_derived_are_kept() -> None:
    contract = parse_contract(
        document_with(with_chat({"type": "text", "max_length": 100, "derive": ["language"]}))
    )
    assert set(contract.events["chat_message"].labels) == {
        "message_language",
        "message_classifier",
    }
    assert "chat_message" not in contract.states.intent.text_intents
    assert "chat_message" not in contract.states.frustration.text_sentiments


def without_text(document: dict[str, Any]) -> None:
    """The example without its one text attribute, and the signals over its labels."""
    del document["events"]["support_message"]
    for name in ("last_message_intent", "last_message_sentiment", "last_message_language"):
        del document["signals"][name]
    for purpose in document["purposes"].values():
        for key in ("collects", "releases_signals"):
            purpose[key] = [n for n in purpose[key] if "message" not in n]


def test_a_contract_without_text_reads_no_text() -> None:
    contract = parse_contract(document_with(without_text))
    assert contract.states.intent.text_intents == {}
    assert contract.states.frustration.text_sentiments == {}
    assert all(not e.labels for e in contract.events.values())


TEXT_MISTAKES = {
    "text without max_length": (
        with_chat({"type": "text", "derive": ["intent"]}),
        "events.chat_message.attributes.message.max_length",
        "text needs a positive max_length",
    ),
    "text without derive": (
        with_chat({"type": "text", "max_length": 10}),
        "events.chat_message.attributes.message.derive",
        "non-empty list of what to derive",
    ),
    "text deriving nothing": (
        with_chat({"type": "text", "max_length": 10, "derive": []}),
        "events.chat_message.attributes.message.derive",
        "non-empty list",
    ),
    "text deriving a name": (
        with_chat({"type": "text", "max_length": 10, "derive": "intent"}),
        "events.chat_message.attributes.message.derive",
        "intent, sentiment, language",
    ),
    "text deriving something unknown": (
        with_chat({"type": "text", "max_length": 10, "derive": ["intent", "topic"]}),
        "events.chat_message.attributes.message.derive[1]",
        "'topic' is not one of intent, sentiment, language",
    ),
    "text deriving twice": (
        with_chat({"type": "text", "max_length": 10, "derive": ["intent", "intent"]}),
        "events.chat_message.attributes.message.derive[1]",
        "listed twice",
    ),
    "derive on a string": (
        with_chat(
            {"type": "string", "max_length": 10, "derive": ["intent"]},
        ),
        "events.chat_message.attributes.message.derive",
        'only a text attribute derives labels (type = "text")',
    ),
    "a label named as a declared attribute": (
        with_chat(message_language={"type": "string", "max_length": 8}),
        "events.chat_message.attributes.message",
        "'message_language' is the name of another attribute",
    ),
    "a signal over the text": (
        chat_signal(kind="last_value", event="chat_message", attribute="message"),
        "signals.chat.attribute",
        "'message' is text, which is never kept; read one of its labels: message_intent,",
    ),
    "a distinct signal over the text": (
        chat_signal(kind="distinct", event="chat_message", attribute="message", window="1h"),
        "signals.chat.attribute",
        "never kept",
    ),
    "a label not derived": (
        chat_signal(kind="last_value", event="chat_message", attribute="message_topic"),
        "signals.chat.attribute",
        "'message_topic' is not declared on event chat_message",
    ),
}


@pytest.mark.parametrize(("edit", "place", "mentions"), TEXT_MISTAKES.values(), ids=TEXT_MISTAKES)
def test_each_misuse_of_text_is_one_located_problem(
    edit: Callable[[dict[str, Any]], None], place: str, mentions: str
) -> None:
    problems = problems_of(document_with(edit))
    assert places(problems) == [place], problems
    assert mentions in problems[0]


@pytest.mark.parametrize(
    "attribute", ["message_intent", "message_intent_confidence", "message_sentiment_score"]
)
def test_signals_read_the_labels(attribute: str) -> None:
    contract = parse_contract(
        document_with(
            with_chat(), signal(kind="last_value", event="chat_message", attribute=attribute)
        )
    )
    assert contract.signals["chat"].attribute == attribute


def test_a_distinct_signal_reads_a_label() -> None:
    edit = signal(kind="distinct", event="chat_message", attribute="message_language", window="7d")
    contract = parse_contract(document_with(with_chat(), edit))
    assert contract.signals["chat"].attribute == "message_language"


def test_explain_says_the_words_are_not_kept() -> None:
    contract = parse_contract(
        document_with(with_chat({"type": "text", "max_length": 9, "derive": ["language"]}))
    )
    said = explain(contract, "support_triage")
    assert (
        "support_message (channel, message [a person's words: never kept, only their"
        " intent, sentiment and language labels])" in said
    )
    assert (
        "chat_message (message [a person's words: never kept, only their language labels])" in said
    )


def test_text_attributes_doctests() -> None:
    assert doctest.testmod(tactful.privacy.text_attributes).failed == 0


def test_the_fusion_keys_have_defaults_and_read_their_values() -> None:
    default = parse_contract(document_with(with_chat()))
    assert default.states.intent.text_weight == 3.0
    assert default.states.frustration.negative_text_below == -0.5
    assert default.states.frustration.negative_text_high_at == 2

    def keys(document: dict[str, Any]) -> None:
        document["intent"]["text_weight"] = 1.5
        document["states"]["frustration"].update(negative_text_below=-0.8, negative_text_high_at=1)

    contract = parse_contract(document_with(with_chat(), keys))
    assert contract.states.intent.text_weight == 1.5
    assert contract.states.frustration.negative_text_below == -0.8
    assert contract.states.frustration.negative_text_high_at == 1
    assert contract.states.intent.text_intents["chat_message"] == ("message",)


@pytest.mark.parametrize(
    ("section", "key", "value", "place"),
    [
        ("intent", "text_weight", -1, "intent.text_weight"),
        ("intent", "text_weight", "3", "intent.text_weight"),
        ("frustration", "negative_text_below", -1.5, "states.frustration.negative_text_below"),
        ("frustration", "negative_text_below", True, "states.frustration.negative_text_below"),
        ("frustration", "negative_text_high_at", 0, "states.frustration.negative_text_high_at"),
    ],
)
def test_a_bad_fusion_key_is_located(section: str, key: str, value: Any, place: str) -> None:
    def edit(document: dict[str, Any]) -> None:
        table = document["intent"] if section == "intent" else document["states"][section]
        table[key] = value

    assert places(problems_of(document_with(with_chat(), edit))) == [place]
