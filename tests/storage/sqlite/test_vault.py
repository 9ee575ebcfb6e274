"""The identity vault: round trips, idempotence, no plaintext at rest, tampering caught.

Corruptions are made with sqlite3 directly on the closed file, the way a stolen or
damaged copy would look; each one must make `reveal` raise VaultError, never return
a wrong identity.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tactful.privacy import _crypto
from tactful.privacy.errors import VaultError
from tactful.privacy.keyring import KeySet
from tactful.privacy.vault import Identity, IdentityVault, _data_key_ad
from tactful.storage.sqlite.vault import open_sqlite_vault

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
VAULT_V1 = KeySet("vault", 1, {1: bytes(range(32))})

ADA = Identity("hmac-sha256:v1:" + "a" * 64, "email", "canary.person+7f3a@example.com")
BOB = Identity("hmac-sha256:v1:" + "b" * 64, "customer_id", "CUST-00042-Bob")
ZOE = Identity("hmac-sha256:v1:" + "c" * 64, "customer_id", "顧客-Zoë-７７")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "vault.db"


@pytest.fixture
def open_vault(path: Path) -> Iterator[Callable[..., IdentityVault]]:
    opened: list[IdentityVault] = []

    def open_(keys: KeySet = VAULT_V1) -> IdentityVault:
        vault = open_sqlite_vault(path, keys)
        opened.append(vault)
        return vault

    yield open_
    for vault in opened:
        vault.close()


def filled(open_vault: Callable[..., IdentityVault], *identities: Identity) -> None:
    vault = open_vault()
    vault.remember(identities, now=NOW)
    vault.close()


def sql(path: Path, statement: str, *params: object) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as conn, conn:
        return conn.execute(statement, params).fetchall()


# --- round trip and idempotence ------------------------------------------------------------


def test_remember_then_reveal(open_vault: Callable[..., IdentityVault]) -> None:
    vault = open_vault()
    assert vault.remember([ADA, BOB, ZOE], now=NOW) == 3
    assert vault.reveal(ADA.pseudonym) == ADA
    assert vault.reveal(BOB.pseudonym) == BOB
    assert vault.reveal(ZOE.pseudonym) == ZOE


def test_reveal_after_reopening(open_vault: Callable[..., IdentityVault]) -> None:
    filled(open_vault, ADA, ZOE)
    vault = open_vault()
    assert vault.reveal(ADA.pseudonym) == ADA
    assert vault.reveal(ZOE.pseudonym) == ZOE


def test_remember_counts_only_new(open_vault: Callable[..., IdentityVault]) -> None:
    vault = open_vault()
    assert vault.remember([ADA], now=NOW) == 1
    assert vault.remember([ADA], now=NOW) == 0
    assert vault.remember([ADA, BOB, BOB], now=NOW) == 1
    assert vault.remember([], now=NOW) == 0
    assert vault.reveal(BOB.pseudonym) == BOB


def test_remember_counts_only_new_across_instances(
    open_vault: Callable[..., IdentityVault], path: Path
) -> None:
    filled(open_vault, ADA, BOB)
    vault = open_vault()
    assert vault.remember([ADA, BOB], now=NOW) == 0
    assert vault.remember([BOB, ZOE], now=NOW) == 1
    assert sql(path, "SELECT count(*) FROM identities") == [(3,)]
    assert sql(path, "SELECT count(*) FROM data_keys") == [(3,)]


def test_remember_does_not_reseal_known_entries(
    open_vault: Callable[..., IdentityVault], path: Path
) -> None:
    filled(open_vault, ADA)
    before = sql(path, "SELECT * FROM identities JOIN data_keys USING (pseudonym)")
    filled(open_vault, ADA)
    assert sql(path, "SELECT * FROM identities JOIN data_keys USING (pseudonym)") == before


def test_each_subject_gets_its_own_data_key(
    open_vault: Callable[..., IdentityVault], path: Path
) -> None:
    twin = Identity("hmac-sha256:v1:" + "d" * 64, ADA.namespace, ADA.identifier)
    filled(open_vault, ADA, twin)
    sealed = sql(path, "SELECT sealed_identifier FROM identities")
    keys = sql(path, "SELECT sealed_key FROM data_keys")
    assert len(set(sealed)) == 2 and len(set(keys)) == 2


def test_unknown_pseudonym_reveals_none(open_vault: Callable[..., IdentityVault]) -> None:
    vault = open_vault()
    assert vault.reveal(ADA.pseudonym) is None
    vault.remember([BOB], now=NOW)
    assert vault.reveal(ADA.pseudonym) is None


def test_shredded_data_key_reveals_none(
    open_vault: Callable[..., IdentityVault], path: Path
) -> None:
    filled(open_vault, ADA, BOB)
    sql(path, "DELETE FROM data_keys WHERE pseudonym = ?", ADA.pseudonym)
    vault = open_vault()
    assert vault.reveal(ADA.pseudonym) is None
    assert vault.reveal(BOB.pseudonym) == BOB


# --- nothing in plaintext at rest ----------------------------------------------------------


def test_identifier_never_stored_in_plaintext(
    open_vault: Callable[..., IdentityVault], path: Path
) -> None:
    vault = open_vault()
    vault.remember([ADA, BOB, ZOE], now=NOW)
    # Read while open, so the WAL still holds the writes, then again after checkpoint.
    wal = path.with_name(path.name + "-wal")
    assert wal.exists() and wal.stat().st_size > 0
    snapshots = [b"".join(p.read_bytes() for p in path.parent.iterdir() if p.is_file())]
    vault.close()
    snapshots.append(b"".join(p.read_bytes() for p in path.parent.iterdir() if p.is_file()))
    for stored in snapshots:
        assert ADA.pseudonym.encode() in stored  # the check can see what is there
        for identity in (ADA, BOB, ZOE):
            for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
                assert identity.identifier.encode(encoding) not in stored
        assert b"canary.person" not in stored
        assert b"CUST-00042" not in stored


# --- keys ----------------------------------------------------------------------------------


def test_other_vault_key_cannot_reveal(
    open_vault: Callable[..., IdentityVault],
) -> None:
    filled(open_vault, ADA)
    vault = open_vault(KeySet("vault", 1, {1: bytes(range(1, 33))}))
    with pytest.raises(VaultError):
        vault.reveal(ADA.pseudonym)


def test_rotated_vault_key_still_reads_old_entries(
    open_vault: Callable[..., IdentityVault], path: Path
) -> None:
    filled(open_vault, ADA)
    rotated = KeySet("vault", 2, {1: VAULT_V1.key(1), 2: bytes(range(2, 34))})
    vault = open_vault(rotated)
    vault.remember([BOB], now=NOW)
    assert vault.reveal(ADA.pseudonym) == ADA
    assert vault.reveal(BOB.pseudonym) == BOB
    versions = dict(sql(path, "SELECT pseudonym, key_version FROM data_keys"))
    assert versions == {ADA.pseudonym: 1, BOB.pseudonym: 2}


# --- tampering -----------------------------------------------------------------------------


def flip(path: Path, table: str, column: str, pseudonym: str, index: int) -> None:
    (blob,) = sql(path, f"SELECT {column} FROM {table} WHERE pseudonym = ?", pseudonym)[0]
    assert isinstance(blob, bytes)
    changed = bytearray(blob)
    changed[index] ^= 0x01
    sql(path, f"UPDATE {table} SET {column} = ? WHERE pseudonym = ?", bytes(changed), pseudonym)


def swap(path: Path, table: str, column: str, first: str, second: str) -> None:
    rows = dict(sql(path, f"SELECT pseudonym, {column} FROM {table}"))
    sql(path, f"UPDATE {table} SET {column} = ? WHERE pseudonym = ?", rows[second], first)
    sql(path, f"UPDATE {table} SET {column} = ? WHERE pseudonym = ?", rows[first], second)


def set_value(path: Path, table: str, column: str, value: object) -> None:
    sql(path, f"UPDATE {table} SET {column} = ? WHERE pseudonym = ?", value, ADA.pseudonym)


def move_entry(path: Path) -> None:
    # Give ADA's whole entry (identifier and data key) to an unused pseudonym.
    for table in ("identities", "data_keys"):
        sql(path, f"UPDATE {table} SET pseudonym = ? WHERE pseudonym = ?", MOVED, ADA.pseudonym)


MOVED = "hmac-sha256:v1:" + "e" * 64

# Each corruption, and the pseudonyms whose reveal it must break.
CORRUPTIONS: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "sealed identifiers swapped": (
        lambda p: swap(p, "identities", "sealed_identifier", ADA.pseudonym, BOB.pseudonym),
        (ADA.pseudonym, BOB.pseudonym),
    ),
    "sealed keys swapped": (
        lambda p: swap(p, "data_keys", "sealed_key", ADA.pseudonym, BOB.pseudonym),
        (ADA.pseudonym, BOB.pseudonym),
    ),
    "whole entry moved to another pseudonym": (move_entry, (MOVED,)),
    "sealed key nonce byte flipped": (
        lambda p: flip(p, "data_keys", "sealed_key", ADA.pseudonym, 0),
        (ADA.pseudonym,),
    ),
    "sealed key ciphertext byte flipped": (
        lambda p: flip(p, "data_keys", "sealed_key", ADA.pseudonym, 20),
        (ADA.pseudonym,),
    ),
    "sealed key tag byte flipped": (
        lambda p: flip(p, "data_keys", "sealed_key", ADA.pseudonym, -1),
        (ADA.pseudonym,),
    ),
    "sealed identifier nonce byte flipped": (
        lambda p: flip(p, "identities", "sealed_identifier", ADA.pseudonym, 3),
        (ADA.pseudonym,),
    ),
    "sealed identifier ciphertext byte flipped": (
        lambda p: flip(p, "identities", "sealed_identifier", ADA.pseudonym, 12),
        (ADA.pseudonym,),
    ),
    "sealed identifier tag byte flipped": (
        lambda p: flip(p, "identities", "sealed_identifier", ADA.pseudonym, -16),
        (ADA.pseudonym,),
    ),
    "sealed key truncated": (
        lambda p: sql(
            p,
            "UPDATE data_keys SET sealed_key = substr(sealed_key, 1, 40) WHERE pseudonym IN (?, ?)",
            ADA.pseudonym,
            BOB.pseudonym,
        ),
        (ADA.pseudonym, BOB.pseudonym),
    ),
    "sealed key shorter than a nonce": (
        lambda p: set_value(p, "data_keys", "sealed_key", b"\x00" * 5),
        (ADA.pseudonym,),
    ),
    "sealed identifier emptied": (
        lambda p: set_value(p, "identities", "sealed_identifier", b""),
        (ADA.pseudonym,),
    ),
    "key version relabelled": (
        lambda p: set_value(p, "data_keys", "key_version", 2),
        (ADA.pseudonym,),
    ),
    "sealed key set to NULL": (
        lambda p: set_value(p, "data_keys", "sealed_key", None),
        (ADA.pseudonym,),
    ),
    "sealed identifier set to NULL": (
        lambda p: set_value(p, "identities", "sealed_identifier", None),
        (ADA.pseudonym,),
    ),
    "namespace rewritten": (
        lambda p: set_value(p, "identities", "namespace", "customer_id"),
        (ADA.pseudonym,),
    ),
}


@pytest.mark.parametrize(("corrupt", "broken"), CORRUPTIONS.values(), ids=CORRUPTIONS)
def test_every_corruption_is_caught(
    open_vault: Callable[..., IdentityVault],
    path: Path,
    corrupt: Callable[[Path], None],
    broken: tuple[str, ...],
) -> None:
    filled(open_vault, ADA, BOB, ZOE)
    corrupt(path)
    # Both versions are live, so a relabelled key version is tried with a real key.
    vault = open_vault(KeySet("vault", 1, {1: VAULT_V1.key(1), 2: bytes(range(2, 34))}))
    for pseudonym in broken:
        with pytest.raises(VaultError, match="does not authenticate"):
            vault.reveal(pseudonym)
    assert vault.reveal(ZOE.pseudonym) == ZOE  # untouched entries still read


def test_sealed_identifier_is_bound_to_its_pseudonym(
    open_vault: Callable[..., IdentityVault], path: Path
) -> None:
    # A plain swap is already caught by the per-subject data keys. Here BOB's row gets
    # ADA's sealed identifier *and* ADA's data key, re-sealed correctly for BOB with the
    # vault key; only the identity's associated data can still tell the entry was moved.
    filled(open_vault, ADA, BOB)
    (sealed_id,) = sql(
        path, "SELECT sealed_identifier FROM identities WHERE pseudonym = ?", ADA.pseudonym
    )[0]
    (sealed_key,) = sql(
        path, "SELECT sealed_key FROM data_keys WHERE pseudonym = ?", ADA.pseudonym
    )[0]
    assert isinstance(sealed_key, bytes)
    vault_key = VAULT_V1.key(1)
    data_key = _crypto.open_sealed(vault_key, sealed_key, _data_key_ad(ADA.pseudonym.encode(), 1))
    resealed = _crypto.seal(vault_key, data_key, _data_key_ad(BOB.pseudonym.encode(), 1))
    sql(path, "UPDATE data_keys SET sealed_key = ? WHERE pseudonym = ?", resealed, BOB.pseudonym)
    sql(
        path,
        "UPDATE identities SET sealed_identifier = ? WHERE pseudonym = ?",
        sealed_id,
        BOB.pseudonym,
    )
    vault = open_vault()
    with pytest.raises(VaultError, match="does not authenticate"):
        vault.reveal(BOB.pseudonym)


def test_uncorrupted_vault_passes_the_same_checks(
    open_vault: Callable[..., IdentityVault],
) -> None:
    # The control for the matrix above: without a corruption every entry reads back.
    filled(open_vault, ADA, BOB, ZOE)
    vault = open_vault(KeySet("vault", 1, {1: VAULT_V1.key(1), 2: bytes(range(2, 34))}))
    assert [vault.reveal(i.pseudonym) for i in (ADA, BOB, ZOE)] == [ADA, BOB, ZOE]


def test_the_start_up_check_for_old_normalization_is_an_index_probe(tmp_path: Path) -> None:
    """Every start and every command asks whether any entry is under older rules: the
    statement `outdated` runs must probe an index, not read the whole vault."""
    from tactful.storage.sqlite.vault import SqliteVaultRows

    rows = SqliteVaultRows(tmp_path / "vault.db")
    ran: list[str] = []
    try:
        rows._db.conn.set_trace_callback(ran.append)
        rows.outdated(
            primary_prefix="", vault_version=1, normalization=2, after="", limit=1,
            normalization_only=True,
        )  # fmt: skip
        rows._db.conn.set_trace_callback(None)
        (statement,) = [sql for sql in ran if "FROM identities" in sql]
        plan = rows._db.execute(f"EXPLAIN QUERY PLAN {statement}").fetchall()
    finally:
        rows.close()
    assert any("INDEX identities_normalization" in row[3] for row in plan), plan


# --- the vault key's epochs, recorded in the vault -------------------------------------------

VAULT_V2 = KeySet("vault", 2, {1: bytes(range(32)), 2: bytes(range(1, 33))})


def test_a_vault_from_before_the_epoch_record_adopts_the_versions_its_data_keys_use(
    open_vault: Callable[..., IdentityVault], path: Path
) -> None:
    from tactful.privacy.errors import StoreUnavailable
    from tactful.privacy.vault import VaultKeyEpoch, key_fingerprint

    open_vault(VAULT_V1).remember([ADA], now=NOW)
    open_vault(VAULT_V2).remember([BOB], now=NOW)
    for vault in (open_vault(VAULT_V1), open_vault(VAULT_V2)):
        vault.close()
    sql(path, "DROP TABLE vault_keys")  # the file as the release before wrote it
    sql(path, "DELETE FROM _sqlite_migrations WHERE name = 'm004_vault_key_epochs'")
    created = sql(path, "SELECT created_at FROM identities WHERE pseudonym = ?", ADA.pseudonym)
    assert open_vault(VAULT_V2).epochs() == [
        VaultKeyEpoch(1, None, str(created[0][0])),
        VaultKeyEpoch(2, None, str(created[0][0])),
    ]
    with pytest.raises(StoreUnavailable, match=r"\(v2 in the database, v1 here\)"):
        open_vault(VAULT_V1).remember([ZOE], now=NOW)  # a keyring copy from before v2
    open_vault(VAULT_V2).remember([ZOE], now=NOW)  # its first write records v2's key
    assert open_vault(VAULT_V2).epochs()[1].fingerprint == key_fingerprint(VAULT_V2.versions[2])
    assert [open_vault(VAULT_V2).reveal(i.pseudonym) for i in (ADA, BOB, ZOE)] == [ADA, BOB, ZOE]


def test_the_vault_records_a_fingerprint_of_its_key_never_the_key(
    open_vault: Callable[..., IdentityVault], path: Path
) -> None:
    open_vault(VAULT_V1).remember([ADA], now=NOW)
    ((fingerprint,),) = sql(path, "SELECT fingerprint FROM vault_keys")
    assert str(fingerprint).startswith("hmac-sha256:")
    assert VAULT_V1.versions[1].hex() not in str(sql(path, "SELECT * FROM vault_keys"))
    sql(path, "PRAGMA wal_checkpoint(TRUNCATE)")
    assert VAULT_V1.versions[1] not in path.read_bytes()
