"""Make the PostgreSQL databases of the last release (tests/data/last_release/postgres/).

As make_sqlite.py, with the code of the last release (f7afa40), on two fresh
databases of a throwaway cluster (the behavior store and the vault), then dumped as
plain SQL (behavior.sql, vault.sql) that any client can run into empty databases:

    git archive f7afa40 | (mkdir /tmp/last-release && tar -x -C /tmp/last-release)
    .venv/bin/python tests/data/last_release/make_postgres.py /tmp/last-release \\
        tests/data/last_release/postgres

The folder keeps the config (the URLs come from TACTFUL_STORAGE_URL and
TACTFUL_VAULT_URL), the keyring and the access-log checkpoints of the one server.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from make_sqlite import make


def main(old: Path, out: Path) -> None:
    sys.path[:0] = [str(old.resolve())]
    from tests.postgres_cluster import binaries, fresh_database, throwaway_cluster

    with throwaway_cluster() as cluster:
        urls = {name: fresh_database(cluster, name) for name in ("behavior", "vault")}
        storage = {"TACTFUL_STORAGE_URL": urls["behavior"], "TACTFUL_VAULT_URL": urls["vault"]}
        make(old, out, storage)
        for name, url in urls.items():
            (out / f"{name}.sql").write_text(_dump(binaries(), url))
    (out / "data" / "serve.lock").unlink(missing_ok=True)


def _dump(bin_dir: Path | None, url: str) -> str:
    """Plain SQL without owners or grants; psql's meta-commands (\\restrict) are left
    out so that a driver can run it whole."""
    dumped = subprocess.run(
        [str((bin_dir or Path("/usr/bin")) / "pg_dump"), "--no-owner", "--no-privileges"]
        + ["--inserts", "--dbname", url],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return "".join(
        line for line in dumped.stdout.splitlines(keepends=True) if not line.startswith("\\")
    )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
