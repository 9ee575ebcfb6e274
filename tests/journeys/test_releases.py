"""Versions of a playbook: promote (checked, cases passed, version raised), rollback
(to the version before), status; every change recorded in the access log first; a
running server follows the file without a restart."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tactful.app import stores
from tactful.app.config_file import load_settings
from tactful.cli.main import main
from tactful.journeys.catalogue import JourneyCatalogue
from tactful.journeys.errors import PlaybookError
from tactful.journeys.memory import Remembered
from tactful.journeys.outcomes import OutcomeReport, RecordedOutcome
from tactful.journeys.releases import history, live, promote, rollback
from tactful.privacy.access_log import decode
from tactful.privacy.contract import Contract, load_contract
from tactful.timestamps import to_us
from tests.api.test_journeys import action_and_rung, checkout, failed_payment, next_action, record
from tests.conftest import Tactful

EXAMPLES = Path(__file__).parents[2] / "src" / "tactful" / "app" / "examples"
ROOT = Path(__file__).parents[2]
LIVE_CASE = 'expect = { action = "retry_payment", rung = "none" }'


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the example contract with real copies of its playbooks (a promotion
    writes them)."""
    shutil.copy(EXAMPLES / "contract.toml", tmp_path / "contract.toml")
    shutil.copytree(EXAMPLES / "playbooks", tmp_path / "playbooks")
    return tmp_path


def version_2(folder: Path, *, breaking: bool = False) -> Path:
    """checkout_recovery, version 2: a retry allowed once a day instead of twice."""
    text = (folder / "playbooks" / "checkout_recovery.toml").read_text()
    text = text.replace("version = 1", 'version = 2\nchanges = "one retry a day, not two"', 1)
    twice = 'frequency_cap = { count = 2, window = "24h" }, cooldown = "10m"'
    assert twice in text
    text = text.replace(twice, twice.replace("count = 2", "count = 1"))
    if breaking:
        text = text.replace(LIVE_CASE, 'expect = { action = "cart_kept", rung = "none" }')
    path = folder / "candidate.toml"
    path.write_text(text)
    return path


def contract_of(folder: Path) -> Contract:
    return load_contract(folder / "contract.toml")


def test_promote_then_rollback_restores_exactly_what_was_live(folder: Path) -> None:
    contract = contract_of(folder)
    first = live(contract, "checkout_recovery")
    released = promote(contract, "checkout_recovery", version_2(folder))
    assert (released.before.version, released.after.version) == (1, 2)
    assert live(contract, "checkout_recovery").changes == "one retry a day, not two"
    assert [v.version for v in history(contract, "checkout_recovery")] == [1]
    back = rollback(contract, "checkout_recovery")
    assert (back.before.version, back.after.version) == (2, 1)
    assert live(contract, "checkout_recovery").content_hash == first.content_hash
    assert [v.version for v in history(contract, "checkout_recovery")] == [2, 1]


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda t: t.replace("version = 2", "version = 1"), "version: 1, but version 1 is live"),
        (lambda t: t.replace(LIVE_CASE, LIVE_CASE.replace("retry_payment", "cart_kept")),
         "cases[0] (a first decline: retry): expected cart_kept"),
        (lambda t: t.replace('journey = "checkout_recovery"', 'journey = "checkout"'),
         "journey: 'checkout', not 'checkout_recovery'"),
        # Another purpose: refused already for what the actions read there.
        (lambda t: t.replace('purpose = "checkout_recovery"', 'purpose = "support_triage"'),
         "actions.retry_payment: reads signal 'last_payment_error'"),
    ],
)  # fmt: skip
def test_a_candidate_that_would_not_be_served_is_refused_and_nothing_changes(
    folder: Path, edit: object, problem: str
) -> None:
    contract = contract_of(folder)
    candidate = version_2(folder)
    candidate.write_text(edit(candidate.read_text()))  # type: ignore[operator]
    before = live(contract, "checkout_recovery").content_hash
    with pytest.raises(PlaybookError) as caught:
        promote(contract, "checkout_recovery", candidate)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems
    assert live(contract, "checkout_recovery").content_hash == before
    assert history(contract, "checkout_recovery") == []


def test_a_version_number_rolled_back_from_is_not_reused_for_other_content(
    folder: Path,
) -> None:
    contract = contract_of(folder)
    promote(contract, "checkout_recovery", version_2(folder))
    rollback(contract, "checkout_recovery")
    other = version_2(folder)
    other.write_text(other.read_text().replace("one retry a day", "one retry daily"))
    with pytest.raises(PlaybookError) as caught:
        promote(contract, "checkout_recovery", other)
    assert any("version: 2 was served before with other content" in p
               for p in caught.value.problems), caught.value.problems  # fmt: skip
    # The same content under the same number is the same version: it may come back.
    assert promote(contract, "checkout_recovery", version_2(folder)).after.version == 2


def test_nothing_to_roll_back_to_is_said(folder: Path) -> None:
    with pytest.raises(PlaybookError, match="no version before 1 to roll back to"):
        rollback(contract_of(folder), "checkout_recovery")


