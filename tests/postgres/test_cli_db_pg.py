"""`tactful db migrate | status | roles`, and `tactful serve` refusing a schema older
or newer than it knows."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tactful.cli.main import main
from tactful.privacy.keyring import create_keyring
from tests.conftest import T0
from tests.postgres_cluster import binaries, fresh_database, shared_cluster

psycopg = pytest.importorskip("psycopg")

from tactful.storage.postgres import migrate as migrations  # noqa: E402
from tactful.timestamps import to_us  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, url: str, vault_url: str = "") -> Path:
    """The development configuration on PostgreSQL, with its own keyring."""
    create_keyring(tmp_path / "keyring.json", now=T0)
    development = (ROOT / "examples" / "development.toml").read_text()
    development = development.replace('listen = "127.0.0.1:50051"', "").replace(
        'contract = "contract.toml"', f'contract = "{ROOT / "examples" / "contract.toml"}"'
    )
    storage = f'[storage]\nurl = "{url}"\n' + (f'vault_url = "{vault_url}"\n' if vault_url else "")
    config = tmp_path / "tactful.toml"
    config.write_text(
        f'data_dir = "data"\nkeyring = "{tmp_path / "keyring.json"}"\n'
        f'listen = "127.0.0.1:0"\n{development}\n{storage}'
    )
    return config


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    cluster = shared_cluster()
    return write_config(tmp_path, fresh_database(cluster, "main"), fresh_database(cluster, "vault"))


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_migrate_applies_then_finds_everything_current(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["db", "status", "--config", str(config)], capsys)
    assert code == 1 and "budget: found version 0, this Tactful knows 2" in out, out + err
    code, out, _ = run(["db", "migrate", "--config", str(config)], capsys)
    assert code == 0
    stores = [s.store for s in (*migrations.MAIN, *migrations.VAULT)]
    assert [line.split(":")[0] for line in out.splitlines()] == stores
    assert all("(applied 1" in line for line in out.splitlines()), out
    code, out, _ = run(["db", "migrate", "--config", str(config)], capsys)
    assert code == 0 and all(line.endswith("(current)") for line in out.splitlines()), out
    code, out, _ = run(["db", "status", "--config", str(config)], capsys)
    assert code == 0 and out.count("(current)") == len(stores), out


def test_serve_refuses_tables_older_than_it_knows(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["serve", "--config", str(config)], capsys)
    assert code == 1
    assert err.count("\n") == 1 and "run `tactful db migrate`" in err, err


def test_serve_refuses_tables_newer_than_it_knows(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "migrate", "--config", str(config)]) == 0
    capsys.readouterr()
    url = config.read_text().split('url = "')[1].split('"')[0]
    with psycopg.connect(url, autocommit=True) as conn:  # a newer Tactful migrated
        conn.execute("UPDATE tactful_schema SET version = version + 1 WHERE store = 'budget'")
    code, _, err = run(["serve", "--config", str(config)], capsys)
    assert code == 1
    assert err.count("\n") == 1 and "newer than this Tactful knows" in err, err


# -- roles ------------------------------------------------------------------------------


def psql(script: str, url: str) -> None:
    bin_dir = binaries()
    assert bin_dir is not None
    subprocess.run(
        [str(bin_dir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url],
        input=script,
        text=True,
        check=True,
        capture_output=True,
        timeout=120,
    )


def as_role(url: str, role: str, database: str) -> str:
    """`url` (the cluster's superuser) as another role, on another database."""
    return url.replace("//tactful@", f"//{role}@").rsplit("/", 1)[0] + "/" + database


def test_the_printed_roles_run_and_leave_each_role_only_its_rights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = shared_cluster()
    main_db, vault_db = f"roles_main_{tmp_path.name[-6:]}", f"roles_vault_{tmp_path.name[-6:]}"
    server_url = as_role(cluster.url, "tactful_server", main_db)
    vault_url = as_role(cluster.url, "tactful_vault", vault_db)
    config = write_config(tmp_path, server_url, vault_url)
    code, script, _ = run(["db", "roles", "--config", str(config)], capsys)
    assert code == 0
    psql(script, cluster.url)  # a fresh cluster: creates the roles and the databases
    # The owner migrates the main database, the vault role its own; then grants again.
    owner = write_config(tmp_path / "owner", as_role(cluster.url, "tactful_owner", main_db),
                         vault_url)  # fmt: skip
    assert main(["db", "migrate", "--config", str(owner)]) == 0
    psql(script, cluster.url)  # again after the migration: grants on the tables now there
    capsys.readouterr()
    # The servers' configuration works as the server role.
    assert main(["db", "status", "--config", str(config)]) == 0

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute("INSERT INTO budget_debits (principal, purpose, epsilon, debited_at_us)"
                     " VALUES ('analyst', 'analytics', 0.1, 1)")  # fmt: skip
        conn.execute("INSERT INTO access_log_epochs VALUES (1, 'a line')")
        assert conn.execute("SELECT line FROM access_log_epochs").fetchall() == [("a line",)]
        for statement in (
            "UPDATE access_log_epochs SET line = 'changed'",
            "DELETE FROM access_log_epochs",
            "TRUNCATE access_log_epochs",
            "UPDATE access_log_records SET content = 'changed'",
            "DELETE FROM access_log_records",
            "DELETE FROM budget_debits",  # a server cannot give a budget back
            "UPDATE budget_debits SET epsilon = 0",
            "DROP TABLE budget_debits",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)  # type: ignore[arg-type]  # the tests' own SQL
    with psycopg.connect(server_url, autocommit=True) as conn:
        for function in ("tactful_create_day", "tactful_drop_day"):  # SECURITY DEFINER
            (acl,) = conn.execute(
                "SELECT proacl::text FROM pg_proc WHERE proname = %s", [function]
            ).fetchone()
            entries = acl.strip("{}").split(",")
            assert not [e for e in entries if e.startswith("=")], acl  # not PUBLIC's
            assert any(e.startswith("tactful_server=X/") for e in entries), acl
    for role, database in (("tactful_server", vault_db), ("tactful_vault", main_db)):
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            psycopg.connect(as_role(cluster.url, role, database)).close()
    with psycopg.connect(vault_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM vault_identities").fetchone() == (0,)
        owners = conn.execute(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE tablename LIKE 'vault_%'"
        )
        assert owners.fetchall() == [("tactful_vault",)]  # so its erasures may VACUUM them


def test_every_store_declares_its_tables_so_the_roles_follow_them() -> None:
    for schema in (*migrations.MAIN, *migrations.VAULT):
        assert schema.tables or schema.append_only, f"{schema.store}: Schema(tables=...)"


def test_a_server_logged_in_as_the_server_role_records_consents_erases_and_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The roles are enough to serve: nothing a server does needs the owner's rights
    (a new day's partition of events and the journey memory included)."""
    from tactful.app.config_file import load_settings
    from tactful.app.domain import open_domain
    from tactful.app.stores import open_journey_memory
    from tactful.journeys.memory import OfferResult, Remembered
    from tests.storage.engines import Stores

    cluster = shared_cluster()
    main_db, vault_db = f"serve_main_{tmp_path.name[-6:]}", f"serve_vault_{tmp_path.name[-6:]}"
    server_url = as_role(cluster.url, "tactful_server", main_db)
    vault_url = as_role(cluster.url, "tactful_vault", vault_db)
    config = write_config(tmp_path, server_url, vault_url)
    code, script, _ = run(["db", "roles", "--config", str(config)], capsys)
    psql(script, cluster.url)
    owner = write_config(tmp_path / "owner", as_role(cluster.url, "tactful_owner", main_db),
                         vault_url)  # fmt: skip
    assert main(["db", "migrate", "--config", str(owner)]) == 0
    psql(script, cluster.url)
    settings = load_settings(config, {})
    stores = Stores(settings, open_domain(settings))
    try:
        now_us = to_us(T0)
        for days in (0, 3):  # two days: the second needs a partition of its own
            event = (
                "ada@example.com",
                "page_viewed",
                now_us - days * 86_400_000_000,
                {"path": "/"},
            )
            assert stores.record("support_widget", "support_triage", [event], now=T0).stored == 1
        stores.set_consent("ada@example.com", "onboarding", True, now=T0)
        (ada,) = stores.pseudonyms("ada@example.com")
        memory = open_journey_memory(settings)
        try:
            kept = Remembered(
                "d1", ada, "onboarding", "onboarding", "a", "guide", "none", 1, now_us
            )
            memory.remember(kept)
            assert memory.settle([ada], "d1", OfferResult.ACCEPTED)
            assert memory.recall([ada], "onboarding", "onboarding", 0)[0].decision_id == "d1"
            assert memory.compensation_spent("onboarding", 0) == 0.0
        finally:
            memory.close()
        stores.erase("ada@example.com", suppress=True, now=T0)
        assert stores.domain.subject_data.journey_memory_of([ada]) == []
        assert stores.stored_events("ada@example.com") == []
        assert stores.verify_access_log().intact
    finally:
        stores.close()
