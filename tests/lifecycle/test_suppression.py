"""Suppression holds: after `subjects erase --suppress` nothing about the person is
recorded again (events or consent), across pseudonym key rotation, rekey and
retirement, and tombstones from before the suppression key keep holding too."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import grpc
import pytest

from tactful.privacy.errors import KeyringError
from tactful.privacy.keyring import load_keyring, retire_version, rotate_keyring
from tests.conftest import T0, Tactful, email
from tests.lifecycle.test_subject_requests import (
    CANARY,
    config_for,
    count,
    erase,
    event,
    pseudonym_of,
    run,
)

OTHER = "someone.else@example.com"


def consent_rows(tactful: Tactful) -> int:
    behavior = tactful.settings.data_dir / "behavior.db"
    return count(behavior, "SELECT count(*) FROM consent") + count(
        behavior, "SELECT count(*) FROM consent_history"
    )


def assert_not_collected(tactful: Tactful) -> None:
    reply = tactful.record(
        "support_triage",
        event(email(CANARY.upper()), "page_viewed", tactful.clock.now, path="/again"),
        event(email(OTHER), "page_viewed", tactful.clock.now, path="/other"),
    )
    assert (reply.stored, reply.not_stored) == (1, 1)
    behavior = tactful.settings.data_dir / "behavior.db"
    assert count(behavior, "SELECT count(*) FROM events WHERE attributes LIKE '%/again%'") == 0
    before = consent_rows(tactful)
    with pytest.raises(grpc.RpcError) as caught:
        tactful.consent(email(CANARY), "analytics")
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION, caught.value.details()
    assert "asked not to be collected again" in caught.value.details()
    assert consent_rows(tactful) == before


def test_set_consent_after_erasure_with_suppress_is_refused_and_stores_nothing(
    tactful: Tactful,
) -> None:
    tactful.consent(email(CANARY), "analytics")
    erase(tactful, email(CANARY), suppress=True)
    assert consent_rows(tactful) == 0
    for granted in (True, False):
        with pytest.raises(grpc.RpcError) as caught:
            tactful.consent(email(CANARY.upper()), "analytics", granted=granted)
        assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert consent_rows(tactful) == 0
    tactful.consent(email(OTHER), "analytics")  # anyone else still can
    assert consent_rows(tactful) == 2


def test_without_suppress_consent_can_be_given_again(tactful: Tactful) -> None:
    erase(tactful, email(CANARY))
    tactful.consent(email(CANARY), "analytics")
    assert consent_rows(tactful) == 2


def rotate_rekey_retire(
    tactful: Tactful, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tactful.stop()
    config = str(config_for(tactful, tmp_path))
    assert run(capsys, "keys", "rotate", "--config", config)[0] == 0
    code, out, err = run(capsys, "keys", "rekey", "--config", config)
    assert code == 0, err
    assert "rekey: 1 subjects on the primary keys" in out  # the other person
    code, out, err = run(capsys, "keys", "retire", "v1", "--config", config)
    assert code == 0, err
    assert "pseudonym: v1 retired" in out
    assert 1 not in load_keyring(tactful.settings.keyring_path).pseudonym.versions
    tactful.restart()


def test_suppression_survives_rotate_rekey_and_retire(
    tactful: Tactful, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tactful.record("support_triage", event(email(CANARY), "page_viewed", T0, path="/first"))
    tactful.record("support_triage", event(email(OTHER), "page_viewed", T0, path="/first"))
    erase(tactful, email(CANARY), suppress=True)

    rotate_rekey_retire(tactful, tmp_path, capsys)

    assert pseudonym_of(tactful, CANARY).startswith("hmac-sha256:v2:")
    assert_not_collected(tactful)


def test_a_tombstone_from_before_the_suppression_key_keeps_holding(
    tactful: Tactful, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tactful.record("support_triage", event(email(OTHER), "page_viewed", T0, path="/first"))
    # As an older Tactful left it: erased, and the person's v1 pseudonym as tombstone.
    legacy = pseudonym_of(tactful, CANARY)
    erase(tactful, email(CANARY))
    tactful.stop()
    behavior = tactful.settings.data_dir / "behavior.db"
    with closing(sqlite3.connect(behavior)) as db, db:
        db.execute("INSERT INTO suppressed VALUES (?, ?)", (legacy, 1))
    tactful.restart()  # opening the domain moves it under a copy of pseudonym v1
    assert count(behavior, "SELECT count(*) FROM suppressed") == 0
    assert count(behavior, "SELECT count(*) FROM suppression_tombstones") == 1
    keyring = json.loads(tactful.settings.keyring_path.read_text())
    copied = keyring["keysets"]["suppression"]["keys"]["2"]
    assert copied["copied_from"] == "pseudonym v1"
    assert copied["material"] == keyring["keysets"]["pseudonym"]["keys"]["1"]["material"]
    assert_not_collected(tactful)

    rotate_rekey_retire(tactful, tmp_path, capsys)

    assert_not_collected(tactful)


def test_the_suppression_key_is_never_rotated_or_retired(tactful: Tactful) -> None:
    path = tactful.settings.keyring_path
    with pytest.raises(KeyringError, match="never rotated"):
        rotate_keyring(path, ["suppression"], now=T0)
    with pytest.raises(KeyringError, match="never retired"):
        retire_version(path, "suppression", 1)
    assert load_keyring(path).suppression.primary == 1


def test_an_older_keyring_gets_a_suppression_key_from_upgrade(tmp_path: Path) -> None:
    from tactful.privacy.keyring import create_keyring, upgrade_keyring

    path = tmp_path / "keyring.json"
    create_keyring(path, now=T0)
    document = json.loads(path.read_text())
    pseudonym = document["keysets"]["pseudonym"]
    del document["keysets"]["suppression"]
    path.write_text(json.dumps(document))
    with pytest.raises(KeyringError, match="no suppression key; run `tactful keys upgrade`"):
        load_keyring(path)
    assert upgrade_keyring(path, now=T0) == ["suppression"]
    upgraded = json.loads(path.read_text())
    assert upgraded["keysets"]["pseudonym"] == pseudonym
    assert (
        upgraded["keysets"]["suppression"]["keys"]["1"]["material"]
        != pseudonym["keys"]["1"]["material"]
    )


@pytest.mark.parametrize(
    ("spelled_then", "spelled_now"),
    [
        ("Jose\u0301@Example.com", "jos\u00e9@example.com"),  # NFD then, NFC now
        ("\uff4b\uff41\uff54\uff45@example.com", "kate@example.com"),  # fullwidth then
    ],
    ids=["nfd", "fullwidth"],
)
def test_a_tombstone_made_under_the_old_normalization_keeps_blocking(
    tactful: Tactful, spelled_then: str, spelled_now: str
) -> None:
    """An older Tactful normalized with strip().casefold(), and a tombstone can never be
    moved to the new rules (the person is erased). It is checked as it was made."""
    from tactful.privacy.pseudonym import Pseudonymizer

    keys = load_keyring(tactful.settings.keyring_path).pseudonym
    # As the older version recorded it: the pseudonym of its own normalized form.
    legacy = Pseudonymizer(keys).pseudonymize("email", spelled_then.strip().casefold())
    tactful.stop()
    behavior = tactful.settings.data_dir / "behavior.db"
    with closing(sqlite3.connect(behavior)) as db, db:
        db.execute("INSERT INTO suppressed VALUES (?, ?)", (legacy, 1))
    tactful.restart()  # moved under a copy of pseudonym v1, as any legacy tombstone
    reply = tactful.record(
        "support_triage", event(email(spelled_then), "page_viewed", tactful.clock.now, path="/x")
    )
    assert (reply.stored, reply.not_stored) == (0, 1)
    with pytest.raises(grpc.RpcError) as caught:
        tactful.consent(email(spelled_then), "analytics")
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    # Typed the other way: the decomposed form is found too; a fullwidth one is not (the
    # old rules kept it apart; see docs/guide/keys.md, "Upgrading to PRECIS identifiers").
    stored = tactful.record(
        "support_triage", event(email(spelled_now), "page_viewed", tactful.clock.now, path="/y")
    ).stored
    assert stored == (0 if spelled_then.startswith("Jose") else 1)


@pytest.mark.parametrize(
    ("spelled_then", "spelled_now", "refused_now"),
    [
        ("x\u00b2@example.com", "x2@example.com", True),  # the plain spelling NFKC gave it
        ("ada\u00a0lovelace@example.com", "ada lovelace@example.com", True),
        ("\u212aATE@example.com", "kate@example.com", False),
    ],
    ids=["superscript", "no-break-space", "kelvin"],
)
def test_a_tombstone_made_under_nfkc_keeps_blocking(
    tactful: Tactful,
    monkeypatch: pytest.MonkeyPatch,
    spelled_then: str,
    spelled_now: str,
    refused_now: bool,
) -> None:
    """The NFKC release erased and suppressed a person under its spelling of them; the
    tombstone cannot move, so what it blocked stays blocked (blocking the plain
    spelling too: the safe side), and the compatibility spelling is refused."""
    from tactful.privacy import pseudonym

    with monkeypatch.context() as nfkc:
        for namespace, normalizer in pseudonym._VERSION_2.items():
            nfkc.setitem(pseudonym.NORMALIZERS, namespace, normalizer)
        tactful.record("support_triage", event(email(spelled_then), "page_viewed", T0, path="/x"))
        erase(tactful, email(spelled_then), suppress=True)
    reply = tactful.record(
        "support_triage", event(email(spelled_now), "page_viewed", tactful.clock.now, path="/y")
    )
    assert (reply.stored, reply.not_stored) == (0, 1)
    with pytest.raises(grpc.RpcError) as caught:
        tactful.consent(email(spelled_now), "analytics")
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    if refused_now:
        with pytest.raises(grpc.RpcError) as caught:
            tactful.record(
                "support_triage", event(email(spelled_then), "page_viewed", T0, path="/z")
            )
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    else:
        blocked = tactful.record(
            "support_triage", event(email(spelled_then), "page_viewed", T0, path="/z")
        )
        assert (blocked.stored, blocked.not_stored) == (0, 1)
