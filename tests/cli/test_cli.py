"""The `tactful` command line: help, keys, tokens, contract checks, serve refusals."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tactful.app.config_file import load_settings
from tactful.app.settings import ConfigError
from tactful.cli.main import main
from tests.conftest import Tactful

ROOT = Path(__file__).resolve().parents[2]


def test_help_explains_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in ("serve", "keys", "tokens", "contracts"):
        assert command in out


def test_console_script_is_installed() -> None:
    tactful = Path(sys.executable).parent / "tactful"
    result = subprocess.run(
        [str(tactful), "serve", "--help"], capture_output=True, text=True, check=True
    )
    assert "--listen" in result.stdout and "--config" in result.stdout


def test_keys_init_creates_a_private_keyring_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "keys" / "keyring.json"
    assert main(["keys", "init", "--keyring", str(path)]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_bytes()
    assert main(["keys", "init", "--keyring", str(path)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert path.read_bytes() == before
    assert main(["keys", "show", "--keyring", str(path)]) == 0
    out = capsys.readouterr().out
    assert "pseudonym: v1 (primary)" in out
    assert before.decode() not in out


def test_tokens_new_prints_token_and_its_hash(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tokens", "new"]) == 0
    lines = capsys.readouterr().out.splitlines()
    token = lines[0].rsplit(" ", 1)[1]
    digest = lines[1].rsplit(" ", 1)[1]
    assert token.startswith("tf_") and len(token) > 40
    assert digest == hashlib.sha256(token.encode()).hexdigest()


def test_contracts_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contracts", "check", str(ROOT / "examples" / "contract.toml")]) == 0
    broken = tmp_path / "contract.toml"
    broken.write_text(
        (ROOT / "examples" / "contract.toml")
        .read_text()
        .replace('retention = "24h"', 'retention = "a day"')
    )
    assert main(["contracts", "check", str(broken)]) == 1
    err = capsys.readouterr().err
    assert "purposes.onboarding.retention" in err and "1 problem(s)" in err


def write_config(tmp_path: Path, keyring: Path) -> Path:
    """The development configuration, moved to tmp_path with its own keyring."""
    development = (ROOT / "examples" / "development.toml").read_text()
    development = development.replace('listen = "127.0.0.1:50051"', "").replace(
        'contract = "contract.toml"', f'contract = "{ROOT / "examples" / "contract.toml"}"'
    )
    config = tmp_path / "tactful.toml"
    config.write_text(
        f'data_dir = "data"\nkeyring = "{keyring}"\nlisten = "127.0.0.1:0"\n{development}'
    )
    return config


def test_serve_refuses_a_keyring_others_can_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keyring = tmp_path / "keyring.json"
    assert main(["keys", "init", "--keyring", str(keyring)]) == 0
    os.chmod(keyring, 0o644)
    assert main(["serve", "--config", str(write_config(tmp_path, keyring))]) == 1
    assert "chmod 600" in capsys.readouterr().err


def test_serve_refuses_a_missing_keyring(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, tmp_path / "absent.json")
    assert main(["serve", "--config", str(config)]) == 1
    assert "tactful keys init" in capsys.readouterr().err


def test_serve_refuses_a_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "tactful.toml"
    config.write_text('listen = "nowhere"\n')
    assert main(["serve", "--config", str(config)]) == 1
    assert "HOST:PORT" in capsys.readouterr().err


def test_keys_upgrade_adds_the_signing_key_to_an_older_keyring(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    path = tmp_path / "keyring.json"
    assert main(["keys", "init", "--keyring", str(path)]) == 0
    document = json.loads(path.read_text())
    pseudonym_key = document["keysets"]["pseudonym"]
    del document["keysets"]["signing"]
    path.write_text(json.dumps(document))
    assert main(["keys", "show", "--keyring", str(path)]) == 1
    assert "tactful keys upgrade" in capsys.readouterr().err
    assert main(["keys", "upgrade", "--keyring", str(path)]) == 0
    assert "added signing" in capsys.readouterr().out
    upgraded = json.loads(path.read_text())
    assert upgraded["keysets"]["pseudonym"] == pseudonym_key  # existing keys untouched
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert main(["keys", "upgrade", "--keyring", str(path)]) == 0
    assert "nothing to add" in capsys.readouterr().out


def test_contracts_explain_says_what_flows_where_for_each_purpose(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tactful.privacy.contract import load_contract

    contract = load_contract(ROOT / "examples" / "contract.toml")
    assert main(["contracts", "explain"]) == 0
    out = capsys.readouterr().out
    for name, purpose in contract.purposes.items():  # every purpose, from the contract
        assert f"{name}: {purpose.description}" in out
    assert main(["contracts", "explain", "account_retention"]) == 0
    retention = capsys.readouterr().out
    assert "signals out:  none (no individual signal about a person leaves)" in retention
    assert "kept for:     90 days" in retention
    assert "legal basis:  legitimate interest" in retention
    assert main(["contracts", "explain", "agent_assist"]) == 0
    assert "released to:  agent_console" in capsys.readouterr().out
    assert main(["contracts", "explain", "marketing"]) == 1
    assert "no purpose 'marketing'" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "0.05", "101", '"1"', "true", "nan"])
def test_a_bad_thread_switch_interval_is_a_config_error(tmp_path: Path, value: str) -> None:
    config = tmp_path / "tactful.toml"
    config.write_text(f"thread_switch_ms = {value}\n")
    with pytest.raises(ConfigError, match="thread_switch_ms"):
        load_settings(config, {})


def test_the_server_sets_the_thread_switch_interval(
    start_tactful: Callable[..., Tactful],
) -> None:
    before = sys.getswitchinterval()
    try:
        start_tactful(thread_switch_ms=2.5)
        assert sys.getswitchinterval() == pytest.approx(0.0025)
        assert load_settings(None, {}).thread_switch_ms == 1.0  # the default
    finally:
        sys.setswitchinterval(before)
