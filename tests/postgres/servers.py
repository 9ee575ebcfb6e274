"""`tactful serve` processes on one PostgreSQL database, as a deployment runs them:
each with a data folder of its own (its lock, its checkpoint file), the same
keyring and contract files, principals with known tokens (tests/conftest.py)."""

from __future__ import annotations

import os
import signal
import threading
import tomllib
from pathlib import Path

import grpc

from tactful.app.auth import hash_token
from tactful.app.config_file import load_settings
from tactful.app.settings import DEVELOPMENT_CONFIG, EXAMPLE_CONTRACT, Settings
from tactful.privacy.keyring import create_keyring
from tests.conftest import T0, serve_process, token_for


def write_config(
    folder: Path, storage_url: str, vault_url: str, *, keyring: Path, **extra: str
) -> Path:
    """A config file for one server on the shared database; `extra`: top-level TOML
    lines (key = value text)."""
    folder.mkdir(parents=True, exist_ok=True)
    if not keyring.exists():
        create_keyring(keyring, now=T0)
    development = tomllib.loads(DEVELOPMENT_CONFIG.read_text())
    lines = [
        'listen = "127.0.0.1:0"',
        f'data_dir = "{folder / "data"}"',
        f'keyring = "{keyring}"',
        f'contract = "{EXAMPLE_CONTRACT}"',
        "min_segment_size = 1",
        *(f"{k} = {v}" for k, v in extra.items()),
    ]
    for p in development["principals"]:
        lines += [
            "[[principals]]",
            f'name = "{p["name"]}"',
            f"roles = {p['roles']!r}".replace("'", '"'),
            f"purposes = {p['purposes']!r}".replace("'", '"'),
            f'token_sha256 = "{hash_token(token_for(p["name"]))}"',
        ]
    lines += ["[rate_limit]", "failed_per_minute = 100000", "failed_burst = 100000"]
    lines += ["global_failed_per_minute = 100000", "global_failed_burst = 100000"]
    if storage_url:  # else the embedded SQLite engine, in the data folder
        lines += ["[storage]", f'url = "{storage_url}"', f'vault_url = "{vault_url}"']
    config = folder / "tactful.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def settings_of(config: Path) -> Settings:
    return load_settings(config, {})


class Server:
    """One `tactful serve --config` process, started and listening. What it prints is
    read as it comes (a full pipe would stop a server that logs every call)."""

    def __init__(self, config: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TACTFUL_")}
        self.process, self.target, self.banner = serve_process(["--config", str(config)], env)
        self.channel = grpc.insecure_channel(self.target)
        self._printed: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:  # ends when the process does
            self._printed.append(line)

    def stop(self) -> str:
        self.channel.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        self._reader.join(timeout=60)
        assert self.process.stdout is not None
        self.process.stdout.close()
        return "".join(self._printed)
