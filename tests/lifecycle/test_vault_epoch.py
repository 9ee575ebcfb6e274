"""The vault key epoch from the outside: `tactful keys rotate-vault`, the schedule
`tactful serve` runs (`[vault] epoch`), and the keys it leaves alone.

What the rotation achieves against an attacker holding the disk, the WAL and a
backup is tested on every engine in tests/storage/contract/test_contract_vault_epoch.py.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tactful.app.config_file import load_settings
from tactful.app.settings import ConfigError
from tactful.app.vault_rotation import VaultEpochSchedule
from tactful.cli.main import main
from tactful.privacy.access_log import decode
from tactful.privacy.keyring import load_keyring, rotate_keyring
from tests.cli.test_cli_audit import config_for
from tests.conftest import Tactful, email, page_view
from tests.lifecycle.test_subject_requests import erase, export

PEOPLE = [f"person{i}@example.com" for i in range(7)]


@pytest.fixture
def config(tactful: Tactful, tmp_path: Path) -> str:
    for person in PEOPLE:
        tactful.record("support_triage", page_view(email(person)))
    erase(tactful, email(PEOPLE[0]))  # through the service
    assert export(tactful, email(PEOPLE[0]))["subject"]["identifier"] is None  # at once
    tactful.stop()
    return str(config_for(tactful, tmp_path))


def _records(tactful: Tactful) -> list[tuple[str, dict[str, object]]]:
    path = tactful.settings.data_dir / "access_log.db"
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT content FROM records ORDER BY sequence").fetchall()
    entries = [decode(content)[1] for (content,) in rows]
    return [
        (e.method, json.loads(e.reason)) for e in entries if e.method.startswith("tactful.cli/")
    ]


def test_rotate_vault_rewraps_every_data_key_destroys_the_old_key_and_records_both(
    tactful: Tactful, config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "rotate-vault", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "rotate-vault: vault key v2 wraps every data key (6 re-wrapped); destroyed: v1" in out
    assert load_keyring(tactful.settings.keyring_path).vault.live_versions() == (2,)
    keyring = str(tactful.settings.keyring_path)
    assert _records(tactful) == [
        ("tactful.cli/keys.rotate-vault", {"keyring": keyring, "primary": 2, "use": "vault"}),
        (
            "tactful.cli/keys.retire",
            {"by": "rotate-vault", "keyring": keyring, "use": "vault", "version": 1},
        ),
    ]
    assert main(["keys", "rotate-vault", "--config", config]) == 0  # the next epoch
    assert "vault key v3 wraps every data key (6 re-wrapped); destroyed: v2" in (
        capsys.readouterr().out
    )
    assert main(["audit", "verify", "--config", config]) == 0
    tactful.restart()
    for person in PEOPLE[1:]:  # still revealed, through the service
        assert export(tactful, email(person))["subject"]["identifier"] == person
    assert export(tactful, email(PEOPLE[0]))["subject"]["identifier"] is None


def test_keys_rotate_leaves_the_vault_key_to_rotate_vault(
    tactful: Tactful, config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "rotate", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "pseudonym: v2 is now primary" in out and "signing: v2 is now primary" in out
    assert "vault" not in out
    keyring = load_keyring(tactful.settings.keyring_path)
    assert keyring.vault.live_versions() == (1,)
    with pytest.raises(SystemExit):  # not a choice: its epochs end by rotate-vault
        main(["keys", "rotate", "--use", "vault", "--config", config])


def _vault_versions(path: Path) -> tuple[int, ...]:
    return load_keyring(path).vault.live_versions()


def _eventually(check: object, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("never happened")


def test_the_schedule_rotates_when_the_epoch_has_ended_and_not_before(
    tactful: Tactful, config: str
) -> None:
    settings = replace(tactful.settings, vault_epoch_hours=24.0)
    path = settings.keyring_path
    # The keyring was made days ago (tests' T0): its epoch is over, a start rotates.
    schedule = VaultEpochSchedule(settings)
    schedule.start()
    try:
        _eventually(lambda: _vault_versions(path) == (2,))
    finally:
        schedule.close()
    # A vault key made just now lasts its epoch: nothing happens meanwhile.
    schedule = VaultEpochSchedule(settings)
    schedule.start()
    time.sleep(1.0)
    schedule.close()
    assert _vault_versions(path) == (2,)
    # 0 turns the schedule off, however old the key.
    rotate_keyring(path, ["vault"], now=datetime(2020, 1, 1, tzinfo=UTC))
    off = VaultEpochSchedule(replace(settings, vault_epoch_hours=0.0))
    off.start()
    time.sleep(0.5)
    off.close()
    assert _vault_versions(path) == (3, 2)


def test_a_rotation_cut_short_is_completed_as_the_server_starts(
    tactful: Tactful, config: str
) -> None:
    """Its new key is fresh, but the key it was to destroy is as old as ever: the
    schedule counts from that one, or an erasure's window would double."""
    path = tactful.settings.keyring_path
    rotate_keyring(path, ["vault"], now=datetime.now(UTC))  # then the process died
    schedule = VaultEpochSchedule(replace(tactful.settings, vault_epoch_hours=24.0))
    schedule.start()
    try:
        _eventually(lambda: _vault_versions(path) == (3,))
    finally:
        schedule.close()


