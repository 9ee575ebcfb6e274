"""TACTFUL_CONFIG names the config file when no --config is given: for the loader and
for every command that reads settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tactful.app.config_file import load_settings
from tactful.app.settings import ConfigError
from tactful.cli.main import main


def config(tmp_path: Path, data_dir: str) -> Path:
    path = tmp_path / "tactful.toml"
    path.write_text(f'data_dir = "{data_dir}"\n')
    return path


def test_the_loader_reads_the_file_tactful_config_names(tmp_path: Path) -> None:
    named = config(tmp_path, "from-env")
    settings = load_settings(None, {"TACTFUL_CONFIG": str(named)})
    assert settings.data_dir == tmp_path / "from-env" and not settings.development


def test_config_wins_over_tactful_config(tmp_path: Path) -> None:
    named = config(tmp_path, "from-env")
    given = tmp_path / "given.toml"
    given.write_text('data_dir = "from-flag"\n')
    settings = load_settings(given, {"TACTFUL_CONFIG": str(named)})
    assert settings.data_dir == tmp_path / "from-flag"


def test_a_tactful_config_that_is_not_a_file_is_refused_not_replaced(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"TACTFUL_CONFIG=.*missing\.toml: no such file"):
        load_settings(None, {"TACTFUL_CONFIG": str(tmp_path / "missing.toml")})


def test_a_command_without_config_reads_tactful_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TACTFUL_CONFIG", str(config(tmp_path, "from-env")))
    monkeypatch.delenv("TACTFUL_DATA_DIR", raising=False)
    assert main(["keys", "init"]) == 0
    assert (tmp_path / "from-env" / "keyring.json").is_file()
    assert "from-env" in capsys.readouterr().out
