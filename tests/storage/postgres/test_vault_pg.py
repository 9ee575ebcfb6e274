"""The identity vault on PostgreSQL: the same rows as SQLite's, shared by many servers.

Two Database objects on one database are two servers: their caches, their races
(remembering the same new person at once, a rekey against an erasure) and what an
erasure leaves in the table's pages.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tactful.privacy.errors import VaultError
from tactful.privacy.keyring import KeySet
from tactful.privacy.vault import Identity, IdentityVault
from tests.storage.postgres.conftest import migrated_database

psycopg = pytest.importorskip("psycopg")

from tactful.storage.postgres.connection import Database  # noqa: E402
from tactful.storage.postgres.vault import SCHEMA, PostgresVaultRows, open_postgres_vault  # noqa: E402

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
VAULT_V1 = KeySet("vault", 1, {1: bytes(range(32))})
VAULT_V2 = KeySet("vault", 2, {1: bytes(range(32)), 2: bytes(range(1, 33))})
PSEUDONYM_V2 = KeySet("pseudonym", 2, {1: bytes(32), 2: bytes(range(32))})

ADA = Identity("hmac-sha256:v1:" + "a" * 64, "email", "ada.canary+7f3a@example.com")
BOB = Identity("hmac-sha256:v1:" + "b" * 64, "customer_id", "CUST-00042-Bob")
ADA_V2 = replace(ADA, pseudonym="hmac-sha256:v2:" + "a" * 64)


@pytest.fixture()
def url() -> str:
    return migrated_database(SCHEMA)


@pytest.fixture()
def open_vault(url: str) -> Iterator[Callable[..., IdentityVault]]:
    """A vault on a Database of its own: each call is another server."""
    opened: list[IdentityVault] = []

    def open_(keys: KeySet = VAULT_V1) -> IdentityVault:
        vault = open_postgres_vault(Database(url, size=2), keys, PSEUDONYM_V2)
        opened.append(vault)
        return vault

    yield open_
    for vault in opened:
        vault.close()


def sql(url: str, statement: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(statement, params)  # tests' own SQL
        return cursor.fetchall() if cursor.description else []


def test_entries_round_trip_and_nothing_reads_without_the_keys(
    open_vault: Callable[..., IdentityVault], url: str
) -> None:
    vault = open_vault()
    assert vault.remember([ADA, BOB, ADA], now=NOW) == 2
    assert vault.remember([ADA], now=NOW) == 0
    assert vault.reveal(ADA.pseudonym) == ADA
    assert vault.reveal(BOB.pseudonym) == BOB
    assert vault.reveal("hmac-sha256:v1:" + "f" * 64) is None
    stored = b"".join(
        bytes(r[0]) for r in sql(url, "SELECT sealed_identifier FROM vault_identities")
    )
    assert ADA.identifier.encode() not in stored and BOB.identifier.encode() not in stored
    assert vault.uses(vault_version=1) == 2 and vault.uses(pseudonym_version=1) == 2
    assert vault.created_before(datetime(2027, 1, 1, tzinfo=UTC)) == sorted(
        [ADA.pseudonym, BOB.pseudonym]
    )
    assert vault.created_before(NOW) == []
    assert vault.shred([ADA.pseudonym, "hmac-sha256:v1:" + "f" * 64]) == 1
    assert vault.reveal(ADA.pseudonym) is None
    assert vault.reveal(BOB.pseudonym) == BOB


def test_an_entry_moved_to_another_subject_does_not_authenticate(
    open_vault: Callable[..., IdentityVault], url: str
) -> None:
    vault = open_vault()
    vault.remember([ADA, BOB], now=NOW)
    sql(url, "UPDATE vault_identities SET sealed_identifier ="
             " (SELECT sealed_identifier FROM vault_identities WHERE pseudonym = %s)"
             " WHERE pseudonym = %s", BOB.pseudonym, ADA.pseudonym)  # fmt: skip
    with pytest.raises(VaultError):
        vault.reveal(ADA.pseudonym)


def test_outdated_entries_move_and_keep_their_first_seen_time(
    open_vault: Callable[..., IdentityVault],
) -> None:
    open_vault().remember([ADA, BOB], now=NOW)
    vault = open_vault(VAULT_V2)  # a new primary vault key and pseudonym key v2
    assert vault.outdated() == sorted([ADA.pseudonym, BOB.pseudonym])
    assert vault.outdated(normalization_only=True) == []
    assert vault.move(ADA.pseudonym, ADA_V2, now=datetime(2027, 6, 1, tzinfo=UTC)) is False
    assert vault.reveal(ADA.pseudonym) is None
    assert vault.reveal(ADA_V2.pseudonym) == ADA_V2
    assert vault.outdated() == [BOB.pseudonym]
    assert vault.created_before(datetime(2026, 12, 2, tzinfo=UTC)) == sorted(
        [ADA_V2.pseudonym, BOB.pseudonym]
    )  # the rekey is not activity
    bob_v2 = replace(BOB, pseudonym=ADA_V2.pseudonym)  # two entries become one
    assert vault.move(BOB.pseudonym, bob_v2, now=NOW) is True
    assert vault.uses(vault_version=1) == 0 and vault.uses(vault_version=2) == 1


def test_a_server_forgets_what_another_server_shredded(
    open_vault: Callable[..., IdentityVault], url: str
) -> None:
    a, b = open_vault(), open_vault()
    assert a.remember([ADA], now=NOW) == 1
    assert b.shred([ADA.pseudonym]) == 1
    # A's cache knew ADA; without noticing B's shred it would skip storing her again.
    assert a.remember([ADA], now=NOW) == 1
    assert b.reveal(ADA.pseudonym) == ADA


def test_changed_reports_other_connections_changes_not_its_own(url: str) -> None:
    a, b = PostgresVaultRows(Database(url, size=1)), PostgresVaultRows(Database(url, size=1))
    try:
        vault_a = IdentityVault(a, VAULT_V1)
        vault_a.remember([ADA, BOB], now=NOW)
        assert a.changed() is False and b.changed() is False  # inserts change nothing known
        vault_a.shred([ADA.pseudonym])
        assert a.changed() is False  # its own shred: its cache knows already
        assert b.changed() is True
        assert b.changed() is False  # once
        IdentityVault(b, VAULT_V1).move(BOB.pseudonym, ADA_V2, now=NOW)
        assert a.changed() is True
    finally:
        a.close()
        b.close()


def test_two_servers_remembering_the_same_new_people_at_once_keep_one_whole_entry(
    url: str,
) -> None:
    people = [
        Identity(f"hmac-sha256:v1:{i:064x}", "email", f"person{i}@example.com") for i in range(200)
    ]
    vaults = [open_postgres_vault(Database(url, size=1), VAULT_V1) for _ in range(4)]
    start = threading.Barrier(len(vaults))

    def remember(vault: IdentityVault) -> int:
        start.wait(timeout=30)
        return sum(vault.remember(people[i : i + 10], now=NOW) for i in range(0, 200, 10))

    try:
        with ThreadPoolExecutor(len(vaults)) as pool:
            stored = sum(pool.map(remember, vaults))
        assert stored >= 200  # each counts its own, possibly beaten to the insert
        # Every entry opens: its data key is the one its identifier was sealed under.
        assert [vaults[0].reveal(p.pseudonym) for p in people] == people
        assert sql(url, "SELECT count(*) FROM vault_data_keys") == [(200,)]
    finally:
        for vault in vaults:
            vault.close()


def _waiting_on_locks(url: str, count: int) -> None:
    """Block (bounded) until `count` backends wait for a row lock."""
    for _ in range(2000):
        (waiting,) = sql(
            url,
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()",
        )
        if waiting[0] >= count:
            return
        threading.Event().wait(0.005)
    raise AssertionError(f"{count} backends never waited for a lock")


def test_a_rekey_racing_an_erasure_never_brings_the_erased_person_back(url: str) -> None:
    open_postgres_vault(Database(url, size=1), VAULT_V1).remember([ADA], now=NOW)
    eraser = open_postgres_vault(Database(url, size=1), VAULT_V1)
    rekeyer = open_postgres_vault(Database(url, size=1), VAULT_V2, PSEUDONYM_V2)
    try:
        with psycopg.connect(url) as holder, ThreadPoolExecutor(2) as pool:
            # Someone holds ADA's row: the erasure queues first, the rekey (which has
            # read ADA's entry already, as tactful.lifecycle.rekey does) behind it.
            holder.execute(
                "SELECT 1 FROM vault_identities WHERE pseudonym = %s FOR UPDATE", [ADA.pseudonym]
            )
            erased = pool.submit(eraser.shred, [ADA.pseudonym])
            _waiting_on_locks(url, 1)
            moved = pool.submit(rekeyer.move, ADA.pseudonym, ADA_V2, now=NOW)
            _waiting_on_locks(url, 2)
            holder.rollback()
            assert erased.result(timeout=30) == 1
            assert moved.result(timeout=30) is False
        assert rekeyer.reveal(ADA_V2.pseudonym) is None
        assert rekeyer.reveal(ADA.pseudonym) is None
        assert sql(url, "SELECT count(*) FROM vault_identities") == [(0,)]
    finally:
        eraser.close()
        rekeyer.close()


def _pages_holding(url: str, table: str, secret: bytes) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        (pages,) = conn.execute("SELECT pg_relation_size(%s) / 8192", [table]).fetchone() or (0,)
        return sum(
            secret
            in bytes(conn.execute("SELECT get_raw_page(%s, %s)", [table, page]).fetchone()[0])
            for page in range(pages)
        )


@pytest.mark.parametrize(("vacuum", "left"), [(True, 0), (False, 1)])
def test_a_shred_leaves_no_dead_tuple_of_the_entry_in_the_tables_pages(
    url: str, vacuum: bool, left: int
) -> None:
    """With VACUUM after the delete, the sealed identifier and data key are gone from
    the table's pages at once; without it (the control), a dead tuple keeps them."""
    rows = PostgresVaultRows(Database(url, size=1), vacuum_after_delete=vacuum)
    try:
        IdentityVault(rows, VAULT_V1).remember([ADA, BOB], now=NOW)
        entry = rows.entry(ADA.pseudonym)
        assert entry is not None
        IdentityVault(rows, VAULT_V1).shred([ADA.pseudonym])
        assert _pages_holding(url, "vault_data_keys", entry.sealed_key) == left
        assert _pages_holding(url, "vault_identities", entry.sealed_identifier) == left
    finally:
        rows.close()


