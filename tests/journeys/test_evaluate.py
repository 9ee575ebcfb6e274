"""The journeys' accuracy evaluation: it runs, and a wrong expectation counts as a miss."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tactful.journeys.catalogue import load_journeys
from tactful.journeys.evaluate import CONTRACT, FIXTURES, evaluate, load_fixtures, main
from tactful.privacy.contract import load_contract
from tactful.segments.attributes import check_attributes


def test_every_fixture_names_a_journey_of_the_example_and_events_its_purpose_collects() -> None:
    contract = load_contract(CONTRACT)
    fixtures = load_fixtures()
    assert {f.journey for f in fixtures} <= set(contract.journeys)
    assert any(f.held_out for f in fixtures) and any(not f.held_out for f in fixtures)
    evaluate(fixtures, load_journeys(contract), contract)  # raises on a stray event


def test_every_journey_has_fixtures_to_tune_on_and_fixtures_held_out() -> None:
    parts: dict[str, set[bool]] = {}
    for fixture in load_fixtures():
        parts.setdefault(fixture.journey, set()).add(fixture.held_out)
    assert parts == {journey: {False, True} for journey in load_contract(CONTRACT).journeys}


def test_every_fixture_event_has_only_attributes_the_contract_declares_well_typed() -> None:
    contract = load_contract(CONTRACT)
    playbooks = load_journeys(contract)
    for fixture in load_fixtures():
        purpose = contract.purposes[playbooks[fixture.journey].purpose]
        for i, event in enumerate(fixture.case.events):
            where = f"{fixture.case.name}: events[{i}]"
            checked = check_attributes(
                where, contract.events[event.type], purpose, event.attributes
            )
            assert checked.violations == [] and checked.dropped == 0, where


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
