"""Guardrails on PostgreSQL: `tactful journeys guard` reads the decisions and outcomes
kept in the database, rolls a harmful version back, records why there, writes its
metrics; the console's Releases page, on the same database, says so."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from tactful.app import stores
from tactful.app.settings import EXAMPLE_CONTRACT
from tactful.cli.console import start_in_thread, with_listen
from tactful.cli.main import main
from tactful.privacy.access_log import AccessQuery
from tactful.privacy.keyring import KeyringWatcher
from tests.cli.test_job_metrics import samples
from tests.console.conftest import signed_in
from tests.console.test_console_releases import GUARDRAIL
from tests.journeys.test_guard_job import EXAMPLES, JOURNEY, decided
from tests.postgres.servers import settings_of, write_config
from tests.postgres_cluster import fresh_database, shared_cluster

pytest.importorskip("psycopg")


def test_guard_rolls_back_from_the_databases_outcomes_and_the_console_says_so(
    tmp_path: Path,
) -> None:
    cluster = shared_cluster()
    behavior, vault = fresh_database(cluster, "behavior"), fresh_database(cluster, "vault")
    folder = tmp_path / "contract"
    folder.mkdir()
    shutil.copy(EXAMPLES / "contract.toml", folder / "contract.toml")
    shutil.copytree(EXAMPLES / "playbooks", folder / "playbooks")
    config = write_config(tmp_path / "a", behavior, vault, keyring=tmp_path / "keyring.json")
    text = config.read_text()
    assert str(EXAMPLE_CONTRACT) in text
    config.write_text(text.replace(str(EXAMPLE_CONTRACT), str(folder / "contract.toml")))
    settings = settings_of(config)
    stores.migrate(settings)
    c = ("--config", str(config))
    playbook = (folder / "playbooks" / f"{JOURNEY}.toml").read_text()
    candidate = tmp_path / "candidate.toml"
    candidate.write_text(playbook.replace("version = 1", "version = 2", 1))
    assert main(["journeys", "promote", JOURNEY, str(candidate), "--reason", "fewer", *c]) == 0
    decided(config, 1, 400, 12)  # 3 %, in PostgreSQL
    decided(config, 2, 400, 44)  # 11 %
    metrics = tmp_path / "guard.prom"
    assert main(["journeys", "guard", *c, "--metrics-file", str(metrics)]) == 1
    here = (("job", "journeys_guard"), ("journey", JOURNEY))
    assert samples(metrics)[("tactful_job_rollbacks", here)] == 1

    log = stores.open_access_log(settings, KeyringWatcher(settings.keyring_path).keys("signing"))
    try:
        [guard] = log.query(AccessQuery(method="tactful.cli/journeys.guard"), after_sequence=0,
                            limit=10)  # fmt: skip
    finally:
        log.close()
    assert guard.entry.reason == f"journey {JOURNEY}: version 2 -> 1: guardrail: {GUARDRAIL}"

    console = start_in_thread(with_listen(replace(settings), "127.0.0.1:0"))
    try:
        with signed_in(console.url) as client:
            page = client.get("/releases")
        assert page.status_code == 200
        assert "Version 2 was rolled back automatically by guardrail on " in page.text
        assert GUARDRAIL in page.text
        # The versions as the servers see them, from the database: the contract's own
        # folder was never changed, so it would show no version kept.
        assert "Kept for a rollback: v2." in page.text
    finally:
        console.stop()
