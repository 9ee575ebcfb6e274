"""Stores written under the first normalization rules (strip and casefold), brought
up to date by the rekey machinery before the server answers.

The old store is made the way it was made: by the running service, with the old
normalizers in place and the vault entries marked as written under version 1
(what the vault's schema migration marks every entry that predates it).
"""

from __future__ import annotations

import re
import sqlite3
import sys
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import grpc
import pytest

from tactful.cli.main import main
from tactful.lifecycle.rekey import Rekeyer
from tactful.lifecycle.renormalize import CASE_FOLDED, may_hold_two_spellings
from tactful.privacy import pseudonym
from tactful.privacy._precis import Refused
from tactful.privacy.keyring import KeyringWatcher, KeySet
from tactful.privacy.pseudonym import Pseudonymizer
from tactful.privacy.vault import Identity, IdentityVault
from tactful.storage.sqlite.subjects import SqliteSubjectData
from tactful.storage.sqlite.vault import open_sqlite_vault
from tactful.v1 import common_pb2
from tests.cli.test_cli_audit import config_for
from tests.conftest import T0, Tactful, email, page_view, violations
from tests.lifecycle.test_subject_requests import erase, export

NFD_JOSE = "jose\u0301@example.com"
NFC_JOSE = "jos\u00e9@example.com"
FULLWIDTH_KATE = "ＫＡＴＥ＠ｅｘａｍｐｌｅ．ｃｏｍ"
HIDDEN = "zed\u200b@example.com"
FULLWIDTH_CUSTOMER = common_pb2.SubjectRef(namespace="customer_id", id="ＣＵＳＴ-７")
SUBJECTS_BEFORE = 7  # NFD josé, NFC josé, strasse, kate, CUST-7, zed, plain


def _v1_phone(identifier: str) -> str:
    return re.sub(r"[\s().-]", "", identifier)


V1 = {
    "email": lambda i: i.strip().casefold(),
    "customer_id": str.strip,
    "device_id": lambda i: i.strip().casefold(),
    "session_id": str.strip,
    "phone": _v1_phone,
}


