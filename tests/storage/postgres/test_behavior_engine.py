"""The PostgreSQL behavior store and subject data on their own, on fresh databases:
ingest and reads, the signal state through purges that drop day partitions, rekey
merges, and the partitions created as events arrive."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.storage.postgres.conftest import migrated_database

pytest.importorskip("psycopg")

from tactful.lifecycle.subject_requests import HeldEvent
from tactful.privacy.consent import ConsentChange  # noqa: E402
from tactful.segments.store import SignalQuery, StoredEvent, Tracked  # noqa: E402
from tactful.storage.postgres import behavior_schema as layout  # noqa: E402
from tactful.storage.postgres.behavior import PostgresBehaviorStore  # noqa: E402
from tactful.storage.postgres.connection import Database  # noqa: E402
from tactful.storage.postgres.subjects import PostgresSubjectData  # noqa: E402

DAY_US = layout.DAY_US
HOUR_US = 3_600_000_000
DAY0 = 20_000  # a UTC day number (2024-10-04)
T_US = DAY0 * DAY_US
TRACKED = Tracked(frozenset({("viewed", "path")}), frozenset({("viewed", "path")}))
ADA, BOB = "hmac-sha256:v1:ada", "hmac-sha256:v1:bob"


@dataclass
class Engine:
    url: str
    store: PostgresBehaviorStore
    data: PostgresSubjectData

    def reopen(self, tracked: Tracked = TRACKED) -> PostgresBehaviorStore:
        return PostgresBehaviorStore(Database(self.url, size=2), tracked)


@pytest.fixture()
def engine() -> Iterator[Engine]:
    url = migrated_database(layout.SCHEMA)
    found = Engine(
        url,
        PostgresBehaviorStore(Database(url, size=2), TRACKED),
        PostgresSubjectData(Database(url, size=2)),
    )
    yield found
    found.store.close()
    found.data.close()


def event(
    who: str, at_us: int, kind: str = "viewed", purpose: str = "p", **attrs: Any
) -> StoredEvent:
    return StoredEvent(who, purpose, kind, at_us, attrs)


def expected(events: list[HeldEvent], purpose: str, since_us: int) -> list[Any]:
    """What the signals say, from the events themselves."""
    mine = [e for e in events if e.purpose == purpose and e.type == "viewed"]
    with_path = [e for e in mine if "path" in e.attributes]
    latest = (
        max(with_path, key=lambda e: e.occurred_at_us).attributes["path"] if with_path else None
    )
    distinct = {e.attributes["path"] for e in with_path if e.occurred_at_us > since_us}
    return [sum(1 for e in mine if e.occurred_at_us > since_us), latest, len(distinct)]


QUERIES = [
    SignalQuery("n", "count", "viewed", None, T_US + 5 * HOUR_US + 7),
    SignalQuery("latest", "last_value", "viewed", "path"),
    SignalQuery("paths", "distinct", "viewed", "path", T_US + 5 * HOUR_US + 7),
]


def assert_state_is_the_events(engine: Engine, who: str) -> None:
    events = engine.data.events_of([who])
    assert engine.store.signal_values([who], "p", QUERIES) == expected(
        events, "p", T_US + 5 * HOUR_US + 7
    )
    _, activity = engine.store.consent_and_activity([who], "p")
    mine = [e.occurred_at_us for e in events if e.purpose == "p"]
    if not mine:
        assert activity is None
    else:
        assert activity is not None
        assert (activity.first_seen_us, activity.event_count) == (min(mine), len(mine))


def history() -> list[StoredEvent]:
    """Ada and Bob over five days: every six hours, a path that changes each day."""
    return [
        event(who, T_US + day * DAY_US + hour * HOUR_US + n, path=f"/{who[-3:]}/{day % 3}")
        for day in range(5)
        for hour in (1, 7, 13, 19)
        for n, who in enumerate((ADA, BOB))
    ]


def test_a_batch_is_stored_and_read_back(engine: Engine) -> None:
    engine.store.append(history(), received_at_us=T_US + 6 * DAY_US)
    for who in (ADA, BOB):
        assert len(engine.data.events_of([who])) == 20
        assert_state_is_the_events(engine, who)
    recent = engine.store.recent_events([ADA], "p", T_US + 4 * DAY_US)
    assert [e.occurred_at_us for e in recent] == sorted(
        (T_US + 4 * DAY_US + h * HOUR_US for h in (1, 7, 13, 19)), reverse=True
    )
    assert recent[0].attributes == {"path": "/ada/1"}
    census = engine.store.census_source(on_writer=False).census("p", QUERIES)
    assert census[ADA]["n"] == engine.store.signal_values([ADA], "p", QUERIES[:1])[0]
    assert census[BOB]["latest"] == "/bob/1"


def test_an_event_of_a_day_without_a_partition_creates_it(engine: Engine) -> None:
    old, new = T_US - 400 * DAY_US, T_US + 3 * HOUR_US
    engine.store.append([event(ADA, new)], received_at_us=new)
    engine.store.append([event(ADA, old), event(ADA, old + 1, purpose="q")], received_at_us=new)
    with engine.data._db.transaction() as conn:  # noqa: SLF001  # the layout itself
        assert layout.days_of(conn, "p") == [DAY0 - 400, DAY0]
        assert layout.days_of(conn, "q") == [DAY0 - 400]
    assert len(engine.data.events_of([ADA])) == 3


@pytest.mark.parametrize("limit", [3, 1000])
def test_a_purge_drops_whole_days_and_leaves_the_state_the_events_say(
    engine: Engine, limit: int
) -> None:
    engine.store.append(history(), received_at_us=T_US + 6 * DAY_US)
    cutoff = T_US + 2 * DAY_US + 10 * HOUR_US  # days 0 and 1 whole, day 2 straddles
    assert engine.data.count_older("p", cutoff) == 2 * 8 + 4
    first = engine.data.purge_older("p", cutoff, limit=limit)
    assert first == 16 + min(limit, 4)
    total = first
    while n := engine.data.purge_older("p", cutoff, limit=limit):
        total += n
    assert total == 20
    assert engine.data.count_older("p", cutoff) == 0
    with engine.data._db.transaction() as conn:  # noqa: SLF001
        assert layout.days_of(conn, "p") == [DAY0 + 2, DAY0 + 3, DAY0 + 4]
    for who in (ADA, BOB):
        assert min(e.occurred_at_us for e in engine.data.events_of([who])) >= cutoff
        assert_state_is_the_events(engine, who)
    # And the latest value, once its events are all gone, is recomputed from none.
    while engine.data.purge_older("p", T_US + 9 * DAY_US, limit=limit):
        pass
    assert engine.store.signal_values([ADA], "p", QUERIES) == [0, None, 0]
    assert engine.store.consent_and_activity([ADA], "p") == (False, None)


def test_a_rename_merges_two_subjects(engine: Engine) -> None:
    new = "hmac-sha256:v2:ada"
    engine.store.append(history()[:8], received_at_us=T_US)
    engine.store.append([event(new, T_US + 3 * HOUR_US, path="/new")], received_at_us=T_US)
    engine.data.rename(ADA, new)
    assert engine.data.events_of([ADA]) == []
    assert len(engine.data.events_of([new])) == 5
    assert_state_is_the_events(engine, new)
    assert engine.data.count_with_prefix("hmac-sha256:v1:") == 1  # Bob


def test_a_withdrawal_deletes_what_was_collected_under_it(engine: Engine) -> None:
    grant = ConsentChange(ADA, "p", True, "tests", T_US)
    engine.store.record_consent(grant, [ADA], [])
    engine.store.append(history(), received_at_us=T_US)
    assert engine.store.is_granted([ADA], "p")
    withdrawal = ConsentChange(ADA, "p", False, "tests", T_US + 1)
    assert engine.store.record_consent(withdrawal, [ADA], []) == 20
    assert engine.data.events_of([ADA]) == []
    assert engine.store.signal_values([ADA], "p", QUERIES) == [0, None, 0]
    assert [c.granted for c in engine.data.consent_history_of([ADA])] == [True, False]


def test_a_newly_tracked_signal_is_built_once_from_the_stored_events(engine: Engine) -> None:
    engine.store.append(history(), received_at_us=T_US)
    other = engine.reopen(Tracked(frozenset({("viewed", "path")})))
    try:
        assert other.state_changes == ["dropped distinct viewed.path"]
    finally:
        other.close()
    again = engine.reopen()
    try:
        assert again.state_changes == ["built distinct viewed.path"]
        assert again.signal_values([ADA], "p", QUERIES) == expected(
            engine.data.events_of([ADA]), "p", T_US + 5 * HOUR_US + 7
        )
    finally:
        again.close()
