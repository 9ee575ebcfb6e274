"""Ingest replaces a text attribute by its labels before anything is stored, checks it
without ever echoing it, and leaves events without text as they were."""

from __future__ import annotations

import doctest
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

import tactful.segments.text_labels
from tactful.app.settings import EXAMPLE_CONTRACT
from tactful.privacy.contract import load_contract
from tactful.privacy.decisions import Actor
from tactful.privacy.errors import InvalidRequest
from tactful.privacy.keyring import KeySet
from tactful.privacy.pseudonym import Pseudonymizer
from tactful.privacy.suppression import Tombstones
from tactful.segments.ingest import EventInput, EventRecorder, SubjectInput
from tactful.segments.store import StoredEvent
from tactful.segments.text_labels import TextClassifier, TextNotClassified
from tactful.timestamps import to_us
from tests.conftest import T0
from tests.text_fakes import FAKE_VERSION, FailingClassifier, FakeClassifier

CONTRACT = load_contract(EXAMPLE_CONTRACT)
WIDGET = Actor("support_widget", frozenset({"frontend"}), frozenset({"support_triage"}))
WORDS = "I hate this, it is broken and I want to cancel"


class Encoding:
    """The store's encode, and only it: preparing a batch reads no store."""

    def encode(self, events: Sequence[StoredEvent], *, received_at_us: int) -> list[StoredEvent]:
        return list(events)


def recorder(classifier: TextClassifier | None) -> EventRecorder[Any]:
    keys = KeySet("pseudonym", 1, {1: bytes(range(32))})
    tombstones = Tombstones(KeySet("suppression", 1, {1: bytes(range(1, 33))}))
    return EventRecorder(
        CONTRACT,
        Pseudonymizer(keys),
        None,  # type: ignore[arg-type]  # preparing writes no vault
        Encoding(),  # type: ignore[arg-type]
        tombstones,
        classifier=classifier,
    )


def event(kind: str, attributes: Mapping[str, Any]) -> EventInput:
    return EventInput(SubjectInput("email", "ada@example.com"), kind, to_us(T0), attributes)


def message(text: Any, **more: Any) -> EventInput:
    return event("support_message", {"message": text, "channel": "chat", **more})


def prepared(classifier: TextClassifier | None, *events: EventInput) -> list[StoredEvent]:
    batch = recorder(classifier).prepare(WIDGET, "support_triage", events, now=T0)
    return list(batch.events)


def test_the_text_is_replaced_by_its_labels() -> None:
    (stored,) = prepared(FakeClassifier(), message(WORDS))
    assert dict(stored.attributes) == {
        "channel": "chat",
        "message_intent": "canceling",
        "message_intent_confidence": 0.6,
        "message_intent_runner_up": "reporting_issue",
        "message_intent_runner_up_confidence": 0.3,
        "message_sentiment": "negative",
        "message_sentiment_score": -0.9,
        "message_language": "en",
        "message_classifier": FAKE_VERSION,
    }
    assert WORDS not in repr(stored)


def test_a_text_without_a_runner_up_keeps_no_runner_up() -> None:
    (stored,) = prepared(FakeClassifier(), message("thanks, please renew it"))
    assert stored.attributes["message_intent"] == "renewing"
    assert "message_intent_runner_up" not in stored.attributes
    assert stored.attributes["message_sentiment"] == "positive"


def test_events_without_text_are_not_classified() -> None:
    classifier = FakeClassifier()
    stored = prepared(
        classifier,
        event("page_viewed", {"path": "/cancel"}),
        event("support_message", {"channel": "web"}),  # its text is optional
    )
    assert [dict(s.attributes) for s in stored] == [{"path": "/cancel"}, {"channel": "web"}]
    assert classifier.calls == 0


@pytest.mark.parametrize(
    ("value", "description"),
    [
        ("x" * 2001, "is 2001 characters; at most 2000"),
        (42, "must be a text (string_value), got int"),
        (True, "must be a text (string_value), got bool"),
    ],
)
def test_a_bad_text_is_named_and_never_echoed(value: Any, description: str) -> None:
    classifier = FakeClassifier()
    with pytest.raises(InvalidRequest) as refused:
        prepared(classifier, event("page_viewed", {"path": "/help"}), message(value))
    (violation,) = refused.value.violations
    assert (violation.field, violation.description) == (
        "events[1].attributes.message",
        description,
    )
    assert str(value) not in str(refused.value)
    assert classifier.calls == 0  # a batch that does not check is never classified


def test_a_batch_refused_for_another_event_is_never_classified() -> None:
    classifier = FakeClassifier()
    with pytest.raises(InvalidRequest):
        prepared(classifier, message(WORDS), event("page_viewed", {"path": 7}))
    assert classifier.calls == 0


def test_a_failing_classifier_stores_nothing_and_repeats_no_text() -> None:
    with pytest.raises(TextNotClassified) as failed:
        prepared(FailingClassifier(), message(WORDS))
    assert str(failed.value) == "events[0].attributes.message: the classifier failed"
    assert failed.value.__cause__ is None and failed.value.__suppress_context__


def test_without_a_classifier_text_is_refused_and_other_events_pass() -> None:
    with pytest.raises(TextNotClassified, match="no classifier is configured"):
        prepared(None, message(WORDS))
    assert len(prepared(None, event("page_viewed", {"path": "/"}))) == 1


def test_text_labels_doctests() -> None:
    assert doctest.testmod(tactful.segments.text_labels).failed == 0


def test_a_client_cannot_send_labels_of_its_own() -> None:
    with pytest.raises(InvalidRequest) as refused:
        prepared(FakeClassifier(), message(WORDS, message_intent="purchasing"))
    (violation,) = refused.value.violations
    assert violation.field == "events[0].attributes.message_intent"
    assert "not declared" in violation.description
