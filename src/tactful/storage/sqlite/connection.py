"""Opening the embedded SQLite stores the same way everywhere."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
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


_ROWS = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def rows_param(rows: Sequence[Sequence[object]]) -> str:
    """`rows` as one JSON parameter for a statement that reads them with `from_rows`.

    One statement for a whole batch, where `executemany` releases and re-takes the
    GIL for every row: with another thread busy (the event loop), each re-take waits
    for it, and 500 rows took 1.7 s instead of 7 ms (`bench/` notes in
    docs/benchmarks-history.md). Values: str, int, float, None (no bytes)."""
    return _ROWS(rows)


def from_rows(columns: int) -> str:
    """`SELECT` of the rows of `rows_param`, for INSERT ... SELECT (upserts included)."""
    picked = ", ".join(f"value->>{i}" for i in range(columns))
    return f"SELECT {picked} FROM json_each(?) WHERE true"
