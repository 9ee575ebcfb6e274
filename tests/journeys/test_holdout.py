"""Holdouts: golden draws from tests/vectors/holdouts.json, shares honoured over many
people, and arms that survive pseudonym key rotation."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tactful.journeys.holdout import Arm, Holdouts, assign, draw, subject_key
from tactful.privacy.contract import Contract, load_contract
from tactful.privacy.keyring import KeyringWatcher, create_keyring, rotate_keyring
from tactful.privacy.pseudonym import Pseudonymizer, normalize
from tests.conftest import T0

EXAMPLE_CONTRACT = Path(__file__).parents[2] / "examples" / "contract.toml"

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "vectors" / "holdouts.json").read_text(encoding="utf-8")
)
KEY = bytes.fromhex(VECTORS["key"])


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["normalized"])
def test_draws_and_arms_match_the_golden_vectors(case: dict[str, Any]) -> None:
    subject = subject_key(case["namespace"], case["normalized"])
    for scope, expected in case["draws"].items():
        assert draw(KEY, subject, scope) == expected
    shares = (VECTORS["journey_share"], VECTORS["global_share"])
    assert assign(KEY, subject, VECTORS["journey"], *shares) == Arm(case["arm"])


def test_the_vectors_hold_every_arm() -> None:
    assert {c["arm"] for c in VECTORS["cases"]} == set(Arm)


def test_a_global_holdout_is_held_out_of_every_journey() -> None:
    for case in VECTORS["cases"]:
        subject = subject_key(case["namespace"], case["normalized"])
        arms = {assign(KEY, subject, j, 0.0, VECTORS["global_share"]) for j in ("a", "b", "c")}
        assert len(arms) == 1


@settings(max_examples=20, deadline=None)
@given(
    key=st.binary(min_size=32, max_size=32),
    journey_share=st.sampled_from([0.0, 0.05, 0.1, 0.3, 0.5]),
    global_share=st.sampled_from([0.0, 0.05, 0.2, 0.5]),
)
def test_shares_are_honoured_within_sampling_error(
    key: bytes, journey_share: float, global_share: float
) -> None:
    n = 4000
    counts = dict.fromkeys(Arm, 0)
    for i in range(n):
        subject = subject_key("customer_id", f"C-{i}")
        counts[assign(key, subject, "checkout_recovery", journey_share, global_share)] += 1
    expected = {
        Arm.GLOBAL_HOLDOUT: global_share,
        Arm.JOURNEY_HOLDOUT: (1 - global_share) * journey_share,
        Arm.TREATMENT: (1 - global_share) * (1 - journey_share),
    }
    for arm, p in expected.items():
        error = 5 * (p * (1 - p) / n) ** 0.5  # five standard errors: a false alarm is rare
        assert abs(counts[arm] / n - p) <= error + 1e-9, (arm, counts)


def _contract(journey_share: float, global_share: float) -> Contract:
    contract = load_contract(EXAMPLE_CONTRACT)
    journeys = {
        name: replace(spec, holdout=journey_share) for name, spec in contract.journeys.items()
    }
    return replace(contract, journeys=journeys, holdout=global_share)


def test_rotating_the_pseudonym_key_moves_nobody(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    create_keyring(path, now=T0)
    watcher = KeyringWatcher(path)
    holdouts = Holdouts(_contract(0.3, 0.3), watcher.keys("holdout"))
    pseudonymizer = Pseudonymizer(watcher.keys("pseudonym"))
    people = [normalize("email", f"person{i}@example.com") for i in range(200)]
    journey = sorted(_contract(0, 0).journeys)[0]
    before = [holdouts.arm(journey, "email", p) for p in people]
    pseudonyms = [pseudonymizer.pseudonymize("email", p) for p in people]
    assert set(before) == set(Arm)
    rotate_keyring(path, ["pseudonym", "signing"], now=T0)
    assert [pseudonymizer.pseudonymize("email", p) for p in people] != pseudonyms
    assert [holdouts.arm(journey, "email", p) for p in people] == before


def test_no_share_is_treatment_without_reading_the_key() -> None:
    class Unread:
        def snapshot(self) -> Any:
            raise AssertionError("the key was read")

    holdouts = Holdouts(_contract(0.0, 0.0), Unread())  # type: ignore[arg-type]
    assert holdouts.arm("checkout_recovery", "email", "ada@example.com") is Arm.TREATMENT
