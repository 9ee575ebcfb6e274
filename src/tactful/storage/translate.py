"""Translating a database driver's errors at an engine's edge (httpx's
`map_httpcore_exceptions` pattern): every public method of an engine class, and the
context managers it returns, runs inside the engine's own mapping, so a driver error
never reaches the domain or the server.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T", bound=type)
Mapping = Callable[[], AbstractContextManager[None]]


def translating(mapping: Mapping) -> Callable[[T], T]:
    """A class decorator running each public method (and `__init__`) inside `mapping()`."""

    def decorate(cls: T) -> T:
        for name, member in list(vars(cls).items()):
            public = not name.startswith("_") or name == "__init__"  # opening counts
            if not public or not callable(member) or isinstance(member, type):
                continue
            setattr(cls, name, _mapped(member, mapping))
        return cls

    return decorate


def _mapped(method: Callable[..., Any], mapping: Mapping) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        with mapping():
            result = method(*args, **kwargs)
        if isinstance(result, AbstractContextManager):
            return _MappedContext(result, mapping)
        return result

    return call


class _MappedContext(AbstractContextManager[Any]):
    def __init__(self, inner: AbstractContextManager[Any], mapping: Mapping) -> None:
        self._inner = inner
        self._mapping = mapping

    def __enter__(self) -> Any:
        with self._mapping():
            return self._inner.__enter__()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        with self._mapping():
            return self._inner.__exit__(kind, value, traceback)
