"""Progress of a long job (retention run, keys rekey) for the person or log watching.

On a terminal, a bar (tqdm) with the count, total, rate and time left. Elsewhere
(cron, journald), a plain line when a stage starts, at most one every
`every_s` while it runs (the first at once), and one when it ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Never, TextIO

from tqdm import tqdm

from tactful.lifecycle.progress import Progress


def progress_for(
    stream: TextIO,
    prefix: str,
    *,
    every_s: float = 10.0,
    clock: Callable[[], float] = time.monotonic,
) -> Progress:
    """A bar if `stream` is a terminal, else plain lines."""
    if stream.isatty():
        return TerminalProgress(stream, prefix)
    return PlainProgress(stream, prefix, every_s=every_s, clock=clock)


class TerminalProgress:
    def __init__(self, stream: TextIO, prefix: str) -> None:
        self._stream = stream
        self._prefix = prefix
        self._bar: tqdm[Never] | None = None  # a bar over no iterable

    def begin(self, task: str, total: int | None) -> None:
        self._bar = tqdm(
            total=total, desc=f"{self._prefix}: {task}", file=self._stream, dynamic_ncols=True
        )

    def advance(self, count: int) -> None:
        if self._bar is not None:
            self._bar.update(count)

    def end(self, summary: str) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        print(f"{self._prefix}: {summary}", file=self._stream, flush=True)


class PlainProgress:
    def __init__(
        self, stream: TextIO, prefix: str, *, every_s: float, clock: Callable[[], float]
    ) -> None:
        self._stream = stream
        self._prefix = prefix
        self._every = every_s
        self._clock = clock
        self._task, self._done = "", 0
        self._total: int | None = None
        self._started = self._said = 0.0

    def begin(self, task: str, total: int | None) -> None:
        self._task, self._total, self._done = task, total, 0
        self._started = self._clock()
        self._said = float("-inf")
        self._say(f"{total} to do" if total is not None else "started")

    def advance(self, count: int) -> None:
        self._done += count
        now = self._clock()
        if now - self._said >= self._every:
            self._said = now
            self._say(describe(self._done, self._total, now - self._started))

    def end(self, summary: str) -> None:
        took = self._clock() - self._started
        print(f"{self._prefix}: {summary} ({took:.1f} s)", file=self._stream, flush=True)

    def _say(self, what: str) -> None:
        print(f"{self._prefix}: {self._task}: {what}", file=self._stream, flush=True)


def describe(done: int, total: int | None, elapsed_s: float) -> str:
    """Done, of the total, the rate and the time left, in words.

    >>> describe(5000, 20000, 2.0)
    '5000 of 20000 (25 %), 2500/s, about 6 s left'
    >>> describe(700, None, 0.0)
    '700 so far'
    """
    rate = done / elapsed_s if elapsed_s > 0 else None
    if total is None:
        return f"{done} so far" + (f", {rate:.0f}/s" if rate else "")
    share = f"{done} of {total} ({100 * done // total if total else 100} %)"
    if not rate:
        return share
    return f"{share}, {rate:.0f}/s, about {_duration((total - done) / rate)} left"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
