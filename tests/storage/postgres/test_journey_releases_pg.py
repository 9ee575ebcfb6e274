"""Journeys' versions on PostgreSQL: the contract's file is live until a release; a
promotion, a staging and a rollback through one store (any host's command) reach a
server's store by LISTEN/NOTIFY, which then answers from memory; a version in the
database that does not check is not served, the last good one stays."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tactful.journeys.catalogue import JourneyCatalogue
from tactful.journeys.releases import (
    complete,
    history,
    live,
    promote,
    rollback,
    stage,
    staged,
    widen,
)
from tactful.privacy.contract import Contract, load_contract
from tests.storage.postgres.conftest import migrated_database

psycopg = pytest.importorskip("psycopg")

from tactful.storage.postgres.connection import Database  # noqa: E402
from tactful.storage.postgres.journey_releases import (  # noqa: E402
    SCHEMA,
    PostgresJourneyReleases,
)

EXAMPLES = Path(__file__).parents[3] / "src" / "tactful" / "app" / "examples"
JOURNEY = "checkout_recovery"
BOUND_S = 5.0  # a change reaches another store's listener within this, or the test fails


@pytest.fixture()
def url() -> str:
    return migrated_database(SCHEMA)


@pytest.fixture()
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """Two hosts' contract folders, each its own copy."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        shutil.copy(EXAMPLES / "contract.toml", tmp_path / name / "contract.toml")
        shutil.copytree(EXAMPLES / "playbooks", tmp_path / name / "playbooks")
    return tmp_path / "a", tmp_path / "b"


@pytest.fixture()
def opened() -> Iterator[list[PostgresJourneyReleases]]:
    found: list[PostgresJourneyReleases] = []
    yield found
    for store in found:
        store.close()


def open_store(
    url: str, opened: list[PostgresJourneyReleases], *, listen: bool
) -> PostgresJourneyReleases:
    store = PostgresJourneyReleases(Database(url, size=1), listen=listen, recheck_s=30)
    opened.append(store)
    return store


def candidate(folder: Path, version: int, *, breaking: bool = False) -> Path:
    text = (EXAMPLES / "playbooks" / "checkout_recovery.toml").read_text()
    text = text.replace("version = 1", f'version = {version}\nchanges = "v{version}"', 1)
    if breaking:
        case = 'expect = { action = "retry_payment", rung = "none" }'
        text = text.replace(case, case.replace("retry_payment", "cart_kept"))
    path = folder / f"candidate{version}.toml"
    path.write_text(text)
    return path


def contract(folder: Path) -> Contract:
    return load_contract(folder / "contract.toml")


def wait_for(catalogue: JourneyCatalogue, version: int, staged_version: int | None) -> None:
    deadline = time.monotonic() + BOUND_S
    while time.monotonic() < deadline:
        served = catalogue.served()
        now = served.staged.get(JOURNEY)
        if served.live[JOURNEY].version == version and (
            (now.playbook.version if now else None) == staged_version
        ):
            return
        time.sleep(0.02)
    raise AssertionError(f"version {version} (staged: {staged_version}) not served in {BOUND_S} s")


def test_the_contracts_file_is_live_until_a_release_then_the_database_is(
    url: str, folders: tuple[Path, Path], opened: list[PostgresJourneyReleases]
) -> None:
    a, _ = folders
    store = open_store(url, opened, listen=False)
    assert store.live(JOURNEY) is None and store.staging(JOURNEY) is None
    first = live(contract(a), JOURNEY, store)
    assert first.version == 1 and first.kept.source.endswith("checkout_recovery.toml")
    promote(contract(a), JOURNEY, candidate(a, 2), store)
    assert live(contract(a), JOURNEY, store).kept.source.startswith("database: ")
    assert (a / "playbooks" / "checkout_recovery.toml").read_text().count("version = 1") == 1
    assert [v.version for v in history(contract(a), JOURNEY, store)] == [1]  # the seed, kept
    assert history(contract(a), JOURNEY, store)[0].content_hash == first.content_hash
    back = rollback(contract(a), JOURNEY, store)
    assert (back.before.version, back.after.version) == (2, 1)
    assert live(contract(a), JOURNEY, store).content_hash == first.content_hash
    assert [v.version for v in history(contract(a), JOURNEY, store)] == [2, 1]


def test_a_change_through_one_host_reaches_another_hosts_server_from_memory(
    url: str, folders: tuple[Path, Path], opened: list[PostgresJourneyReleases]
) -> None:
    a, b = folders
    command = open_store(url, opened, listen=False)
    server = open_store(url, opened, listen=True)
    catalogue = JourneyCatalogue(contract(b), server)  # b's folder never changes
    assert catalogue.served().live[JOURNEY].version == 1
    stage(contract(a), JOURNEY, candidate(a, 2), 0.25, command)
    wait_for(catalogue, 1, 2)
    assert catalogue.served().staged[JOURNEY].share == 0.25
    widen(contract(a), JOURNEY, 0.5, command)
    deadline = time.monotonic() + BOUND_S
    while catalogue.served().staged[JOURNEY].share != 0.5:
        assert time.monotonic() < deadline, "the new share was not served in time"
        time.sleep(0.02)
    complete(contract(a), JOURNEY, command)
    wait_for(catalogue, 2, None)
    rollback(contract(a), JOURNEY, command)
    wait_for(catalogue, 1, None)
    stamp = server.stamp()
    for _ in range(100):  # a server's reads are memory: no round trip, however many
        server.live(JOURNEY), server.staging(JOURNEY), server.stamp()
    assert server.stamp() == stamp


def test_a_version_in_the_database_that_fails_is_not_served_the_last_good_one_stays(
    url: str, folders: tuple[Path, Path], opened: list[PostgresJourneyReleases]
) -> None:
    a, b = folders
    command = open_store(url, opened, listen=False)
    server = open_store(url, opened, listen=True)
    catalogue = JourneyCatalogue(contract(b), server)
    promote(contract(a), JOURNEY, candidate(a, 2), command)
    wait_for(catalogue, 2, None)
    # Written past the checks (as by hand, or by a Tactful whose contract differs).
    bad = candidate(a, 3, breaking=True).read_bytes()
    current = command.live(JOURNEY)
    assert current is not None
    command.make_live(JOURNEY, bad, 3, replacing=current, replacing_version=2)
    deadline = time.monotonic() + BOUND_S
    while catalogue.problem is None and time.monotonic() < deadline:
        catalogue.served()  # as a decision looks
        time.sleep(0.02)
    assert catalogue.problem is not None and "expected cart_kept" in catalogue.problem
    assert catalogue.served().live[JOURNEY].version == 2
    assert staged(contract(a), JOURNEY, command) is None
