"""`tactful journeys guard` as a cron job: what it says per journey, and its metrics
file (the last success, and per journey the guards it tested and what it rolled back)."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tactful.app import stores
from tactful.app.config_file import load_settings
from tactful.cli.main import main
from tactful.journeys.memory import Remembered
from tactful.journeys.outcomes import OutcomeReport, RecordedOutcome
from tactful.journeys.releases import live, promote
from tactful.privacy.contract import load_contract
from tactful.timestamps import to_us
from tests.cli.test_job_metrics import samples

EXAMPLES = Path(__file__).parents[2] / "src" / "tactful" / "app" / "examples"
JOURNEY = "checkout_recovery"
JOB = ("job", "journeys_guard")


def configured(tmp_path: Path) -> Path:
    """A copy of the example contract and playbooks, a config over it, a keyring."""
    folder = tmp_path / "contract"
    folder.mkdir()
    shutil.copy(EXAMPLES / "contract.toml", folder / "contract.toml")
    shutil.copytree(EXAMPLES / "playbooks", folder / "playbooks")
    development = (EXAMPLES / "development.toml").read_text()
    development = development.replace('listen = "127.0.0.1:50051"', "").replace(
        'contract = "contract.toml"', f'contract = "{folder / "contract.toml"}"'
    )
    config = tmp_path / "tactful.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\nkeyring = "{tmp_path / "keyring.json"}"\n{development}'
    )
    assert main(["keys", "init", "--keyring", str(tmp_path / "keyring.json")]) == 0
    return config


def promote_version_2(config: Path) -> None:
    contract = load_contract(load_settings(config, {}).contract)
    text = (config.parent / "contract" / "playbooks" / f"{JOURNEY}.toml").read_text()
    candidate = config.parent / "candidate.toml"
    candidate.write_text(text.replace("version = 1", "version = 2", 1))
    promote(contract, JOURNEY, candidate)


def decided(config: Path, version: int, n: int, complaints: int, *, tag: str = "") -> None:
    """`n` treated decisions on `version`, the first `complaints` of them complained of."""
    settings = load_settings(config, {})
    memory, outcomes = stores.open_journey_memory(settings), stores.open_journey_outcomes(settings)
    now_us = to_us(datetime.now(UTC))
    for i in range(n):
        decision, who = f"d{version}{tag}-{i}", f"p{version}{tag}-{i}"
        memory.remember(Remembered(decision, who, JOURNEY, JOURNEY, "retry_payment", "retry",
                                   "none", version, now_us - 60_000_000 + version))  # fmt: skip
        outcomes.record(RecordedOutcome(decision, who, JOURNEY, JOURNEY, now_us - 30_000_000,
                                        OutcomeReport(complaint=i < complaints)))  # fmt: skip
    memory.close()
    outcomes.close()


def test_the_metrics_say_what_was_tested_and_rolled_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = configured(tmp_path)
    c = ("--config", str(config))
    path = tmp_path / "textfile" / "tactful-journeys-guard.prom"
    promote_version_2(config)
    decided(config, 1, 400, 12)  # 3 %
    decided(config, 2, 399, 44)  # 11 %, one decision short of the sample

    before = time.time()
    assert main(["journeys", "guard", *c, "--metrics-file", str(path)]) == 0
    assert f"{JOURNEY}: version 2 not judged yet" in capsys.readouterr().out
    found = samples(path)
    assert before <= found[("tactful_job_last_success_timestamp_seconds", (JOB,))] <= time.time()
    here = (JOB, ("journey", JOURNEY))
    assert found[("tactful_job_guards_checked", here)] == 0
    assert found[("tactful_job_rollbacks", here)] == 0

    decided(config, 2, 1, 0, tag="b")  # the sample: 400, 44 complained of
    assert main(["journeys", "guard", "--dry-run", *c, "--metrics-file", str(path)]) == 0
    assert samples(path) == found  # a dry run writes nothing
    assert main(["journeys", "guard", *c, "--metrics-file", str(path)]) == 1  # rolled back
    out = capsys.readouterr().out
    assert "beyond chance (p = 0.0003, level 0.05)" in out
    found = samples(path)
    assert found[("tactful_job_guards_checked", here)] == 2  # complaint and fallback
    assert found[("tactful_job_rollbacks", here)] == 1
    assert live(load_contract(load_settings(config, {}).contract), JOURNEY).version == 1
