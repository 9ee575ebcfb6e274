"""The access-log page's filters: read from a form or a URL, turned into a query, and
described for the console's own access record (never with the raw identifier)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
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
    after: int = 0  # paging: records after this sequence

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
        """The filters as a URL query string (empty values left out); for other filters,
        `replace(filters, after=...).params()`."""
        values = asdict(self)
        return urlencode({k: v for k, v in values.items() if v})

    def described(self, namespace: str = "") -> str:
        """The filters for the access record: JSON, without the search handle; a
        subject search says only its namespace."""
        values = {k: v for k, v in asdict(self).items() if v and k not in ("subject", "after")}
        if namespace:
            values["namespace"] = namespace
        return json.dumps(values, sort_keys=True)


def when(time_us: int) -> str:
    """A time as every page shows it (UTC, to the second)."""
    return from_us(time_us).strftime("%Y-%m-%d %H:%M:%S")


def read_filters(raw: Mapping[str, str]) -> tuple[Filters, list[str]]:
    """The filters in `raw` (a URL's query or a form), and what is wrong with them."""
    names = {f.name for f in fields(Filters)} - {"after"}
    values = {name: str(raw.get(name, "")).strip() for name in names}
    problems = []
    for name in sorted(names):  # no store may be asked for text holding U+0000
        if "\x00" in values[name]:
            problems.append(f"{name}: contains U+0000 (NUL), which no filter may hold")
            values[name] = ""
    for name in ("since", "until"):
        if values[name] and _time(values[name]) is None:
            problems.append(f"{name}: {values[name]!r} is not a date or time, e.g. 2026-11-27")
            values[name] = ""
    if values["decision"] and values["decision"] not in set(Decided):
        problems.append("decision: allowed, denied, or empty for both")
        values["decision"] = ""
    after_text = str(raw.get("after", "0")).strip() or "0"
    after = int(after_text) if after_text.isdigit() and len(after_text) < 19 else 0
    return Filters(**values, after=after), problems


def _time(text: str) -> int | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return to_us(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
