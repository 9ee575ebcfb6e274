"""The README's command-line examples run in a checkout as written, or name a
deployment's config by an absolute path the README explains."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def commands() -> list[list[str]]:
    """Every `tactful …` line of the README's sh blocks, split as a shell would."""
    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    lines = [
        line.split("#")[0] for block in blocks for line in block.replace("\\\n", "").splitlines()
    ]
    return [shlex.split(line) for line in lines if line.strip().startswith("tactful ")]


def test_every_config_in_an_example_exists_or_is_a_deployments_absolute_path() -> None:
    configs = [
        argv[i + 1] for argv in commands() for i, arg in enumerate(argv) if arg == "--config"
    ]
    assert configs, "the README shows a deployment's --config somewhere"
    for config in configs:
        assert Path(config).is_absolute() or (ROOT / config).exists(), config
        if Path(config).is_absolute():
            assert f"`{config}`" in README  # and says what it is
    assert "leave out `--config`" in README or "no `--config`" in README
