"""What a batch adds to the signal state an engine keeps at ingest: the rule, engine-free.

Per (pseudonym, purpose, event type): events per hour (every type is counted); per
tracked (event type, attribute), the latest value with its time (a later event wins,
and between events of the same time the later one of the batch) and each distinct
value with the time it was last seen. An engine stores the three as it likes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from tactful.segments.store import AttributeScalar, StoredEvent, Tracked

HOUR_US = 3_600_000_000

Where = tuple[str, str, str, str]  # pseudonym, purpose, event type, attribute
StateValue = str | int | float


def state_value(value: AttributeScalar) -> StateValue:
    """An attribute as the state holds it: bools as 0/1, timestamps as ISO 8601 text."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class StateDelta:
    """A batch folded: counts[(pseudonym, purpose, type, hour)] = n;
    last[where] = (at_us, value); distinct[(*where, value)] = last seen at_us."""

    counts: dict[tuple[str, str, str, int], int]
    last: dict[Where, tuple[int, StateValue]]
    distinct: dict[tuple[str, str, str, str, StateValue], int]


def fold(tracked: Tracked, events: Iterable[StoredEvent]) -> StateDelta:
    """Fold a batch, in the order it is stored, into what it adds to the state."""
    counts: dict[tuple[str, str, str, int], int] = {}
    last: dict[Where, tuple[int, StateValue]] = {}
    distinct: dict[tuple[str, str, str, str, StateValue], int] = {}
    watched = tracked.by_type
    for pseudonym, purpose, kind, at, attributes in events:
        key = (pseudonym, purpose, kind, at // HOUR_US)
        counts[key] = counts.get(key, 0) + 1
        attributes_watched = watched.get(kind)
        if not attributes_watched:
            continue
        for attribute, kinds in attributes_watched.items():
            if attribute not in attributes:
                continue
            value = state_value(attributes[attribute])
            where = (pseudonym, purpose, kind, attribute)
            if "last_value" in kinds:
                held = last.get(where)
                if held is None or at >= held[0]:
                    last[where] = (at, value)
            if "distinct" in kinds:
                seen = (*where, value)
                distinct[seen] = max(distinct.get(seen, at), at)
    return StateDelta(counts, last, distinct)
