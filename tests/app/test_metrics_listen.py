"""The metrics listener is plain HTTP: off the loopback only with allow_insecure, the
rule of the gRPC listener without [tls]."""

from __future__ import annotations

from pathlib import Path

import pytest

from tactful.app.config_file import load_settings
from tactful.app.settings import ConfigError
from tactful.cli.main import main


def _config(tmp_path: Path, listen: str, *top: str) -> Path:
    config = tmp_path / "tactful.toml"
    config.write_text("\n".join([*top, "[metrics]", f'listen = "{listen}"', ""]))
    return config


@pytest.mark.parametrize("listen", ["0.0.0.0:9464", "[::]:9464", "192.0.2.7:9464"])
def test_metrics_off_the_loopback_are_refused_without_allow_insecure(
    tmp_path: Path, listen: str
) -> None:
    with pytest.raises(ConfigError, match="metrics.listen: .* is not a loopback address"):
        load_settings(_config(tmp_path, listen), {})
    allowed = load_settings(_config(tmp_path, listen, "allow_insecure = true"), {})
    assert allowed.metrics_listen == listen


@pytest.mark.parametrize("listen", ["127.0.0.1:9464", "[::1]:9464", "localhost:9464"])
def test_metrics_on_the_loopback_need_nothing(tmp_path: Path, listen: str) -> None:
    assert load_settings(_config(tmp_path, listen), {}).metrics_listen == listen


def test_tactful_serve_stops_before_serving_metrics_in_plaintext_on_every_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, "0.0.0.0:0", f'data_dir = "{tmp_path / "data"}"')
    assert main(["serve", "--config", str(config)]) == 1
    assert "metrics.listen: 0.0.0.0 is not a loopback address" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()
