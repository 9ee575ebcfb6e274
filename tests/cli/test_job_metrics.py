"""`--metrics-file`: cron jobs leave node_exporter textfile metrics after a success."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tactful.app.domain import Domain
from tactful.app.settings import ConfigError
from tactful.cli.job_metrics import failure_reason
from tactful.lifecycle.errors import RetentionIncomplete
from tactful.privacy.errors import KeyringError, SchemaMismatch, StoreBusy
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


def test_a_dry_run_leaves_the_file_as_it_was(
    data_dir: Path, domain: Domain, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    domain.close()
    config = str(config_for(data_dir, tmp_path))
    path = tmp_path / "tactful-retention.prom"
    path.write_text("# the last success\n")
    code, _, _ = run(capsys, "retention", "run", "--dry-run", "--config", config,
                     "--metrics-file", str(path))  # fmt: skip
    assert code == 0 and path.read_text() == "# the last success\n"


def test_a_failed_run_is_counted_by_reason_beside_the_last_success(
    data_dir: Path, domain: Domain, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    domain.close()
    config = str(config_for(data_dir, tmp_path))
    path = tmp_path / "textfile" / "tactful-retention.prom"
    job = (("job", "retention_run"),)

    def retention(*options: str) -> int:
        code, _, _ = run(capsys, "retention", "run", "--config", config,
                         "--metrics-file", str(path), *options)  # fmt: skip
        return code

    assert retention("--now", NOW.isoformat()) == 0
    success = samples(path)
    before = time.time()
    assert retention("--now", "yesterday") == 1  # refused: counted as `usage`
    keyring = data_dir / "keyring.json"
    keyring.chmod(0o644)  # a keyring others may read is refused
    assert retention("--now", NOW.isoformat()) == 1
    assert retention("--now", NOW.isoformat()) == 1
    found = samples(path)
    # What the last success said stays, untouched; the failures are counted beside it.
    assert {k: v for k, v in found.items() if k in success} == success
    assert found[("tactful_job_failures_total", (*job, ("reason", "usage")))] == 1
    assert found[("tactful_job_failures_total", (*job, ("reason", "keyring")))] == 2
    assert before <= found[("tactful_job_last_failure_timestamp_seconds", job)] <= time.time()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    # A success later carries the counts over: a counter never goes back.
    keyring.chmod(0o600)
    assert retention("--now", NOW.isoformat()) == 0
    after = samples(path)
    assert after[("tactful_job_failures_total", (*job, ("reason", "keyring")))] == 2
    last_success = after[("tactful_job_last_success_timestamp_seconds", job)]
    assert last_success > after[("tactful_job_last_failure_timestamp_seconds", job)]
    assert all(value == after[key] for key, value in samples(path).items())  # parses again


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (SchemaMismatch("behavior: schema 9, this version knows 8"), "schema_mismatch"),
        (StoreBusy("database is locked"), "store_unavailable"),
        (KeyringError("/etc/tactful/keyring.json: no keyring"), "keyring"),
        (ConfigError("listen: not HOST:PORT"), "config"),
        (RetentionIncomplete("purpose onboarding: 3 events left"), "retention_incomplete"),
        (SystemExit("tactful: --now 'x' is not ISO 8601"), "usage"),
        (KeyboardInterrupt(), "interrupted"),
        (PermissionError(13, "Permission denied", "/var/lib/tactful"), "os_error"),
        (RuntimeError("ada@example.com"), "internal"),  # never the message
    ],
)
def test_a_failure_reason_is_a_code_never_the_message(error: BaseException, reason: str) -> None:
    assert failure_reason(error) == reason


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
