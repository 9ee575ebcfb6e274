"""The engine table (app/stores.py): the storage URL's scheme picks the engine, whose
module is imported only then, so that SQLite runs where the PostgreSQL driver is
not installed, and a PostgreSQL URL without it is refused in one line."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tactful.app import stores

WITHOUT_THE_DRIVER = """
import sys
sys.modules["psycopg"] = sys.modules["psycopg_pool"] = None  # as if not installed
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tactful.app import stores
from tactful.app.settings import ConfigError, Settings
settings = Settings(data_dir=Path(sys.argv[1]))
stores.open_budget_ledger(settings).close()
print(stores.describe(settings))
try:
    stores.engine_of(Settings(data_dir=Path(sys.argv[1]), storage_url="postgresql://t@db/t"))
except ConfigError as exc:
    print(exc)
"""


def test_sqlite_needs_no_postgresql_driver_and_postgresql_names_its_extra(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_THE_DRIVER, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    described, refused = done.stdout.splitlines()
    assert described == f"data in {tmp_path}"
    assert refused.startswith("[storage] url names PostgreSQL, but its driver is missing")
    assert refused.endswith("pip install 'tactful[server,postgres]'")


def test_every_scheme_the_settings_accept_has_an_engine() -> None:
    assert {"", "postgresql", "postgres"} <= stores.ENGINES.keys()


def test_a_log_with_one_checkpoint_file_gives_the_trivial_answers(tmp_path: Path) -> None:
    """What `tactful audit verify` asks of a log shared by servers, asked of SQLite's."""
    from tactful.app.settings import Settings
    from tactful.privacy.keyring import create_keyring

    settings = Settings(data_dir=tmp_path)
    keyring = create_keyring(settings.keyring_path, now=datetime.now(UTC))
    log = stores.open_access_log(settings, keyring.signing)
    try:
        assert log.verify(files=()).intact
        assert log.unchecked_signers([tmp_path / "elsewhere.checkpoints"]) == []
        with pytest.raises(ValueError, match="one checkpoint file"):
            log.verify(files=[tmp_path / "elsewhere.checkpoints"])
    finally:
        log.close()
