"""`tactful audit verify` on PostgreSQL: every host's checkpoint file, given with
`--checkpoints`, is checked against the database's epochs."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from tactful.app.config_file import load_settings
from tactful.app.settings import Settings
from tactful.cli.main import main
from tactful.privacy.keyring import load_keyring
from tests.storage.contract.test_contract_access_log import SECOND, T0_US, entry

pytest.importorskip("psycopg")

from tactful.app import stores  # noqa: E402
from tests.postgres.test_cli_db_pg import write_config  # noqa: E402
from tests.postgres_cluster import fresh_database, shared_cluster  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Hosts:
    config: Path
    here: Path  # this host's checkpoint file, where the config says
    there: Path  # another host's, copied to where the auditor works


@pytest.fixture
def hosts(tmp_path: Path) -> Hosts:
    """Two servers on one database signed in turn: epochs 1 and 3 here, 2 and 4 there."""
    cluster = shared_cluster()
    config = write_config(
        tmp_path, fresh_database(cluster, "main"), fresh_database(cluster, "vault")
    )
    assert main(["db", "migrate", "--config", str(config)]) == 0
    here = load_settings(config, os.environ)
    there = dataclasses.replace(here, access_log_checkpoints=tmp_path / "there" / "checkpoints")
    logs = [open_log(here), open_log(there)]
    try:
        for i in range(1, 9):
            log = logs[(i - 1) // 2 % 2]
            log.append([entry(i)], now_us=T0_US + i * SECOND)
            if i % 2 == 0:
                log.checkpoint(now_us=T0_US + i * SECOND)
    finally:
        for log in logs:
            log.close()
    return Hosts(config, here.checkpoints_path, there.checkpoints_path)


def open_log(settings: Settings) -> stores.AccessLog:
    return stores.open_access_log(settings, load_keyring(settings.keyring_path).signing)


def verify(capsys: pytest.CaptureFixture[str], hosts: Hosts, *files: Path) -> tuple[int, str]:
    given = [arg for path in files for arg in ("--checkpoints", str(path))]
    code = main(["audit", "verify", "--config", str(hosts.config), *given])
    out, err = capsys.readouterr()
    return code, out + err


def test_verify_checks_every_hosts_file_it_is_given(
    hosts: Hosts, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = verify(capsys, hosts, hosts.there)
    assert code == 0 and "intact: 8 records" in out, out
    assert "not checked" not in out
    code, out = verify(capsys, hosts)  # this host's file only: it says which it lacks
    assert code == 0 and "intact: 8 records" in out, out
    (unchecked,) = [line for line in out.splitlines() if "not checked" in line]
    assert unchecked.endswith(
        f":{hosts.there.resolve()} (give that host's file with --checkpoints)"
    )


def test_a_reordered_file_of_another_host_is_tampering(
    hosts: Hosts, capsys: pytest.CaptureFixture[str]
) -> None:
    there = hosts.there.read_text().splitlines()
    assert len(there) == 2
    hosts.there.write_text(f"{there[1]}\n{there[0]}\n")
    code, out = verify(capsys, hosts, hosts.there)
    assert code == 1 and "TAMPERED: first bad record 4" in out and "out of order" in out, out
    code, out = verify(capsys, hosts)  # without that file, nothing tells
    assert code == 0, out


def test_the_other_audit_commands_open_the_log_on_postgresql(
    hosts: Hosts, capsys: pytest.CaptureFixture[str]
) -> None:
    """They refused before, looking for SQLite's file; each leaves its access record."""
    assert main(["audit", "query", "--config", str(hosts.config), "--limit", "3"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    code, out = verify(capsys, hosts, hosts.there)
    assert code == 0 and "intact: 9 records" in out, out


def test_a_file_that_is_not_there_is_refused(
    hosts: Hosts, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = verify(capsys, hosts, tmp_path / "missing.jsonl")
    assert code == 1 and "--checkpoints" in out and "missing.jsonl: no such file" in out, out
