"""'Why this' for the person: categories in words, never values, and never a segment
the person is not in."""

from __future__ import annotations

from pathlib import Path

from tactful.journeys.catalogue import load_journey
from tactful.journeys.decide import Decision
from tactful.journeys.explanation import NO_SEGMENTS, explain, words_list
from tactful.journeys.playbook import ActionKind, Rung
from tactful.privacy.contract import load_contract

CONTRACT = load_contract(Path(__file__).parents[2] / "examples" / "contract.toml")


def decided(action: str, kind: ActionKind, *categories: str) -> Decision:
    return Decision(action, kind, "t", Rung.NONE, 1.0, None, (), frozenset(categories), 1)


def test_a_segment_read_but_not_held_is_not_said_to_be_held() -> None:
    retention = load_journey(CONTRACT, "account_retention", gates=False)
    read = ("segment:premium_account", "segment:high_risk_churn", "segment:enterprise_admin")
    credit = decided("loyalty_credit", ActionKind.COMPENSATE, *read)
    member_of = frozenset({"premium_account", "high_risk_churn"})
    text = explain(retention, credit, CONTRACT, step="account", member_of=member_of)
    assert "you are high risk churn and premium account" in text
    assert "enterprise" not in text
    assert NO_SEGMENTS in explain(retention, credit, CONTRACT, step="account")


def test_signals_are_described_to_the_person_in_the_second_person() -> None:
    multilingual = load_journey(CONTRACT, "multilingual_support", gates=False)
    helped = decided("help_in_language", ActionKind.GUIDE, "signal:preferred_language")
    text = explain(multilingual, helped, CONTRACT, step="help")
    assert "because of the language you chose last, for multilingual support" in text
    assert "the person" not in text


def test_words_list() -> None:
    assert [words_list(x) for x in ([], ["a"], ["a", "b"])] == ["", "a", "a and b"]