def test_a_role_that_does_not_own_the_vault_says_an_erasure_cannot_vacuum(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL skips VACUUM of another role's table with a mere warning: a vault
    whose tables this role does not own says so in the log at open, and its entries
    are still shredded."""
    role = f"not_owner_{os.getpid()}"
    sql(url, f"CREATE ROLE {role} LOGIN")
    sql(url, f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
    sql(url, f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
    other = url.replace("//tactful@", f"//{role}@")
    with caplog.at_level(logging.WARNING, logger="tactful.storage"):
        rows = PostgresVaultRows(Database(other, size=1))
    try:
        assert "cannot VACUUM" in caplog.text and role in caplog.text
        IdentityVault(rows, VAULT_V1).remember([ADA], now=NOW)
        assert IdentityVault(rows, VAULT_V1).shred([ADA.pseudonym]) == 1
    finally:
        rows.close()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tactful.storage"):
        PostgresVaultRows(Database(url, size=1)).close()  # the owner: nothing to say
    assert "cannot VACUUM" not in caplog.text


# -- the vault key's epochs, shared by the servers through the database ------------------


def test_a_vault_from_before_the_epoch_record_adopts_the_versions_its_data_keys_use(
    open_vault: Callable[..., IdentityVault], url: str
) -> None:
    from tactful.privacy.errors import StoreUnavailable
    from tactful.privacy.vault import VaultKeyEpoch, key_fingerprint

    open_vault(VAULT_V1).remember([ADA], now=NOW)
    open_vault(VAULT_V2).remember([BOB], now=NOW)
    sql(url, "DROP TABLE vault_key_epochs")  # the database as the release before left it
    sql(url, "UPDATE tactful_schema SET version = 1 WHERE store = 'vault'")
    db = Database(url, size=1)
    try:
        assert SCHEMA.migrate(db) == [2]  # `tactful db migrate`
    finally:
        db.close()
    ((created,),) = sql(url, "SELECT created_at FROM vault_identities WHERE pseudonym = %s",
                        ADA.pseudonym)  # fmt: skip
    assert open_vault(VAULT_V2).epochs() == [
        VaultKeyEpoch(1, None, str(created)),
        VaultKeyEpoch(2, None, str(created)),
    ]
    carol = replace(BOB, pseudonym="hmac-sha256:v1:" + "c" * 64)
    with pytest.raises(StoreUnavailable, match=r"\(v2 in the database, v1 here\)"):
        open_vault(VAULT_V1).remember([carol], now=NOW)  # a keyring copy from before v2
    assert sql(url, "SELECT count(*) FROM vault_identities") == [(2,)]  # rolled back whole
    open_vault(VAULT_V2).remember([carol], now=NOW)  # its first write records v2's key
    assert open_vault(VAULT_V2).epochs()[1].fingerprint == key_fingerprint(VAULT_V2.versions[2])


def test_retiring_a_version_waits_for_writes_under_it_and_refuses_every_later_one(
    open_vault: Callable[..., IdentityVault], url: str
) -> None:
    """The rotation's side of the race: a server that checked v1 and has not committed
    yet is waited for (so the rotation's next pass re-wraps its data key), and a
    server after it is refused, so no data key is committed under v1 once it is
    retired in the database (and the keyring may destroy it)."""
    from tactful.privacy.vault import EpochRefused, key_fingerprint
    from tactful.storage.postgres.vault import EPOCH_WRITE_LOCK

    rotation, writer = open_vault(VAULT_V1), open_vault(VAULT_V1)
    writer.remember([ADA], now=NOW)  # v1 recorded, as the newest
    in_flight = psycopg.connect(url)  # a write under v1, between its check and its commit
    in_flight.execute("SELECT pg_advisory_xact_lock_shared(%s)", [EPOCH_WRITE_LOCK])
    sealed = writer._rows.entry(ADA.pseudonym)
    assert sealed is not None
    in_flight.execute(
        "INSERT INTO vault_identities SELECT %s, namespace, sealed_identifier, created_at,"
        " normalization FROM vault_identities WHERE pseudonym = %s",
        [BOB.pseudonym, ADA.pseudonym],
    )
    in_flight.execute(
        "INSERT INTO vault_data_keys VALUES (%s, 1, %s)", [BOB.pseudonym, sealed.sealed_key]
    )
    fingerprint = key_fingerprint(VAULT_V1.versions[1])
    retiring = threading.Thread(
        target=lambda: rotation.retire_epoch(1, fingerprint, now=NOW), daemon=True
    )
    retiring.start()
    retiring.join(0.5)
    assert retiring.is_alive()  # waits for the write in flight
    in_flight.commit()
    in_flight.close()
    retiring.join(10)
    assert not retiring.is_alive()
    assert rotation.sealed_versions() == {1: 2}  # the next pass sees (and re-wraps) it
    carol = replace(BOB, pseudonym="hmac-sha256:v1:" + "c" * 64)
    with pytest.raises(EpochRefused):
        writer._rows.insert_new(
            [replace(sealed, pseudonym=carol.pseudonym)],
            created_at="2026-12-01T12:00:00.000000+00:00",
            fingerprint=fingerprint,
        )
    assert sql(url, "SELECT count(*) FROM vault_identities WHERE pseudonym = %s",
               carol.pseudonym) == [(0,)]  # fmt: skip