def test_a_key_the_schedule_cannot_destroy_is_not_rotated_again_and_again(
    tactful: Tactful, config: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A damaged data key keeps its vault key alive (it does not open, so it cannot be
    re-wrapped): the schedule says so and waits an epoch instead of rotating at once
    again, which the old key's age would otherwise ask for."""
    with sqlite3.connect(tactful.settings.data_dir / "vault.db") as db:
        db.execute(
            "UPDATE data_keys SET sealed_key = zeroblob(60)"
            " WHERE rowid = (SELECT min(rowid) FROM data_keys)"
        )
    path = tactful.settings.keyring_path
    schedule = VaultEpochSchedule(replace(tactful.settings, vault_epoch_hours=24.0))
    with caplog.at_level(logging.WARNING, logger="tactful.server"):
        schedule.start()
        try:
            _eventually(lambda: _vault_versions(path) == (2, 1))
            time.sleep(1.5)
        finally:
            schedule.close()
    assert _vault_versions(path) == (2, 1)
    assert "kept v1: 1 data keys under it do not open" in caplog.text


def test_a_stopping_server_ends_its_rotation_between_two_chunks(
    tactful: Tactful, config: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tactful.app import vault_rotation

    entered = threading.Event()
    real = vault_rotation.rotate_vault

    def slow(*args: object, **kwargs: object) -> object:
        between = kwargs["between_chunks"]

        def pause(_: float) -> None:
            entered.set()
            between(5.0)  # type: ignore[operator]

        kwargs["between_chunks"] = pause
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(vault_rotation, "rotate_vault", slow)
    schedule = VaultEpochSchedule(replace(tactful.settings, vault_epoch_hours=24.0))
    schedule.start()
    assert entered.wait(20)
    started = time.monotonic()
    schedule.close()
    assert time.monotonic() - started < 2
    # Cut short after its first chunk: both versions kept, the next run completes it.
    assert _vault_versions(tactful.settings.keyring_path) == (2, 1)


@pytest.mark.parametrize(("value", "hours"), [("24", 24.0), ("0", 0.0), ("0.5", 0.5), (None, 24.0)])
def test_the_epoch_is_read_in_hours(tmp_path: Path, value: str | None, hours: float) -> None:
    config = tmp_path / "tactful.toml"
    config.write_text("" if value is None else f"[vault]\nepoch = {value}\n")
    assert load_settings(config, {}).vault_epoch_hours == hours


@pytest.mark.parametrize("value", ["-1", "0.001", "9000", '"24h"', "true"])
def test_an_epoch_out_of_range_is_refused(tmp_path: Path, value: str) -> None:
    config = tmp_path / "tactful.toml"
    config.write_text(f"[vault]\nepoch = {value}\n")
    with pytest.raises(ConfigError, match="vault.epoch must be 0 .off. or hours from 1/60 to"):
        load_settings(config, {})


def test_tactful_serve_ends_an_epoch_that_is_over_as_it_starts(tmp_path: Path) -> None:
    """The schedule is wired into `tactful serve`: a keyring whose vault key is older
    than `[vault] epoch` is rotated by the running server."""
    import os
    import signal

    from tactful.privacy.keyring import create_keyring
    from tests.cli.test_cli_records import ROOT
    from tests.conftest import serve_process

    keyring = tmp_path / "keyring.json"
    create_keyring(keyring, now=datetime(2020, 1, 1, tzinfo=UTC))
    development = (ROOT / "examples" / "development.toml").read_text()
    development = (
        development.replace('listen = "127.0.0.1:50051"', "")
        .replace(
            'contract = "contract.toml"', f'contract = "{ROOT / "examples" / "contract.toml"}"'
        )
        .replace('listen = "127.0.0.1:9464"', 'listen = "127.0.0.1:0"')  # metrics: any free port
    )
    config = tmp_path / "tactful.toml"
    config.write_text(
        f'data_dir = "data"\nkeyring = "{keyring}"\nlisten = "127.0.0.1:0"\n{development}\n'
        "[vault]\nepoch = 1\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TACTFUL_")}
    process, _, _ = serve_process(["--config", str(config)], env)
    try:
        _eventually(lambda: _vault_versions(keyring) == (2,))
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0


def test_a_server_whose_keyring_copy_is_behind_answers_unavailable_and_says_why(
    tactful: Tactful, config: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two hosts, a copy of the keyring each: one rotated. The other serves on, but a
    new person is refused with UNAVAILABLE and the reason (and a log line) until the
    current keyring is installed there; nothing is sealed under the destroyed key."""
    import grpc

    copy = tmp_path / "host-b-keyring.json"
    shutil.copy2(tactful.settings.keyring_path, copy)
    assert main(["keys", "rotate-vault", "--config", config]) == 0  # on host A
    tactful.settings = replace(tactful.settings, keyring=copy)  # host B
    with caplog.at_level(logging.WARNING, logger="tactful.vault"):
        tactful.restart()
        tactful.record("support_triage", page_view(email(PEOPLE[1])))  # known: nothing to seal
        with pytest.raises(grpc.RpcError) as refused:
            tactful.record("support_triage", page_view(email("newcomer@example.com")))
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    behind = (
        "this host's keyring is behind the vault's key epochs (v2 in the database, v1 here):"
        " install the current keyring file on this host"
    )
    assert refused.value.details() == behind
    assert f"new people are not stored: {behind}" in caplog.text
    shutil.copy2(tactful.settings.data_dir / "keyring.json", copy)  # the current keyring
    with caplog.at_level(logging.WARNING, logger="tactful.vault"):
        tactful.record("support_triage", page_view(email("newcomer@example.com")))
    assert "new people are stored again, under vault key v2" in caplog.text
    assert export(tactful, email("newcomer@example.com"))["subject"]["identifier"] == (
        "newcomer@example.com"
    )
    with sqlite3.connect(tactful.settings.data_dir / "vault.db") as db:
        versions = db.execute("SELECT DISTINCT key_version FROM data_keys").fetchall()
    assert versions == [(2,)]
