"""`tactful scorecard JOURNEY`: the table, the JSON, the analyst's budget it spends and
the receipt it leaves."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tactful.journeys.outcomes import OutcomeReport, ScoredDecision
from tactful.storage.sqlite.journey_outcomes import SqliteJourneyOutcomes
from tactful.timestamps import to_us
from tests.cli.test_cli_records import records, run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The development principals, a keyring, and 400 people scored on support_triage an
    hour ago (put where the SQLite outcome store reads them)."""
    monkeypatch.delenv("TACTFUL_DATA_DIR", raising=False)
    monkeypatch.delenv("TACTFUL_LISTEN", raising=False)
    development = (ROOT / "examples" / "development.toml").read_text()
    development = development.replace('listen = "127.0.0.1:50051"', "").replace(
        'contract = "contract.toml"', f'contract = "{ROOT / "examples" / "contract.toml"}"'
    )
    path = tmp_path / "tactful.toml"
    path.write_text(
        f'data_dir = "data"\nkeyring = "{tmp_path / "keyring.json"}"\n'
        f'listen = "127.0.0.1:0"\n{development}'
    )
    at = to_us(datetime.now(UTC)) - 3_600_000_000
    rows = [
        ScoredDecision(
            f"p{i}", 1, "treatment" if i < 300 else "global_holdout", "kb_article", "none", at,
            OutcomeReport(resolved=i % 3 != 0, effort=3),
        )
        for i in range(400)
    ]  # fmt: skip
    monkeypatch.setattr(SqliteJourneyOutcomes, "scored", lambda self, j, s, u: rows)
    monkeypatch.delattr(SqliteJourneyOutcomes, "tallied")  # tally those rows
    assert main_ok(["keys", "init", "--config", str(path)])
    return path


def main_ok(argv: list[str]) -> bool:
    from tactful.cli.main import main

    return main(argv) == 0


def test_the_table_says_what_a_product_owner_reads(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    code, out, err = run(
        capsys, "scorecard", "support_triage", "--epsilon", "1", "--config", str(config)
    )
    assert code == 0, err
    assert "support_triage: success metric first_contact_resolution" in out
    assert "epsilon 1.0 spent, 0.0 left" in out
    assert "v1 treatment: about" in out  # an empty arm is withheld only by a noisy count
    assert "  first_contact_resolution" in out and "uplift, treatment minus holdout" in out
    assert "people" in out.split("statistic")[-1]  # the noise table: each statistic's scale


def test_json_and_the_budget_it_spends(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    c = ("--config", str(config))
    code, out, _ = run(capsys, "scorecard", "support_triage", "--epsilon", "0.75", "--json", *c)
    assert code == 0
    document = json.loads(out)
    assert (document["epsilon_spent"], document["epsilon_remaining"]) == (0.75, 0.25)
    assert "decision" not in document
    assert {s["name"] for s in document["statistics"]} >= {"people", "rungs", "effort_sum"}
    assert document["groups"][0]["arm"] == "treatment"
    code, _, err = run(capsys, "scorecard", "support_triage", "--epsilon", "0.5", *c)
    assert code == 1 and "epsilon remaining 0.25" in err


def test_it_leaves_a_receipt_naming_whose_budget(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = ("--config", str(config))
    run(capsys, "scorecard", "support_triage", "--epsilon", "0.1", *c)
    principal, role, method, reason = records(config)[-1]
    assert (principal, role) == (f"cli:{getpass.getuser()}", "analyst")
    assert method == "tactful.cli/scorecard.support_triage"
    assert json.loads(reason) == {"principal": "analyst", "epsilon": 0.1}


def test_an_unknown_principal_or_journey_is_refused(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = ("--config", str(config))
    code, _, err = run(capsys, "scorecard", "support_triage", "--principal", "nobody", *c)
    assert code == 1 and "no principal 'nobody'" in err
    code, _, err = run(capsys, "scorecard", "nope", *c)
    assert code == 1 and "journey" in err
