"""Key rotation while the service answers: rotate, rekey, retire."""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from tactful.app.domain import open_domain
from tactful.cli.main import main
from tactful.lifecycle.rekey import Rekeyer
from tactful.privacy.keyring import load_keyring, rotate_keyring
from tests.cli.test_cli_audit import config_for
from tests.conftest import T0, Tactful, email, page_view

PEOPLE = [email(f"person{i}@example.com") for i in range(30)]


def prefixes(path: Path, sql: str) -> set[str]:
    with sqlite3.connect(path) as db:
        return {row[0].split(":")[1] for row in db.execute(sql)}


def test_rekey_while_a_client_reads_gives_no_wrong_or_missing_answer(tactful: Tactful) -> None:
    for person in PEOPLE:
        tactful.record("support_triage", page_view(person))
    rotate_keyring(tactful.settings.keyring_path, ["pseudonym", "vault"], now=T0)
    domain = open_domain(tactful.settings)
    done = threading.Event()

    def rekey() -> None:
        try:
            Rekeyer(
                domain.pseudonymizer, domain.vault, domain.subject_data, chunk=4, pause_s=0.005
            ).run(now=T0)
        finally:
            done.set()

    worker = threading.Thread(target=rekey)
    worker.start()
    reads = 0
    while not done.is_set() or reads < len(PEOPLE):
        person = PEOPLE[reads % len(PEOPLE)]
        assert tactful.segments(person) == ["new_visitor"], person.id
        reads += 1
    worker.join()
    domain.close()
    assert reads >= len(PEOPLE)
    data = tactful.settings.data_dir
    assert prefixes(data / "vault.db", "SELECT pseudonym FROM identities") == {"v2"}
    assert prefixes(data / "behavior.db", "SELECT pseudonym FROM subjects") == {"v2"}
    with sqlite3.connect(data / "vault.db") as vault:
        assert {v for (v,) in vault.execute("SELECT key_version FROM data_keys")} == {2}
    for person in PEOPLE:
        assert tactful.segments(person) == ["new_visitor"]


def test_rekey_merges_what_was_recorded_under_the_new_key_meanwhile(tactful: Tactful) -> None:
    ada = email("ada@example.com")
    tactful.consent(ada, "onboarding")
    tactful.record("onboarding", page_view(ada, T0 - timedelta(hours=2)), principal="web_frontend")
    rotate_keyring(tactful.settings.keyring_path, ["pseudonym"], now=T0)
    # The running server writes under v2 at once; reads find v1 and v2 alike.
    tactful.record("onboarding", page_view(ada), principal="web_frontend")
    counts = tactful.signals(ada, "onboarding", "pages_viewed_24h", principal="web_frontend")
    assert counts == {"pages_viewed_24h": 2}
    domain = open_domain(tactful.settings)
    report = Rekeyer(domain.pseudonymizer, domain.vault, domain.subject_data).run(now=T0)
    domain.close()
    assert report.moved == 1 and not report.unreadable
    assert tactful.signals(ada, "onboarding", "pages_viewed_24h", principal="web_frontend") == {
        "pages_viewed_24h": 2
    }
    tactful.clock.advance(timedelta(hours=23))  # first seen stays the oldest event, v1's
    assert tactful.segments(ada, "onboarding", "web_frontend") == ["returning_visitor"]
    with sqlite3.connect(tactful.settings.data_dir / "behavior.db") as db:
        assert db.execute("SELECT count(*) FROM subjects").fetchone()[0] == 1
        assert db.execute("SELECT granted FROM consent").fetchall() == [(1,)]


def test_a_killed_rekey_resumes(tactful: Tactful) -> None:
    tactful.record("support_triage", *(page_view(p) for p in PEOPLE[:5]))
    rotate_keyring(tactful.settings.keyring_path, ["pseudonym"], now=T0)
    domain = open_domain(tactful.settings)
    # Killed after the behavior of the first subject moved, before its vault entry did.
    first = domain.vault.outdated(limit=1)[0]
    identity = domain.vault.reveal(first)
    assert identity is not None
    new = domain.pseudonymizer.pseudonymize(identity.namespace, identity.identifier)
    domain.subject_data.rename(first, new)
    report = Rekeyer(domain.pseudonymizer, domain.vault, domain.subject_data).run(now=T0)
    domain.close()
    assert report.moved == 5
    for person in PEOPLE[:5]:
        assert tactful.segments(person) == ["new_visitor"]


def test_retire_is_refused_while_data_uses_the_version(
    tactful: Tactful, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tactful.record("support_triage", page_view(email("ada@example.com")))
    tactful.stop()
    config = str(config_for(tactful, tmp_path))
    assert main(["keys", "rotate", "--config", config]) == 0
    assert "pseudonym: v2 is now primary" in capsys.readouterr().out
    assert main(["keys", "retire", "v1", "--config", config]) == 1
    assert "still used by 1 vault entries" in capsys.readouterr().err
    assert main(["keys", "retire", "v2", "--config", config]) == 1  # the primary
    assert "primary" in capsys.readouterr().err
    assert main(["keys", "rekey", "--config", config]) == 0
    assert main(["keys", "retire", "v1", "--config", config]) == 0
    assert main(["keys", "retire", "v1", "--use", "signing", "--config", config]) == 1
    keyring = load_keyring(tactful.settings.keyring_path)
    assert keyring.pseudonym.live_versions() == (2,)
    assert keyring.vault.live_versions() == (1,)  # rotated on its own: rotate-vault
    assert keyring.signing.live_versions() == (2, 1)  # old checkpoints stay verifiable
    assert main(["audit", "verify", "--config", config]) == 0