def record_under_the_old_rules(tactful: Tactful, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a store of the previous release holds, made by the previous rules."""
    with monkeypatch.context() as old:
        for namespace, normalizer in V1.items():
            old.setitem(pseudonym.NORMALIZERS, namespace, normalizer)
        two_hours_ago, one_hour_ago = T0 - timedelta(hours=2), T0 - timedelta(hours=1)
        tactful.record("support_triage", *[page_view(email(NFD_JOSE), two_hours_ago)] * 2)
        tactful.record("support_triage", page_view(email(NFC_JOSE.upper()), one_hour_ago))
        tactful.consent(email(NFD_JOSE), "onboarding")
        tactful.record("onboarding", *[page_view(email(NFD_JOSE))] * 3, principal="web_frontend")
        tactful.record("support_triage", page_view(email("straße@example.com"), path="/sharp"))
        tactful.record(
            "support_triage", *[page_view(email("strasse@example.com"), path="/double")] * 2
        )
        tactful.record("support_triage", page_view(email(FULLWIDTH_KATE)))
        tactful.record("support_triage", page_view(FULLWIDTH_CUSTOMER))
        tactful.record("support_triage", page_view(email(HIDDEN)))
        tactful.record("support_triage", page_view(email("plain@example.com")))
    vault_db = tactful.settings.data_dir / "vault.db"
    with sqlite3.connect(vault_db) as db:
        db.execute("UPDATE identities SET normalization = 1")
    assert sql(vault_db, "SELECT count(*) FROM identities") == [(SUBJECTS_BEFORE,)]


def sql(path: Path, statement: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(statement).fetchall()


@pytest.fixture
def old_store(tactful: Tactful, monkeypatch: pytest.MonkeyPatch) -> Tactful:
    record_under_the_old_rules(tactful, monkeypatch)
    return tactful


def paths(document: dict[str, object]) -> list[str]:
    events = document["events"]
    assert isinstance(events, list)
    return sorted(e["attributes"]["path"] for e in events if e["purpose"] == "support_triage")


def assert_migrated(tactful: Tactful) -> None:
    """Everything recorded before is found under today's spelling of it."""
    # NFC and NFD josé: one person, one subject, with everything either spelling had.
    jose = export(tactful, email(NFD_JOSE))
    assert jose["subject"]["identifier"] == NFC_JOSE
    assert len(jose["subject"]["pseudonyms"]) == 1
    assert [e["purpose"] for e in jose["events"]].count("support_triage") == 3
    assert [e["purpose"] for e in jose["events"]].count("onboarding") == 3
    assert [c["granted"] for c in jose["consent_history"]] == [True]
    # The consent and the signal state came along: the grant applies, the count is whole.
    assert tactful.signals(
        email(NFC_JOSE), "onboarding", "pages_viewed_24h", principal="web_frontend"
    ) == {"pages_viewed_24h": 3}
    # First seen is the older subject's: two hours ago is not within the last hour.
    assert tactful.segments(email(NFC_JOSE)) == ["new_visitor"]
    # Fullwidth letters stored as typed are now the ASCII subject.
    assert len(export(tactful, email("kate@example.com"))["events"]) == 1
    customer = common_pb2.SubjectRef(namespace="customer_id", id="CUST-7")
    assert len(export(tactful, customer)["events"]) == 1
    assert len(export(tactful, email("plain@example.com"))["events"]) == 1
    # What casefold merged stays merged, under the spelling that was stored: the
    # ß spelling, now a person of its own, never gets the ss spelling's events.
    assert paths(export(tactful, email("strasse@example.com"))) == ["/double", "/double", "/sharp"]
    assert export(tactful, email("straße@example.com"))["events"] == []
    data = tactful.settings.data_dir
    assert sql(data / "vault.db", "SELECT DISTINCT normalization FROM identities") == [
        (pseudonym.NORMALIZATION,)
    ]
    assert sql(data / "vault.db", "SELECT count(*) FROM identities") == [(SUBJECTS_BEFORE - 1,)]


def test_the_server_migrates_an_old_store_before_it_answers(old_store: Tactful) -> None:
    old_store.restart()
    assert [n for n in old_store._running.notices if n.startswith("identifiers:")] == [
        "identifiers: 7 subjects brought to the current normalization (3 under a new"
        " pseudonym, 1 joined with another spelling of the same identifier); 1 may hold two"
        " spellings the old case folding merged (ß/ss, ς/σ) and stay together; 1 hold a"
        " character the current rules refuse: no request can name them, and each may hold"
        " two people the old rules merged (docs/guide/keys.md: 'Upgrading to PRECIS identifiers')"
    ]
    assert_migrated(old_store)
    # An erasure typed in NFC now erases what was recorded in NFD, and nothing comes back.
    deleted = erase(old_store, email(NFC_JOSE))
    assert deleted["behavior.events"] == 6
    assert deleted["vault.identities"] == 1
    old_store.restart()
    assert not [n for n in old_store._running.notices if n.startswith("identifiers:")]
    assert export(old_store, email(NFD_JOSE))["events"] == []


class Killed(Exception):
    """The process died here."""


class DiesBeforeMove:
    """The vault of a migration killed after `survives` moves, in the middle of the next
    subject: its behavior already renamed, its vault entry not yet moved."""

    def __init__(self, vault: IdentityVault, survives: int) -> None:
        self._vault = vault
        self._left = survives

    def outdated(
        self, *, after: str = "", limit: int = 1000, normalization_only: bool = False
    ) -> list[str]:
        return self._vault.outdated(after=after, limit=limit, normalization_only=normalization_only)

    def reveal(self, pseudonym: str) -> Identity | None:
        return self._vault.reveal(pseudonym)

    def move(self, old: str, identity: Identity, *, now: datetime) -> bool:
        if self._left == 0:
            raise Killed
        self._left -= 1
        return self._vault.move(old, identity, now=now)


@pytest.fixture
def stores(
    old_store: Tactful,
) -> Iterator[Callable[[], tuple[Pseudonymizer, IdentityVault, SqliteSubjectData]]]:
    opened: list[IdentityVault | SqliteSubjectData] = []

    def open_() -> tuple[Pseudonymizer, IdentityVault, SqliteSubjectData]:
        data, keyring = old_store.settings.data_dir, KeyringWatcher(old_store.settings.keyring_path)
        vault = open_sqlite_vault(
            data / "vault.db", keyring.keys("vault"), keyring.keys("pseudonym")
        )
        subject_data = SqliteSubjectData(data / "behavior.db")
        opened.extend([vault, subject_data])
        return Pseudonymizer(keyring.keys("pseudonym")), vault, subject_data

    yield open_
    for store in opened:
        store.close()


# Six moves at least (seven when NFC josé comes before NFD josé): every place to die.
@pytest.mark.parametrize("survives", range(SUBJECTS_BEFORE - 1))
def test_a_migration_killed_halfway_finishes_at_the_next_start(
    old_store: Tactful,
    stores: Callable[[], tuple[Pseudonymizer, IdentityVault, SqliteSubjectData]],
    survives: int,
) -> None:
    pseudonymizer, vault, subject_data = stores()
    dying = Rekeyer(pseudonymizer, DiesBeforeMove(vault, survives), subject_data, chunk=2)
    with pytest.raises(Killed):
        dying.run(now=T0, normalization_only=True)
    old_store.restart()
    assert_migrated(old_store)


def test_a_command_line_request_migrates_first_and_says_so(
    old_store: Tactful, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(config_for(old_store, tmp_path))
    output = tmp_path / "export.json"
    argv = ["subjects", "export", "--namespace", "email", "--id", NFC_JOSE, "--output"]
    assert main([*argv, str(output), "--config", config]) == 0
    err = capsys.readouterr().err
    assert "tactful: identifiers: 7 subjects brought to the current normalization" in err
    assert "exported 6 events" in err
    # By pseudonym only: no identifier, in any spelling, on the operator's terminal.
    for spelling in ("strasse", "straße", "zed", "jos", "kate", "ｋａｔｅ", "CUST", "ＣＵＳＴ"):
        assert spelling.lower() not in err.lower()
    assert re.search(r"hmac-sha256:v1:[0-9a-f]{64} may hold two spellings", err)
    assert re.search(r"hmac-sha256:v1:[0-9a-f]{64} holds a character the rules refuse", err)
    assert main([*argv, str(output), "--force", "--config", config]) == 0
    assert "identifiers:" not in capsys.readouterr().err  # done once


# --- the rules the migration goes by -------------------------------------------------------


def email_today(identifier: str) -> str:
    return pseudonym.NORMALIZERS["email"](identifier)


def test_every_letter_the_old_case_folding_merged_is_accounted_for() -> None:
    """Each character whose old form normalizes today to something else than itself
    does: either it is a letter the migration counts (ß, ẞ, ς), or one of the historic
    letters it does not (polytonic Greek, Old Cyrillic variants, a sigma symbol)."""
    counted, historic = [], []
    for code_point in range(sys.maxunicode + 1):
        char = chr(code_point)
        if unicodedata.category(char) == "Cs" or not V1["email"](char):
            continue
        try:  # a character today's rules refuse is nobody's spelling any more
            today, folded = email_today(char), email_today(V1["email"](char))
        except Refused:
            continue
        if folded == today:
            continue
        if V1["email"](char) in CASE_FOLDED:
            counted.append(char)
        else:
            historic.append(code_point)
    assert counted == ["ß", "ς", "ẞ"]
    assert all(
        0x1F00 <= c <= 0x1FFF or 0x1C80 <= c <= 0x1C8F or c in (0x0345, 0x03F9) for c in historic
    ), [f"U+{c:04X}" for c in historic]


@pytest.mark.parametrize(
    ("namespace", "stored", "normalization", "expected"),
    [
        ("email", "strasse@example.de", 1, True),
        ("email", "νικοσ@example.gr", 1, True),
        ("device_id", "ss-1", 1, True),
        ("email", "ada@example.com", 1, False),
        ("customer_id", "strasse", 1, False),  # never case-folded
        ("email", "strasse@example.de", 2, False),  # today's rules keep ß apart
    ],
)
def test_which_entries_may_hold_two_spellings(
    namespace: str, stored: str, normalization: int, expected: bool
) -> None:
    identity = Identity("hmac-sha256:v1:" + "0" * 64, namespace, stored, normalization)
    assert may_hold_two_spellings(identity) is expected


def test_the_vault_marks_old_entries_outdated_and_a_move_joins(tmp_path: Path) -> None:
    keys = KeySet("vault", 1, {1: bytes(32)})
    pseudonyms = KeySet("pseudonym", 1, {1: bytes(range(32))})
    vault = open_sqlite_vault(tmp_path / "vault.db", keys, pseudonyms)
    nfc = Identity("hmac-sha256:v1:" + "a" * 64, "email", NFC_JOSE, 1)
    nfd = Identity("hmac-sha256:v1:" + "b" * 64, "email", NFD_JOSE, 1)
    vault.remember([nfd], now=T0 - timedelta(days=3))
    vault.remember([nfc], now=T0 - timedelta(days=1))
    vault.remember([Identity("hmac-sha256:v1:" + "c" * 64, "email", "new@x")], now=T0)
    assert vault.reveal(nfd.pseudonym) == nfd
    assert vault.outdated(normalization_only=True) == [nfc.pseudonym, nfd.pseudonym]
    current = replace(nfc, normalization=pseudonym.NORMALIZATION)
    assert not vault.move(nfc.pseudonym, current, now=T0)
    assert vault.move(nfd.pseudonym, current, now=T0)
    assert vault.outdated(normalization_only=True) == []
    assert vault.reveal(nfd.pseudonym) is None
    assert vault.reveal(nfc.pseudonym) == current
    # Joined, the entry is as old as the older of the two.
    assert vault.created_before(T0 - timedelta(days=2)) == [nfc.pseudonym]
    vault.close()


# --- from NFKC (rules 2) to PRECIS ---------------------------------------------------------

LINE_SEPARATED = "ada\u2028lovelace@example.com"


def record_under_nfkc(tactful: Tactful, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store of the NFKC release: `x²@` and `x2@` are one entry there."""
    with monkeypatch.context() as old:
        for namespace, normalizer in pseudonym._VERSION_2.items():
            old.setitem(pseudonym.NORMALIZERS, namespace, normalizer)
        tactful.record("support_triage", page_view(email("x\u00b2@example.com"), path="/sup"))
        tactful.record("support_triage", page_view(email("x2@example.com"), path="/two"))
        tactful.record("support_triage", page_view(email(LINE_SEPARATED)))
        tactful.record("support_triage", page_view(email(FULLWIDTH_KATE)))
    vault_db = tactful.settings.data_dir / "vault.db"
    with sqlite3.connect(vault_db) as db:
        db.execute("UPDATE identities SET normalization = 2")
    assert sql(vault_db, "SELECT count(*) FROM identities") == [(3,)]


def test_an_nfkc_store_is_moved_and_what_precis_refuses_is_reported(
    tactful: Tactful, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_under_nfkc(tactful, monkeypatch)
    tactful.restart()
    assert [n for n in tactful._running.notices if n.startswith("identifiers:")] == [
        "identifiers: 3 subjects brought to the current normalization (0 under a new"
        " pseudonym, 0 joined with another spelling of the same identifier); 1 hold a"
        " character the current rules refuse: no request can name them, and each may hold"
        " two people the old rules merged (docs/guide/keys.md: 'Upgrading to PRECIS identifiers')"
    ]
    data = tactful.settings.data_dir
    assert sql(data / "vault.db", "SELECT DISTINCT normalization FROM identities") == [
        (pseudonym.NORMALIZATION,)
    ]
    # What NFKC merged stays merged under the plain spelling: nothing tells the two
    # people's events apart, and Tactful does not guess.
    assert paths(export(tactful, email("x2@example.com"))) == ["/sup", "/two"]
    assert len(export(tactful, email("kate@example.com"))["events"]) == 1
    # The compatibility spelling is refused now, by name; so is the line separator.
    for refused, character in (("x\u00b2@example.com", "U+00B2"), (LINE_SEPARATED, "U+2028")):
        with pytest.raises(grpc.RpcError) as caught:
            export(tactful, email(refused))
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert character in str(caught.value.details()) + repr(violations(caught.value))
    tactful.restart()
    assert not [n for n in tactful._running.notices if n.startswith("identifiers:")]
