"""The journeys' accuracy evaluation: it runs, and a wrong expectation counts as a miss."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tactful.journeys.catalogue import load_journeys
from tactful.journeys.evaluate import CONTRACT, FIXTURES, evaluate, load_fixtures, main
from tactful.privacy.contract import load_contract


def test_every_fixture_names_a_journey_of_the_example_and_events_its_purpose_collects() -> None:
    contract = load_contract(CONTRACT)
    fixtures = load_fixtures()
    assert {f.journey for f in fixtures} <= set(contract.journeys)
    assert any(f.held_out for f in fixtures) and any(not f.held_out for f in fixtures)
    evaluate(fixtures, load_journeys(contract), contract)  # raises on a stray event


def test_a_wrong_expectation_is_a_miss(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = json.loads(FIXTURES.read_text().splitlines()[0])
    line["held_out"] = True
    line["expect"] = {"action": "cart_kept", "rung": "most_likely"}
    path = tmp_path / "fixtures.jsonl"
    path.write_text(json.dumps(line) + "\n")
    assert main(["--fixtures", str(path), "--misses"]) == 0
    out = capsys.readouterr().out
    assert "checkout_recovery               1     0.0%     0.0%" in out
    assert "FAIL  one processing error: expected cart_kept on rung most_likely" in out
