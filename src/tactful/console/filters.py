"""The access-log page's filters: read from a form or a URL, turned into a query, and
described for the console's own access record (never with the raw identifier)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from urllib.parse import urlencode

from tactful.privacy.access_log import AccessQuery, Decided
from tactful.timestamps import from_us, to_us

PAGE_SIZE = 50


@dataclass(frozen=True)
class Filters:
    since: str = ""  # ISO 8601 date or time, UTC unless it says otherwise
    until: str = ""
    principal: str = ""
    purpose: str = ""
    method: str = ""
    decision: str = ""
    subject: str = ""  # the handle of this session's subject search, never the identifier
    # Where the page stands (one of the three, in this order; none: the newest records):
    after: int | None = None  # the records just after this sequence (0: the oldest)
    at: str = ""  # a jump: the records at and before this time
    before: int | None = None  # the records just before this sequence

    def query(self, subjects: tuple[str, ...] = ()) -> AccessQuery:
        return AccessQuery(
            since_us=_time(self.since),
            until_us=_time(self.until),
            principal=self.principal,
            purpose=self.purpose,
            method=self.method,
            decision=self.decision,
            subjects=subjects,
        )

    def params(self) -> str:
        """The filters as a URL query string (empty values left out); for another
        place in the log, `filters.paged(before=...).params()`."""
        values = asdict(self)
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})

    def paged(self, *, after: int | None = None, before: int | None = None) -> Filters:
        """The same filters at another place in the log (neither: the newest records)."""
        return replace(self, after=after, at="", before=before)

    def described(self, namespace: str = "") -> str:
        """The filters for the access record: JSON, without the search handle or the
        page's place; a subject search says only its namespace."""
        values = {
            k: v for k, v in asdict(self).items() if v and k not in ("subject", "after", "before")
        }
        if namespace:
            values["namespace"] = namespace
        return json.dumps(values, sort_keys=True)


def when(time_us: int) -> str:
    """A time as every page shows it (UTC, to the second)."""
    return from_us(time_us).strftime("%Y-%m-%d %H:%M:%S")


def read_filters(raw: Mapping[str, str]) -> tuple[Filters, list[str]]:
    """The filters in `raw` (a URL's query or a form), and what is wrong with them."""
    names = {f.name for f in fields(Filters)} - {"after", "before"}
    values = {name: str(raw.get(name, "")).strip() for name in names}
    problems = []
    for name in sorted(names):  # no store may be asked for text holding U+0000
        if "\x00" in values[name]:
            problems.append(f"{name}: contains U+0000 (NUL), which no filter may hold")
            values[name] = ""
    for name in ("since", "until", "at"):
        if values[name] and _time(values[name]) is None:
            problems.append(f"{name}: {values[name]!r} is not a date or time, e.g. 2026-11-27")
            values[name] = ""
    if values["decision"] and values["decision"] not in set(Decided):
        problems.append("decision: allowed, denied, or empty for both")
        values["decision"] = ""
    return Filters(
        **values, after=_sequence(raw, "after"), before=_sequence(raw, "before")
    ), problems


def time_of(text: str) -> int:
    """A filter's time (read_filters checked it) in microseconds."""
    found = _time(text)
    assert found is not None, text
    return found


def _sequence(raw: Mapping[str, str], name: str) -> int | None:
    """A paging link's sequence; None if absent or not one (the newest page instead)."""
    text = str(raw.get(name, "")).strip()
    return int(text) if text.isdigit() and len(text) < 19 else None


def _time(text: str) -> int | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return to_us(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
