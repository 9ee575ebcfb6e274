"""Where the command line writes personal data (an export of a person, of the access
log): a file of mode 0600, never written through a symbolic link, never over an
existing file unless asked to (`--force`), and there only once all of it is written;
or standard output.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


class OutputRefused(Exception):
    """The output path is a symbolic link, or exists and may not be replaced."""


@contextlib.contextmanager
def output(path: Path | None, *, force: bool = False) -> Iterator[TextIO]:
    """Standard output, or a private file at `path` that appears when the block ends
    without an error (and not at all otherwise)."""
    if path is None:
        yield sys.stdout
        return
    _check(path, force)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    temporary = Path(name)  # mkstemp: O_EXCL, mode 0600
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _place(temporary, path, force)
    finally:
        temporary.unlink(missing_ok=True)


def _check(path: Path, force: bool) -> None:
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(found.st_mode):
        raise OutputRefused(f"{path} is a symbolic link; refusing to write through it")
    if not force:
        raise OutputRefused(f"{path} exists; give --force to replace it")
    if not stat.S_ISREG(found.st_mode):
        raise OutputRefused(f"{path} is not a regular file")


def _place(temporary: Path, path: Path, force: bool) -> None:
    """Move the finished file into place: a rename replaces a link, never follows it."""
    if force:
        _check(path, force)  # again: something may have appeared while writing
        os.replace(temporary, path)
        return
    try:
        os.link(temporary, path)  # fails on anything at `path`, a dangling link included
    except FileExistsError:
        raise OutputRefused(f"{path} exists; give --force to replace it") from None
