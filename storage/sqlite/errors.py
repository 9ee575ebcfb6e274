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
import functools
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, TypeVar

from privacy.errors import StoreBusy, StoreFull, StoreUnavailable

T = TypeVar("T", bound=type)


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


def translated(cls: T) -> T:
    """Run every public method of `cls` (and the context managers they return) inside
    `map_sqlite_errors`."""
    for name, member in list(vars(cls).items()):
        public = not name.startswith("_") or name == "__init__"  # opening a file counts
        if not public or not callable(member) or isinstance(member, type):
            continue
        setattr(cls, name, _mapped(member))
    return cls


def _mapped(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        with map_sqlite_errors():
            result = method(*args, **kwargs)
        if isinstance(result, AbstractContextManager):
            return _MappedContext(result)
        return result

    return call


class _MappedContext(AbstractContextManager[Any]):
    def __init__(self, inner: AbstractContextManager[Any]) -> None:
        self._inner = inner

    def __enter__(self) -> Any:
        with map_sqlite_errors():
            return self._inner.__enter__()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        with map_sqlite_errors():
            return self._inner.__exit__(kind, value, traceback)
