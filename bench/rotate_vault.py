"""How long `tactful keys rotate-vault` takes: the end of a vault key epoch.

A SQLite data folder whose vault holds S subjects (default 10,000), stored the way
the server stores them; then `tactful keys rotate-vault` runs as a separate
process, as in production, and the wall time of the command (start-up included)
and of its rotation alone (from its progress output) are printed. Never fails.

    .venv/bin/python bench/rotate_vault.py --subjects 10000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tactful.privacy.keyring import KeyringWatcher, create_keyring  # noqa: E402
from tactful.privacy.vault import Identity  # noqa: E402
from tactful.storage.sqlite.vault import open_sqlite_vault  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TACTFUL = Path(sys.executable).parent / "tactful"


def fill(data: Path, keyring: Path, subjects: int) -> None:
    watcher = KeyringWatcher(keyring)
    vault = open_sqlite_vault(data / "vault.db", watcher.keys("vault"), watcher.keys("pseudonym"))
    now = datetime.now(UTC)
    try:
        for start in range(0, subjects, 1000):
            vault.remember(
                [
                    Identity(f"hmac-sha256:v1:{i:064x}", "email", f"person{i}@example.com")
                    for i in range(start, min(start + 1000, subjects))
                ],
                now=now,
            )
    finally:
        vault.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tactful-bench-") as folder:
        root = Path(folder)
        data, keyring = root / "data", root / "keyring.json"
        create_keyring(keyring, now=datetime.now(UTC))
        fill(data, keyring, args.subjects)
        config = root / "tactful.toml"
        development = (ROOT / "examples" / "development.toml").read_text()
        development = development.replace(
            'contract = "contract.toml"', f'contract = "{ROOT / "examples" / "contract.toml"}"'
        )
        config.write_text(f'data_dir = "{data}"\nkeyring = "{keyring}"\n{development}')
        started = time.perf_counter()
        done = subprocess.run(
            [str(TACTFUL), "keys", "rotate-vault", "--config", str(config)],
            capture_output=True,
            text=True,
            check=False,
        )
        took = time.perf_counter() - started
    print(done.stdout.strip())
    if done.returncode:
        print(done.stderr.strip())
    print(
        f"rotate-vault over {args.subjects} subjects (SQLite): {took:.2f} s wall, command"
        f" start-up included ({args.subjects / took:,.0f} subjects/s)"
    )


if __name__ == "__main__":
    main()