def records(data: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(data / "access_log.db") as db:
        rows = db.execute("SELECT content FROM records ORDER BY sequence").fetchall()
    return [(decode(c)[1].method, decode(c)[1].reason) for (c,) in rows]


def configured(folder: Path, tmp_path: Path) -> Path:
    """A config over the copied contract, with a data folder and a keyring."""
    development = (ROOT / "examples" / "development.toml").read_text()
    development = development.replace('listen = "127.0.0.1:50051"', "").replace(
        'contract = "contract.toml"', f'contract = "{folder / "contract.toml"}"'
    )
    config = tmp_path / "tactful.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\nkeyring = "{tmp_path / "keyring.json"}"\n{development}'
    )
    assert main(["keys", "init", "--keyring", str(tmp_path / "keyring.json")]) == 0
    return config


def test_the_commands_record_each_change_with_its_reason(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = configured(folder, tmp_path)
    c = ("--config", str(config))
    candidate = str(version_2(folder))
    assert (
        main(["journeys", "promote", "checkout_recovery", candidate, "--reason", "fewer", *c]) == 0
    )
    assert main(["journeys", "rollback", "checkout_recovery", "--reason", "complaints", *c]) == 0
    assert main(["journeys", "status", "checkout_recovery", *c]) == 0
    out = capsys.readouterr().out
    assert "checkout_recovery: promoted from version 1 to 2" in out
    assert "checkout_recovery: rolled back from version 2 to 1" in out
    assert "checkout_recovery: version 1 (sha256:" in out and "kept for rollback: v2, v1" in out
    assert records(tmp_path / "data")[-2:] == [
        ("tactful.cli/journeys.promote", "journey checkout_recovery: version 1 -> 2: fewer"),
        ("tactful.cli/journeys.rollback", "journey checkout_recovery: version 2 -> 1: complaints"),
    ]
    broken = str(version_2(folder, breaking=True))
    refused = main(["journeys", "promote", "checkout_recovery", broken, "--reason", "again", *c])
    assert refused == 1
    assert "expected cart_kept" in capsys.readouterr().err
    assert len(records(tmp_path / "data")) == 2  # refused before anything was recorded


def test_a_running_server_follows_a_promotion_and_a_rollback(
    start_tactful: object, folder: Path
) -> None:
    running: Tactful = start_tactful(contract=folder / "contract.toml")  # type: ignore[operator]
    record(running, checkout(50), failed_payment(40))
    first = next_action(running)
    assert action_and_rung(first) == ("retry_payment", "none")
    running.clock.advance(timedelta(minutes=11))  # past the cooldown: v1 allows a second retry
    promote(contract_of(folder), "checkout_recovery", version_2(folder))
    after = next_action(running)  # v2: one retry a day
    assert after.playbook_version == 2 and after.action.id != "retry_payment"
    assert "capped" in after.reasons
    rollback(contract_of(folder), "checkout_recovery")
    running.clock.advance(timedelta(minutes=11))
    again = next_action(running)
    assert (again.playbook_version, again.action.id) == (1, "retry_payment")


def test_a_changed_file_that_fails_is_not_served_the_last_good_one_stays(folder: Path) -> None:
    catalogue = JourneyCatalogue(contract_of(folder))
    served, good = catalogue.playbooks(), version_2(folder)
    live_file = folder / "playbooks" / "checkout_recovery.toml"
    live_file.write_text(
        live_file.read_text().replace(LIVE_CASE, LIVE_CASE.replace("retry_payment", "cart_kept"))
    )
    assert catalogue.playbooks() is served
    assert catalogue.problem is not None and "expected cart_kept" in catalogue.problem
    shutil.copy(good, live_file)
    assert catalogue.playbooks()["checkout_recovery"].version == 2 and catalogue.problem is None


def test_guard_rolls_back_a_version_that_raised_complaints_and_records_why(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = configured(folder, tmp_path)
    c = ("--config", str(config))
    promote(contract_of(folder), "checkout_recovery", version_2(folder))
    settings = load_settings(config, {})
    memory, outcomes = stores.open_journey_memory(settings), stores.open_journey_outcomes(settings)
    now_us = to_us(datetime.now(UTC))
    for version, complaints in ((1, 8), (2, 60)):  # 2 % of 400 (the sample), then 15 %
        for i in range(400):
            decision, who = f"d{version}-{i}", f"p{version}-{i}"
            memory.remember(Remembered(decision, who, "checkout_recovery", "checkout_recovery",
                                       "retry_payment", "retry", "none", version,
                                       now_us - 60_000_000 + version))  # fmt: skip
            outcomes.record(RecordedOutcome(decision, who, "checkout_recovery",
                                            "checkout_recovery", now_us - 30_000_000,
                                            OutcomeReport(complaint=i < complaints)))  # fmt: skip
    memory.close()
    outcomes.close()
    assert main(["journeys", "guard", "--dry-run", *c]) == 0
    assert "would roll back version 2: complaint rose from 2.0%" in capsys.readouterr().out
    assert live(contract_of(folder), "checkout_recovery").version == 2
    assert main(["journeys", "guard", *c]) == 1
    out = capsys.readouterr().out
    assert "checkout_recovery: rolled back from version 2 to 1" in out
    assert live(contract_of(folder), "checkout_recovery").version == 1
    method, reason = records(tmp_path / "data")[-1]
    assert method == "tactful.cli/journeys.guard"
    assert reason.startswith("journey checkout_recovery: version 2 -> 1: guardrail: complaint rose")
