"""SQLite's errors, translated at the engine's edge into the domain's.

As httpx maps httpcore's exceptions: every public method of an engine class runs
inside `map_sqlite_errors`, and so do the context managers they return, so a
`sqlite3` error never leaves the engine. Which domain error:

    sqlite3 error                                  domain error
    "database is locked" / "database table is locked"   StoreBusy
    "database or disk is full", SQLITE_FULL        StoreFull
    any other sqlite3.Error (I/O, cannot open, corrupt) StoreUnavailable

The message keeps SQLite's words; the server shows none of it to a caller.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

from tactful.privacy.errors import StoreBusy, StoreFull, StoreUnavailable
from tactful.storage.translate import translating


@contextlib.contextmanager
def map_sqlite_errors() -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise _translated(exc) from exc


def _translated(exc: sqlite3.Error) -> StoreUnavailable:
    code = getattr(exc, "sqlite_errorcode", None)
    text = str(exc)
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "is locked" in text:
        return StoreBusy(f"sqlite: {text}")
    if code == sqlite3.SQLITE_FULL or "disk is full" in text:
        return StoreFull(f"sqlite: {text}")
    return StoreUnavailable(f"sqlite: {text}")


translated = translating(map_sqlite_errors)
