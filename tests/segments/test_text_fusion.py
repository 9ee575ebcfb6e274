"""Fusion: a message's intent label joins the page views' evidence by the contract's
`text_weight`, and strongly negative messages count toward frustration; a contract
without text reads as before."""

from __future__ import annotations

import doctest
from dataclasses import replace

import pytest

import tactful.segments.frustration
import tactful.segments.intent
from tactful.app.settings import EXAMPLE_CONTRACT
from tactful.privacy.contract import load_contract
from tactful.privacy.journey_states import DEFAULT_STATES, FrustrationRule
from tactful.segments.frustration import Level, frustration_level
from tactful.segments.intent import Inference, Intent, infer_intent
from tactful.segments.store import JourneyEvent

STATES = load_contract(EXAMPLE_CONTRACT).states
MODEL = STATES.intent
OPEN_PAGES = [
    JourneyEvent("page_viewed", 1, {"path": "/pricing"}),
    JourneyEvent("page_viewed", 2, {"path": "/billing"}),
]


def said(
    intent: str,
    confidence: float,
    runner_up: str | None = None,
    runner_up_confidence: float = 0.0,
    *,
    score: float = 0.0,
    at: int = 3,
) -> JourneyEvent:
    labels: dict[str, str | float] = {
        "message_intent": intent,
        "message_intent_confidence": confidence,
        "message_sentiment": "negative" if score < 0 else "neutral",
        "message_sentiment_score": score,
        "message_language": "en",
        "message_classifier": "fake-keywords-1",
    }
    if runner_up is not None:
        labels["message_intent_runner_up"] = runner_up
        labels["message_intent_runner_up_confidence"] = runner_up_confidence
    return JourneyEvent("support_message", at, labels)


def test_the_example_reads_its_text_attribute() -> None:
    assert MODEL.text_intents == {"support_message": ("message",)}
    assert MODEL.text_weight == 3.0


def test_page_views_alone_leave_the_intent_open() -> None:
    inference = infer_intent(OPEN_PAGES, MODEL)
    assert inference.intent is Intent.UNKNOWN
    assert inference.runner_up is Intent.COMPARING


def test_a_confident_message_settles_what_the_pages_left_open() -> None:
    # pages: renewing .8, comparing .6, purchasing .5, canceling .3, researching .3,
    # reporting_issue .2; the message adds 3 × 0.9 to canceling.
    inference = infer_intent([*OPEN_PAGES, said("canceling", 0.9)], MODEL)
    assert inference == Inference(Intent.CANCELING, 0.556, Intent.RENEWING, 0.148)


def test_an_unsure_message_adds_its_runner_up_and_leaves_it_open() -> None:
    inference = infer_intent([*OPEN_PAGES, said("canceling", 0.3, "renewing", 0.25)], MODEL)
    # canceling .3 + .9 = 1.2; renewing .8 + .75 = 1.55 of 4.35: below the threshold.
    assert inference == Inference(Intent.UNKNOWN, 0.356, Intent.CANCELING, 0.276)


def test_an_unknown_message_adds_nothing() -> None:
    pages_only = infer_intent(OPEN_PAGES, MODEL)
    assert infer_intent([*OPEN_PAGES, said("unknown", 0.7)], MODEL) == pages_only
    assert infer_intent([said("unknown", 0.7)], MODEL) == Inference(Intent.UNKNOWN, 0.0)


def test_the_weight_is_the_contracts() -> None:
    pages_only = infer_intent(OPEN_PAGES, MODEL)
    silent = replace(MODEL, text_weight=0.0)
    assert infer_intent([*OPEN_PAGES, said("canceling", 0.9)], silent) == pages_only
    strong = replace(MODEL, text_weight=10.0)
    assert infer_intent([*OPEN_PAGES, said("canceling", 0.6)], strong).confidence == 0.724


def test_a_contract_without_text_never_reads_labels() -> None:
    events = [*OPEN_PAGES, said("canceling", 0.9)]
    assert DEFAULT_STATES.intent.text_intents == {}
    assert infer_intent(events, DEFAULT_STATES.intent) == infer_intent(OPEN_PAGES, MODEL)


@pytest.mark.parametrize(
    ("scores", "level"),
    [
        ([], Level.NONE),
        ([0.4, -0.2], Level.NONE),
        ([-0.5], Level.NONE),  # strictly below the threshold counts
        ([-0.6], Level.MILD),
        ([-0.6, 0.3, -0.9], Level.HIGH),
    ],
)
def test_strongly_negative_messages_count_toward_frustration(
    scores: list[float], level: Level
) -> None:
    events = [said("unknown", 0.0, score=s, at=i) for i, s in enumerate(scores)]
    assert frustration_level(events, STATES.frustration) is level


def test_negative_messages_add_to_the_failures() -> None:
    failed = [JourneyEvent("login_failed", 0, {})]
    angry = said("unknown", 0.0, score=-0.8)
    assert frustration_level(failed, STATES.frustration) is Level.MILD
    assert frustration_level([*failed, angry], STATES.frustration) is Level.MILD
    one_is_enough = replace(STATES.frustration, negative_text_high_at=1)
    assert frustration_level([angry], one_is_enough) is Level.HIGH
    stricter = replace(STATES.frustration, negative_text_below=-0.9)
    assert frustration_level([angry], stricter) is Level.NONE


def test_a_rule_without_text_ignores_sentiment() -> None:
    angry = [said("unknown", 0.0, score=-0.9, at=i) for i in range(3)]
    assert frustration_level(angry, FrustrationRule()) is Level.NONE


def test_the_fusion_doctests() -> None:
    assert doctest.testmod(tactful.segments.intent).failed == 0
    assert doctest.testmod(tactful.segments.frustration).failed == 0
