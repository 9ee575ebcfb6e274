"""Release gates: a playbook's cases run through the real pipeline; a failing case, a
misnamed journey or two journeys on one purpose stop the contract from loading."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tactful.cli.main import main
from tactful.journeys.catalogue import load_journeys
from tactful.journeys.errors import PlaybookError
from tactful.journeys.gates import run_cases
from tactful.privacy.contract import load_contract
from tactful.privacy.errors import ContractError

EXAMPLES = Path(__file__).parents[2] / "src" / "tactful" / "app" / "examples"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the example contract and its playbooks, to break."""
    shutil.copy(EXAMPLES / "contract.toml", tmp_path / "contract.toml")
    shutil.copytree(EXAMPLES / "playbooks", tmp_path / "playbooks")
    return tmp_path


def test_every_example_journey_loads_and_its_cases_pass() -> None:
    contract = load_contract(EXAMPLES / "contract.toml")
    playbooks = load_journeys(contract)
    assert set(playbooks) == set(contract.journeys) and playbooks
    for playbook in playbooks.values():
        results = run_cases(playbook, contract)
        assert results and all(r.passed for r in results), [r.describe() for r in results]


def test_a_failing_case_stops_the_contract_naming_the_case_and_what_was_chosen(
    folder: Path,
) -> None:
    playbook = folder / "playbooks" / "checkout_recovery.toml"
    text = playbook.read_text()
    broken = text.replace(
        'expect = { action = "retry_payment", rung = "none" }',
        'expect = { action = "cart_kept", rung = "none" }',
    )
    assert broken != text
    playbook.write_text(broken)
    with pytest.raises(PlaybookError) as caught:
        load_journeys(load_contract(folder / "contract.toml"))
    [problem] = caught.value.problems
    assert problem.startswith("cases[0] (a first decline: retry): expected cart_kept")
    assert "got retry_payment on rung none" in problem


def test_a_playbook_for_another_journey_is_refused(folder: Path) -> None:
    contract = folder / "contract.toml"
    contract.write_text(
        contract.read_text().replace("[journeys.checkout_recovery]", "[journeys.checkout]")
    )
    with pytest.raises(PlaybookError, match="the contract names this file for journey 'checkout'"):
        load_journeys(load_contract(contract))


def test_two_journeys_on_one_purpose_are_refused(folder: Path) -> None:
    contract = folder / "contract.toml"
    contract.write_text(
        contract.read_text() + '\n[journeys.checkout_again]\nplaybook = "playbooks/again.toml"\n'
    )
    text = (folder / "playbooks" / "checkout_recovery.toml").read_text()
    (folder / "playbooks" / "again.toml").write_text(
        text.replace('journey = "checkout_recovery"', 'journey = "checkout_again"')
    )
    with pytest.raises(PlaybookError, match="already has journey"):
        load_journeys(load_contract(contract))


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        (
            '[journeys.x]\nplaybok = "a.toml"\n',
            "journeys.x.playbok: unknown key; did you mean 'playbook'?",
        ),
        ("[journeys.x]\n", "journeys.x.playbook: is required and must be non-empty text"),
        ('[journeys.X]\nplaybook = "a.toml"\n', "journeys.X: names are lower_snake_case"),
    ],
)
def test_the_contracts_journeys_table_is_checked(folder: Path, table: str, problem: str) -> None:
    contract = folder / "contract.toml"
    contract.write_text(contract.read_text() + "\n" + table)
    with pytest.raises(ContractError) as caught:
        load_contract(contract)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_a_missing_playbook_file_is_named(folder: Path) -> None:
    (folder / "playbooks" / "checkout_recovery.toml").unlink()
    with pytest.raises(PlaybookError, match="checkout_recovery.toml: cannot read"):
        load_journeys(load_contract(folder / "contract.toml"))


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def tactful(capsys: pytest.CaptureFixture[str]) -> Callable[..., Ran]:
    def run(*args: str) -> Ran:
        code = main(list(args))
        out = capsys.readouterr()
        return Ran(code, out.out, out.err)

    return run


def test_journeys_test_prints_each_case_and_fails_on_a_failing_one(
    folder: Path, tactful: Callable[..., Ran]
) -> None:
    ok = tactful("journeys", "test", "--file", str(folder / "contract.toml"))
    assert ok.returncode == 0, ok.stderr
    assert "ok    a first decline: retry: retry_payment on rung none" in ok.stdout
    playbook = folder / "playbooks" / "checkout_recovery.toml"
    playbook.write_text(
        playbook.read_text().replace(
            'expect = { action = "talk_to_billing", rung = "human" }\n\n[[cases]]',
            'expect = { action = "talk_to_billing", rung = "none" }\n\n[[cases]]',
            1,
        )
    )
    failed = tactful(
        "journeys", "test", "checkout_recovery", "--file", str(folder / "contract.toml")
    )
    assert failed.returncode == 1
    assert (
        "FAIL  a suspected fraud: billing, never a retry: expected talk_to_billing on rung none"
        in failed.stdout
    )


def test_journeys_explain_reads_a_playbook_in_words(tactful: Callable[..., Ran]) -> None:
    shown = tactful(
        "journeys", "explain", "checkout_recovery", "--file", str(EXAMPLES / "contract.toml")
    )
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "purpose:     checkout_recovery (contract)" in out
    assert "action goodwill_credit: compensate" in out
    assert "never again once refused" in out
    assert "baseline:    change_method (what a held-out person gets)" in out
    assert "success metric recovered_revenue" in out
    assert "applies when:  (payment_failures_24h >= 1 and payment_failures_24h < 3)" in out
    unknown = tactful("journeys", "explain", "nope", "--file", str(EXAMPLES / "contract.toml"))
    assert unknown.returncode == 1 and "declared: " in unknown.stderr


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ("holdout = 0.0 ", "holdout = 0.1 ", "journeys.checkout_recovery.holdout"),
        ("share = 0.0 ", "share = 0.05 ", "[holdout] share"),
    ],
)
def test_a_held_out_journey_without_a_baseline_is_refused(
    folder: Path, old: str, new: str, named: str
) -> None:
    contract = folder / "contract.toml"
    contract.write_text(contract.read_text().replace(old, new))
    playbook = folder / "playbooks" / "checkout_recovery.toml"
    text = playbook.read_text()
    playbook.write_text(text.replace('baseline = "change_method"', ""))
    with pytest.raises(PlaybookError) as caught:
        load_journeys(load_contract(contract))
    [problem] = caught.value.problems
    assert problem.startswith("baseline: the contract holds people out of this journey")
    assert named in problem
    playbook.write_text(text)  # with its baseline, it loads
    assert load_journeys(load_contract(contract))["checkout_recovery"].baseline == "change_method"
