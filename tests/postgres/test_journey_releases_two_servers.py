"""Two `tactful serve` processes on one PostgreSQL database, each with its own copy of
the contract folder: a staging, its completion and a rollback made by the commands on
one host reach both servers through the database, without a restart, within a bound;
neither host's files change."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tactful.app import stores
from tactful.app.settings import EXAMPLE_CONTRACT
from tactful.cli.main import main
from tactful.journeys.memory import Remembered
from tactful.journeys.outcomes import OutcomeReport, RecordedOutcome
from tactful.timestamps import to_us
from tactful.v1 import journeys_pb2, journeys_pb2_grpc
from tests.conftest import bearer, email
from tests.postgres.servers import Server, settings_of, write_config
from tests.postgres_cluster import fresh_database, shared_cluster

pytest.importorskip("psycopg")

JOURNEY = "checkout_recovery"
PEOPLE = [email(f"person{i}@example.com") for i in range(30)]  # at 0.5: both, but 2^-29
BOUND_S = 10.0  # a change reaches both servers within this, or the test fails


def own_contract(folder: Path, config: Path) -> Path:
    """The host's own copy of the example contract and playbooks, named by its config."""
    shutil.copytree(EXAMPLE_CONTRACT.parent / "playbooks", folder / "playbooks")
    shutil.copy(EXAMPLE_CONTRACT, folder / "contract.toml")
    text = config.read_text()
    assert f'contract = "{EXAMPLE_CONTRACT}"' in text
    config.write_text(text.replace(str(EXAMPLE_CONTRACT), str(folder / "contract.toml")))
    return folder / "playbooks" / "checkout_recovery.toml"


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[tuple[Server, Path, Path]]]:
    """(server, its config, its live playbook file) for hosts a and b."""
    cluster = shared_cluster()
    root = tmp_path_factory.mktemp("two-servers-releases")
    behavior, vault = fresh_database(cluster, "behavior"), fresh_database(cluster, "vault")
    configs = [
        write_config(root / name, behavior, vault, keyring=root / "keyring.json")
        for name in ("a", "b")
    ]
    files = [own_contract(root / name, config) for name, config in zip("ab", configs, strict=True)]
    stores.migrate(settings_of(configs[0]))  # as `tactful db migrate` does
    servers = [Server(config) for config in configs]
    try:
        yield list(zip(servers, configs, files, strict=True))
    finally:
        for server in servers:
            server.stop()


def versions(server: Server) -> set[int]:
    stub = journeys_pb2_grpc.JourneysStub(server.channel)
    found = set()
    for person in PEOPLE:
        request = journeys_pb2.NextActionRequest(
            subject=person, journey=JOURNEY, channel="web", step="payment"
        )
        reply = stub.NextAction(request, metadata=bearer("web_frontend"), timeout=30)
        found.add(reply.playbook_version)
    return found


def served_everywhere(hosts: list[tuple[Server, Path, Path]], expected: set[int]) -> None:
    deadline = time.monotonic() + BOUND_S
    while True:
        seen = [versions(server) for server, _, _ in hosts]
        if all(s == expected for s in seen):
            return
        assert time.monotonic() < deadline, f"after {BOUND_S} s: {seen}, not {expected}"
        time.sleep(0.1)


def test_a_staging_its_completion_and_a_rollback_reach_both_servers(
    hosts: list[tuple[Server, Path, Path]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (_, config_a, file_a), (_, config_b, file_b) = hosts
    originals = file_a.read_bytes(), file_b.read_bytes()
    served_everywhere(hosts, {1})  # nothing released yet: each host's file, the seed
    text = file_a.read_text().replace("version = 1", 'version = 2\nchanges = "v2"', 1)
    (tmp_path / "v2.toml").write_text(text)
    promote = ["journeys", "promote", JOURNEY]
    a, b = ("--config", str(config_a)), ("--config", str(config_b))
    assert main([*promote, str(tmp_path / "v2.toml"), "--share", "0.5", "--reason", "try", *a]) == 0
    served_everywhere(hosts, {1, 2})
    assert main(["journeys", "status", JOURNEY, *b]) == 0  # host b's files know nothing of it
    assert "serving 0.5 of the treatment arm" in capsys.readouterr().out
    assert main([*promote, "--complete", "--reason", "all good", *a]) == 0
    served_everywhere(hosts, {2})
    assert main(["journeys", "rollback", JOURNEY, "--reason", "complaints", *b]) == 0  # host b
    served_everywhere(hosts, {1})
    assert main(["journeys", "status", JOURNEY, *a]) == 0
    assert "checkout_recovery: version 1 (" in capsys.readouterr().out
    assert (file_a.read_bytes(), file_b.read_bytes()) == originals  # only the database changed


def test_guard_on_one_host_withdraws_a_staging_made_on_another(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The guard job reads the staging and the decisions from the database, wherever
    it runs, and withdraws the staged version there."""
    cluster = shared_cluster()
    behavior, vault = fresh_database(cluster, "behavior"), fresh_database(cluster, "vault")
    configs = [
        write_config(tmp_path / name, behavior, vault, keyring=tmp_path / "keyring.json")
        for name in ("a", "b")
    ]
    files = [own_contract(tmp_path / n, c) for n, c in zip("ab", configs, strict=True)]
    stores.migrate(settings_of(configs[0]))
    text = files[0].read_text().replace("version = 1", 'version = 2\nchanges = "v2"', 1)
    (tmp_path / "v2.toml").write_text(text)
    a, b = ("--config", str(configs[0])), ("--config", str(configs[1]))
    promote = ["journeys", "promote", JOURNEY, str(tmp_path / "v2.toml")]
    assert main([*promote, "--share", "0.2", "--reason", "try", *a]) == 0
    settings = settings_of(configs[1])
    memory, outcomes = stores.open_journey_memory(settings), stores.open_journey_outcomes(settings)
    now_us = to_us(datetime.now(UTC))
    try:
        for version, complaints in ((1, 8), (2, 60)):  # 2 % of 400 on the live one, then 15 %
            for i in range(400):
                decision, who = f"d{version}-{i}", f"p{version}-{i}"
                offered, reported = now_us - 60_000_000, now_us - 30_000_000
                memory.remember(Remembered(decision, who, JOURNEY, JOURNEY, "retry_payment",
                                           "retry", "none", version, offered))  # fmt: skip
                report = OutcomeReport(complaint=i < complaints)
                outcomes.record(RecordedOutcome(decision, who, JOURNEY, JOURNEY, reported, report))
    finally:
        memory.close()
        outcomes.close()
    capsys.readouterr()
    assert main(["journeys", "guard", JOURNEY, *b]) == 1
    assert "rolled back from version 2 to 1" in capsys.readouterr().out
    assert main(["journeys", "status", JOURNEY, *a]) == 0
    out = capsys.readouterr().out
    assert "checkout_recovery: version 1 (" in out and "staged:" not in out
