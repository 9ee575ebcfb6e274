"""The access-log page's place in the log: newest records first, a page at a time, by
keyset on the sequence (never OFFSET: a page deep in a log of millions costs what the
first does), newer and older, the newest and the oldest page, and a jump to a time.

A jump starts at the newest record written at or before the time by its own time, and
lists from there by sequence: the order the log was written in, which follows time
but for calls that overlapped by a few milliseconds.

A page is read on the console's store thread in one call: its records, and whether any
matching record lies beyond each end (one index step each), so that a link is shown
only where it leads somewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from tactful.console.filters import Filters, time_of
from tactful.console.sources import Sources
from tactful.privacy.access_log import AccessQuery, AccessRecord


@dataclass(frozen=True)
class Page:
    records: list[AccessRecord]  # newest first
    newer: int | None  # the sequence newer records come after, None if there are none
    older: int | None  # the sequence older records come before, None if there are none

    def links(self, filters: Filters) -> dict[str, str]:
        """The paging links' query strings ("" where there is nothing to reach)."""
        newer, older = self.newer is not None, self.older is not None
        return {
            "newest": _query(filters.paged()) if newer else "",
            "newer": _query(filters.paged(after=self.newer)) if newer else "",
            "older": _query(filters.paged(before=self.older)) if older else "",
            "oldest": _query(filters.paged(after=0)) if older else "",
        }


NO_PAGE = Page([], None, None)


def read_page(sources: Sources, query: AccessQuery, filters: Filters, size: int) -> Page:
    """The page of `size` records `filters` stand at, newest first: just after
    `filters.after` (0: the oldest page), at and before `filters.at` (the newest
    record written by then, and older), or just before `filters.before` (None: the
    newest page)."""
    if filters.after is not None:
        found = sources.records(query, after=filters.after, limit=size + 1)
        shown = found[:size][::-1]
        newer = shown[0].sequence if len(found) > size else None
        edge = shown[-1].sequence if shown else filters.after + 1
        return Page(shown, newer, _older_than(sources, query, edge))
    before = filters.before
    if filters.at:
        before = sources.sequence_at(time_of(filters.at)) + 1
    found = sources.records_before(query, before=before, limit=size + 1)
    shown = found[:size]
    older = shown[-1].sequence if len(found) > size else None
    if shown:
        return Page(shown, _newer_than(sources, query, shown[0].sequence), older)
    return Page([], None if before is None else _newer_than(sources, query, before - 1), None)


def _newer_than(sources: Sources, query: AccessQuery, sequence: int) -> int | None:
    return sequence if sources.records(query, after=sequence, limit=1) else None


def _older_than(sources: Sources, query: AccessQuery, sequence: int) -> int | None:
    return sequence if sources.records_before(query, before=sequence, limit=1) else None


def _query(filters: Filters) -> str:
    return "?" + filters.params()
