"""Opening the embedded SQLite stores the same way everywhere."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils


def connect(path: Path) -> sqlite_utils.Database:
    """A WAL-mode database usable from the thread that serves and a writer thread.

    The file is created readable by its owner only. `secure_delete` overwrites
    deleted content, so purged or erased rows do not linger in free pages.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA secure_delete=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    return sqlite_utils.Database(conn)
