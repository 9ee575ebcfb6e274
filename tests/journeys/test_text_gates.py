"""Release gates over text: a case gives a message's labels (never its words), and the
replayed journey fuses them into the intent and the frustration as a server does."""

from __future__ import annotations

import copy
import tomllib
from typing import Any

import pytest

from tactful.app.settings import EXAMPLE_CONTRACT, EXAMPLES
from tactful.journeys.errors import PlaybookError
from tactful.journeys.gates import run_case
from tactful.journeys.playbook import Case, CaseEvent, Rung
from tactful.journeys.playbook_file import load_playbook, parse_playbook
from tactful.privacy.contract import load_contract

CONTRACT = load_contract(EXAMPLE_CONTRACT)
PLAYBOOK_FILE = EXAMPLES / "playbooks" / "support_triage.toml"
PLAYBOOK = load_playbook(PLAYBOOK_FILE, CONTRACT)
OPEN_PAGES = (
    CaseEvent("page_viewed", {"path": "/pricing"}),
    CaseEvent("page_viewed", {"path": "/billing"}),
)


def message(intent: str, confidence: float, score: float = 0.0, **more: Any) -> CaseEvent:
    labels = {
        "message_intent": intent,
        "message_intent_confidence": confidence,
        "message_sentiment_score": score,
        **more,
    }
    return CaseEvent("support_message", labels)


def chosen(*events: CaseEvent) -> tuple[str | None, Rung]:
    result = run_case(PLAYBOOK, CONTRACT, Case("t", events, "", Rung.NONE))
    return result.action, result.rung


def test_the_pages_alone_ask_and_a_message_settles_it() -> None:
    assert chosen(*OPEN_PAGES) == ("what_went_wrong", Rung.CLARIFY)
    settled = chosen(*OPEN_PAGES, message("reporting_issue", 0.9))
    assert settled == ("bug_report", Rung.MOST_LIKELY)


def test_a_confident_message_acts_and_an_unsure_one_asks() -> None:
    docs = CaseEvent("page_viewed", {"path": "/docs/integrations"})
    assert chosen(docs, message("researching", 0.8)) == ("kb_article", Rung.NONE)
    unsure = message(
        "researching",
        0.4,
        message_intent_runner_up="reporting_issue",
        message_intent_runner_up_confidence=0.35,
    )
    assert chosen(unsure) == ("what_went_wrong", Rung.CLARIFY)


def test_angry_messages_hand_over_to_a_person() -> None:
    angry = message("reporting_issue", 0.9, score=-0.8)
    assert chosen(angry)[1] is not Rung.HUMAN  # one is mild
    assert chosen(angry, angry) == ("agent_with_context", Rung.HUMAN)


def case_with(attributes: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(tomllib.loads(PLAYBOOK_FILE.read_text(encoding="utf-8")))
    document["cases"] = [
        {
            "name": "words",
            "events": [{"type": "support_message", "attributes": attributes}],
            "expect": {"action": "what_went_wrong", "rung": "clarify"},
        }
    ]
    return document


@pytest.mark.parametrize(
    ("attributes", "problem"),
    [
        (
            {"message": "I want to cancel"},
            "cases[0].events[0].attributes.message: text is never kept, nor classified here;"
            " give its labels instead",
        ),
        (
            {"message_topic": "billing"},
            "cases[0].events[0].attributes.message_topic: not an attribute of event"
            " 'support_message'",
        ),
    ],
)
def test_a_case_gives_labels_never_words(attributes: dict[str, Any], problem: str) -> None:
    with pytest.raises(PlaybookError) as refused:
        parse_playbook(case_with(attributes), CONTRACT)
    assert list(refused.value.problems) == [problem]


def test_a_case_with_labels_loads() -> None:
    playbook = parse_playbook(case_with({"message_intent": "unknown"}), CONTRACT)
    (case,) = playbook.cases
    assert case.events[0].attributes == {"message_intent": "unknown"}
