"""The keyring file: created private, never overwritten, refused when unsafe or malformed."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tactful.privacy.errors import KeyringError
from tactful.privacy.keyring import (
    ALL_KEY_USES,
    FORMAT,
    KEY_USES,
    KeySet,
    add_holdout_key,
    create_keyring,
    load_keyring,
    retire_version,
    rotate_keyring,
    upgrade_keyring,
)

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
KEY = base64.b64encode(bytes(range(32))).decode()


def write_keyring(path: Path, document: Any, mode: int = 0o600) -> Path:
    path.write_text(json.dumps(document))
    path.chmod(mode)
    return path


def valid_document() -> dict[str, Any]:
    return {
        "format": FORMAT,
        "created_at": NOW.isoformat(),
        "keysets": {
            use: {"primary": 1, "keys": {"1": {"material": KEY, "created_at": NOW.isoformat()}}}
            for use in ALL_KEY_USES
        },
    }


# --- create_keyring ------------------------------------------------------------------------


def test_create_writes_owner_only_file(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "keyring.json"
    keyring = create_keyring(path, now=NOW)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keyring.pseudonym.live_versions() == (1,)
    assert keyring.vault.live_versions() == (1,)
    assert len(keyring.pseudonym.primary_key()[1]) == 32
    assert keyring.pseudonym.primary_key()[1] != keyring.vault.primary_key()[1]


def test_create_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o000)
    try:
        create_keyring(tmp_path / "keyring.json", now=NOW)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "keyring.json").stat().st_mode) == 0o600


def test_create_records_now_and_format(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    create_keyring(path, now=NOW)
    document = json.loads(path.read_text())
    assert document["format"] == FORMAT
    assert document["created_at"] == "2026-11-27T12:00:00+00:00"
    assert set(document["keysets"]) == set(ALL_KEY_USES)


def test_create_makes_fresh_keys_each_time(tmp_path: Path) -> None:
    first = create_keyring(tmp_path / "a.json", now=NOW)
    second = create_keyring(tmp_path / "b.json", now=NOW)
    assert first.pseudonym.primary_key() != second.pseudonym.primary_key()


def test_create_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    create_keyring(path, now=NOW)
    before = path.read_bytes()
    with pytest.raises(KeyringError, match="already exists"):
        create_keyring(path, now=NOW)
    assert path.read_bytes() == before


def test_create_refuses_to_overwrite_any_file(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    path.write_text("not mine")
    with pytest.raises(KeyringError, match="left untouched"):
        create_keyring(path, now=NOW)
    assert path.read_text() == "not mine"


def test_created_keyring_loads_back_identically(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    created = create_keyring(path, now=NOW)
    assert load_keyring(path) == created


# --- load_keyring refuses ------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o606, 0o620, 0o602, 0o610])
def test_load_refuses_file_others_can_touch(tmp_path: Path, mode: int) -> None:
    path = write_keyring(tmp_path / "keyring.json", valid_document(), mode)
    with pytest.raises(KeyringError, match="chmod 600") as caught:
        load_keyring(path)
    assert f"{mode:04o}" in str(caught.value)


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_load_accepts_owner_only_file(tmp_path: Path, mode: int) -> None:
    path = write_keyring(tmp_path / "keyring.json", valid_document(), mode)
    keyring = load_keyring(path)
    assert keyring.vault.key(1) == bytes(range(32))


def test_load_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(KeyringError, match="`tactful keys init`"):
        load_keyring(tmp_path / "nowhere.json")


def with_keysets(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    document = valid_document()
    change(document["keysets"]["vault"])
    return document


def set_material(material: Any) -> Callable[[dict[str, Any]], None]:
    def change(keyset: dict[str, Any]) -> None:
        keyset["keys"]["1"]["material"] = material

    return change


BROKEN = {
    "short key (31 bytes)": (
        with_keysets(set_material(base64.b64encode(bytes(31)).decode())),
        "248 bits; at least 256",
    ),
    "empty key": (with_keysets(set_material("")), "0 bits; at least 256"),
    "missing material": (
        with_keysets(lambda ks: ks["keys"]["1"].pop("material")),
        "0 bits",
    ),
    "material not base64": (with_keysets(set_material("not base64!!")), "not base64"),
    "material without padding": (with_keysets(set_material(KEY.rstrip("="))), "not base64"),
    "material as a number": (with_keysets(set_material(12345)), "not base64"),
    "material with non-ASCII text": (with_keysets(set_material("clé" * 16)), "not base64"),
    "primary not among keys": (
        with_keysets(lambda ks: ks.update(primary=2)),
        "primary version 2 is not among its keys",
    ),
    "primary missing": (with_keysets(lambda ks: ks.pop("primary")), "primary version None"),
    "primary as text": (with_keysets(lambda ks: ks.update(primary="1")), "primary version '1'"),
    # JSON true == 1 in Python; accepted, it would label every pseudonym "vTrue".
    "primary as a boolean": (
        with_keysets(lambda ks: ks.update(primary=True)),
        "primary version True",
    ),
    "version zero": (
        with_keysets(lambda ks: ks.update(primary=0, keys={"0": {"material": KEY}})),
        "versions are positive integers",
    ),
    "version not a number": (
        with_keysets(lambda ks: ks.update(keys={"one": {"material": KEY}})),
        "versions are positive integers",
    ),
    "version with a superscript digit": (
        with_keysets(lambda ks: ks.update(keys={"1": {"material": KEY}, "²": {"material": KEY}})),
        "versions are positive integers",
    ),
    "keys not a table": (with_keysets(lambda ks: ks.update(keys=[KEY])), "malformed"),
    "key use missing": (
        {**valid_document(), "keysets": {"pseudonym": valid_document()["keysets"]["pseudonym"]}},
        "no vault, signing, suppression key; run `tactful keys upgrade`",
    ),
    "keysets missing": ({"format": FORMAT}, "missing 'keysets'"),
    "wrong format": (
        {**valid_document(), "format": "tactful-keyring/2"},
        "not a tactful-keyring/1",
    ),
    "no format": ({"keysets": valid_document()["keysets"]}, "not a tactful-keyring/1"),
    "not an object": ([valid_document()], "not a tactful-keyring/1"),
}


@pytest.mark.parametrize(("document", "message"), BROKEN.values(), ids=BROKEN)
def test_load_refuses_malformed_keyring(tmp_path: Path, document: Any, message: str) -> None:
    path = write_keyring(tmp_path / "keyring.json", document)
    with pytest.raises(KeyringError) as caught:
        load_keyring(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("text", ["", "{", "keyring", "\x00\x01", '{"format": "tactful-keyring/1"'])
def test_load_refuses_text_that_is_not_json(tmp_path: Path, text: str) -> None:
    path = tmp_path / "keyring.json"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(KeyringError, match="cannot read keyring"):
        load_keyring(path)


def test_load_does_not_echo_key_material(tmp_path: Path) -> None:
    short = base64.b64encode(b"secret-but-short").decode()
    path = write_keyring(tmp_path / "keyring.json", with_keysets(set_material(short)))
    with pytest.raises(KeyringError) as caught:
        load_keyring(path)
    assert short not in str(caught.value)


def test_load_accepts_several_versions(tmp_path: Path) -> None:
    other = base64.b64encode(bytes(range(100, 164))).decode()  # longer keys are fine

    def rotate(keyset: dict[str, Any]) -> None:
        keyset["keys"]["2"] = {"material": other}
        keyset["primary"] = 2

    keyring = load_keyring(write_keyring(tmp_path / "keyring.json", with_keysets(rotate)))
    assert keyring.vault.primary_key() == (2, bytes(range(100, 164)))
    assert keyring.vault.key(1) == bytes(range(32))
    assert keyring.pseudonym.live_versions() == (1,)


# --- KeySet --------------------------------------------------------------------------------


def keyset(primary: int, *versions: int) -> KeySet:
    return KeySet("vault", primary, {v: bytes([v]) * 32 for v in versions})


@pytest.mark.parametrize(
    ("primary", "versions", "expected"),
    [
        (1, (1,), (1,)),
        (3, (1, 2, 3), (3, 2, 1)),
        (2, (1, 2, 3), (2, 3, 1)),
        (1, (3, 1, 2), (1, 3, 2)),
        (5, (10, 5, 7, 1), (5, 10, 7, 1)),
    ],
)
def test_live_versions_primary_first_then_newest(
    primary: int, versions: tuple[int, ...], expected: tuple[int, ...]
) -> None:
    assert keyset(primary, *versions).live_versions() == expected


def test_key_of_unknown_version_names_it() -> None:
    with pytest.raises(KeyringError, match="vault key version v9 is not in the keyring"):
        keyset(1, 1, 2).key(9)


def test_keyset_repr_hides_key_material() -> None:
    assert repr(b"\x07" * 32) not in repr(keyset(7, 7))


# --- the holdout key -------------------------------------------------------------------------


def test_a_new_keyring_has_a_holdout_key(tmp_path: Path) -> None:
    keyring = create_keyring(tmp_path / "keyring.json", now=NOW)
    assert keyring.holdout is not None
    assert keyring.holdout.primary == 1


def test_every_copy_of_a_keyring_from_before_it_gets_the_same_holdout_key(
    tmp_path: Path,
) -> None:
    """Each host upgrades its own copy (the server at start, or `tactful keys upgrade`):
    they must agree, or one person is in different arms on different servers."""
    document = valid_document()
    del document["keysets"]["holdout"]
    one = write_keyring(tmp_path / "one.json", document)
    other = write_keyring(tmp_path / "other.json", document)
    assert add_holdout_key(one, now=NOW) is True
    assert upgrade_keyring(other, now=NOW) == ["holdout"]
    first, second = load_keyring(one), load_keyring(other)
    assert first.holdout is not None and first.holdout == second.holdout
    _, key = first.holdout.primary_key()
    _, suppression = first.suppression.primary_key()
    assert key != suppression and len(key) == 32


def test_a_keyring_from_before_the_holdout_key_loads_and_gets_one_once(tmp_path: Path) -> None:
    document = valid_document()
    del document["keysets"]["holdout"]
    path = write_keyring(tmp_path / "keyring.json", document)
    assert load_keyring(path).holdout is None
    assert add_holdout_key(path, now=NOW) is True
    first = load_keyring(path).holdout
    assert first is not None
    assert add_holdout_key(path, now=NOW) is False
    assert load_keyring(path).holdout == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_holdout_key_is_never_rotated_or_retired(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    create_keyring(path, now=NOW)
    with pytest.raises(KeyringError, match="never rotated"):
        rotate_keyring(path, ["holdout"], now=NOW)
    with pytest.raises(KeyringError, match="never retired"):
        retire_version(path, "holdout", 1)
    assert "holdout" not in KEY_USES  # `tactful keys rotate` offers KEY_USES
