"""`--metrics-file`: cron jobs leave node_exporter textfile metrics after a success."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tactful.app.domain import Domain
from tests.lifecycle.test_retention import NOW, add, config_for, cutoff, run, subject

pytest_plugins = ["tests.lifecycle.test_retention"]  # its data_dir and domain fixtures


def samples(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_retention_run_writes_last_success_duration_and_rows_deleted(
    domain: Domain, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    person = subject(domain, "ada")
    for i in range(3):
        add(domain, person, "onboarding", cutoff("onboarding") - timedelta(minutes=i + 1))
    domain.close()
    config = str(config_for(data_dir, tmp_path))
    path = tmp_path / "textfile" / "tactful-retention.prom"
    before = time.time()

    code, _, _ = run(capsys, "retention", "run", "--config", config, "--now", NOW.isoformat(),
                     "--metrics-file", str(path))  # fmt: skip

    assert code == 0
    job = (("job", "retention_run"),)
    found = samples(path)
    assert before <= found[("tactful_job_last_success_timestamp_seconds", job)] <= time.time()
    assert 0 <= found[("tactful_job_duration_seconds", job)] < 60
    assert found[("tactful_job_rows_deleted", (*job, ("store", "behavior.events")))] == 3
    assert found[("tactful_job_rows_deleted", (*job, ("store", "vault.identities")))] == 0
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_a_dry_run_or_a_failed_run_leaves_the_file_as_it_was(
    data_dir: Path, domain: Domain, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    domain.close()
    config = str(config_for(data_dir, tmp_path))
    path = tmp_path / "tactful-retention.prom"
    path.write_text("# the last success\n")
    code, _, _ = run(capsys, "retention", "run", "--dry-run", "--config", config,
                     "--metrics-file", str(path))  # fmt: skip
    assert code == 0 and path.read_text() == "# the last success\n"
    code, _, _ = run(capsys, "retention", "run", "--config", config, "--now", "yesterday",
                     "--metrics-file", str(path))  # fmt: skip
    assert code == 1 and path.read_text() == "# the last success\n"


def test_audit_truncate_and_keys_rekey_write_theirs(
    data_dir: Path, domain: Domain, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    domain.close()
    config = str(config_for(data_dir, tmp_path))
    truncate, rekey = tmp_path / "truncate.prom", tmp_path / "rekey.prom"
    code, _, _ = run(capsys, "audit", "truncate", "--config", config,
                     "--metrics-file", str(truncate))  # fmt: skip
    assert code == 0
    store = (("job", "audit_truncate"), ("store", "access_log.records"))
    assert samples(truncate)[("tactful_job_rows_deleted", store)] == 0
    code, _, _ = run(capsys, "keys", "rekey", "--config", config, "--metrics-file", str(rekey))
    assert code == 0
    found = samples(rekey)
    assert ("tactful_job_last_success_timestamp_seconds", (("job", "keys_rekey"),)) in found
    assert (
        found[("tactful_job_rows_moved", (("job", "keys_rekey"), ("store", "vault.identities")))]
        == 0
    )
