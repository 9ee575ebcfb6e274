"""Text attributes over gRPC, with a deterministic classifier in place of the server's:
the labels are released as signals, fused into the handoff's intent and frustration,
exported with the person's data, and the words are in none of these."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

import tactful.app.domain
from tactful.v1 import common_pb2
from tests.api.test_handoff import handoff
from tests.api.test_journey_outcomes import export
from tests.conftest import T0, Tactful, email, page_view, timestamp, violations
from tests.text_fakes import FAKE_VERSION, FailingClassifier, FakeClassifier

ADA = email("ada@example.com")
ANGRY = "I hate this: the export is broken and I want to cancel"
CANCEL = "I hate this, cancel my plan now"


@pytest.fixture
def with_fake(start_tactful: Callable[..., Tactful], monkeypatch: pytest.MonkeyPatch) -> Tactful:
    monkeypatch.setattr(tactful.app.domain, "open_classifier", FakeClassifier)
    return start_tactful()


def message(text: str, minutes_ago: int = 1) -> common_pb2.Event:
    return common_pb2.Event(
        subject=ADA,
        type="support_message",
        occurred_at=timestamp(T0 - timedelta(minutes=minutes_ago)),
        attributes={
            "message": common_pb2.AttributeValue(string_value=text),
            "channel": common_pb2.AttributeValue(string_value="chat"),
        },
    )


def test_the_labels_are_released_as_signals(with_fake: Tactful) -> None:
    with_fake.record("support_triage", message(ANGRY))
    names = ("last_message_intent", "last_message_sentiment", "intent")
    assert with_fake.signals(ADA, "support_triage", *names) == {
        "last_message_intent": "canceling",
        "last_message_sentiment": "negative",
        "intent": "canceling",  # only the message: 3 × 0.6 to canceling, 3 × 0.3 to reporting
    }


def test_the_handoff_fuses_pages_and_messages(with_fake: Tactful) -> None:
    pages = [page_view(ADA, T0 - timedelta(minutes=9 - i), p) for i, p in enumerate(
        ["/pricing", "/billing"])]  # fmt: skip
    with_fake.record("agent_assist", *pages, principal="agent_console")
    assert handoff(with_fake).intent == "unknown"  # the pages leave it open
    with_fake.record("agent_assist", message(CANCEL, 3), principal="agent_console")
    reply = handoff(with_fake)
    assert (reply.intent, reply.runner_up_intent, reply.frustration) == (
        "canceling",
        "renewing",
        "mild",  # one angry message
    )
    with_fake.record("agent_assist", message(ANGRY, 2), principal="agent_console")
    assert handoff(with_fake).frustration == "high"  # two


def test_the_export_holds_the_labels_and_never_the_words(with_fake: Tactful) -> None:
    with_fake.record("support_triage", message(ANGRY))
    exported = str(export(with_fake))
    assert "message_intent" in exported and FAKE_VERSION in exported
    assert "hate" not in exported and "broken" not in exported


def test_a_failing_classifier_stores_nothing_answers_internal_and_logs_no_words(
    start_tactful: Callable[..., Tactful], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tactful.app.domain, "open_classifier", FailingClassifier)
    log = tmp_path / "server.log"
    running = start_tactful(log_file=log)
    with pytest.raises(grpc.RpcError) as failed:
        running.record("support_triage", page_view(ADA), message(ANGRY))
    assert failed.value.code() is grpc.StatusCode.INTERNAL  # type: ignore[attr-defined]
    assert failed.value.details() == "internal error"  # type: ignore[attr-defined]
    assert running.signals(ADA, "support_triage", "intent") == {}
    running.stop()
    logged = log.read_text(encoding="utf-8")
    assert "hate" not in logged  # the classifier's own message held the words
    assert "events[1].attributes.message: the classifier failed" in logged


def test_a_text_too_long_is_refused_by_its_length(with_fake: Tactful) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        with_fake.record("support_triage", message("cancel " * 300))
    assert violations(refused.value) == {
        "events[0].attributes.message": "is 2100 characters; at most 2000"
    }
