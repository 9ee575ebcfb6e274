"""The contract's journey declarations beside the playbook: holdouts, outcomes and the
success metric; and the global holdout."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tactful.privacy.contract import load_contract
from tactful.privacy.errors import ContractError
from tactful.privacy.journey_specs import Guard, Outcome, SuccessMetric

EXAMPLE = Path(__file__).parents[2] / "examples" / "contract.toml"


def test_the_example_declares_every_journeys_outcomes_and_success_metric() -> None:
    contract = load_contract(EXAMPLE)
    checkout = contract.journeys["checkout_recovery"]
    assert checkout.success_metric is SuccessMetric.RECOVERED_REVENUE
    assert Outcome.RECOVERED_AMOUNT in checkout.outcomes
    assert all(j.success_metric is not None for j in contract.journeys.values())
    assert contract.holdout == 0.0 and checkout.holdout == 0.0
    assert checkout.guards == {Guard.COMPLAINT: 0.02, Guard.FALLBACK: 0.10}
    assert checkout.guard_significance == 0.05


def test_a_journey_may_declare_its_guards_significance(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("guard_significance = 0.05", "guard_significance = 0.01")
    (tmp_path / "contract.toml").write_text(text)
    spec = load_contract(tmp_path / "contract.toml").journeys["checkout_recovery"]
    assert spec.guard_significance == 0.01
    (tmp_path / "contract.toml").write_text(re.sub(r"guard_significance = .*\n", "", text))
    spec = load_contract(tmp_path / "contract.toml").journeys["checkout_recovery"]
    assert spec.guard_significance == 0.05  # the default


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (("[holdout]\nshare = 0.0", "[holdout]\nshare = 0.6"), "holdout.share: a share of people"),
        (("[holdout]\nshare = 0.0", "[holdout]\nshare = true"), "holdout.share: a share of people"),
        (("[holdout]\nshare = 0.0", "[holdout]\nshares = 0.1"), "holdout.shares: unknown key"),
        (
            ('success_metric = "recovered_revenue"', 'success_metric = "revenue"'),
            "journeys.checkout_recovery.success_metric: must be one of",
        ),
        (
            ('"converted", "recovered_amount", ', '"converted", '),
            "journeys.checkout_recovery.success_metric: recovered_revenue reads the outcome",
        ),
        (
            (
                'outcomes = ["converted", "recovered_amount"',
                'outcomes = ["sold", "recovered_amount"',
            ),
            "journeys.checkout_recovery.outcomes[0]: 'sold' is not an outcome",
        ),
        *(
            (
                ("guard_significance = 0.05", f"guard_significance = {bad}"),
                "journeys.checkout_recovery.guard_significance: the chance a check may roll back",
            )
            for bad in ("0", "0.6", "true", '"5%"', "nan")
        ),
    ],
)
def test_mistakes_are_named_by_their_place(
    tmp_path: Path, edit: tuple[str, str], problem: str
) -> None:
    text = EXAMPLE.read_text()
    assert edit[0] in text
    (tmp_path / "contract.toml").write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(ContractError) as caught:
        load_contract(tmp_path / "contract.toml")
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems
