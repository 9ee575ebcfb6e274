"""How a long job tells of its progress: a stage with its total, a count as it goes.

The jobs (retention, rekey) know nothing of terminals; the command line renders
this as a bar or as plain periodic lines (cli/progress.py).
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def begin(self, task: str, total: int | None) -> None:
        """A stage starts: `task` names it, `total` is how many it will count, if known."""

    def advance(self, count: int) -> None:
        """`count` more of the stage are done."""

    def end(self, summary: str) -> None:
        """The stage is over; `summary` says what it did."""


class NoProgress:
    """Tells nobody."""

    def begin(self, task: str, total: int | None) -> None:
        pass

    def advance(self, count: int) -> None:
        pass

    def end(self, summary: str) -> None:
        pass


NO_PROGRESS = NoProgress()
