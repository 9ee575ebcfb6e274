"""The round trips of a serving call's reads, counted by the relay of
test_behavior_round_trips: a read of one statement waits for the server once (no BEGIN
and COMMIT around it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tactful.segments.store import SignalQuery, StoredEvent
from tests.postgres_cluster import shared_cluster
from tests.storage.postgres.conftest import migrated_database
from tests.storage.postgres.test_behavior_round_trips import AT_US, TRACKED, Relay

pytest.importorskip("psycopg")

from tactful.storage.postgres import behavior_schema as layout  # noqa: E402
from tactful.storage.postgres.behavior import PostgresBehaviorStore  # noqa: E402
from tactful.storage.postgres.connection import Database  # noqa: E402
from tactful.storage.postgres.schema import Schema  # noqa: E402

PEOPLE = ["hmac-sha256:v1:alice", "hmac-sha256:v2:alice"]


def relayed_url(schema: Schema, relay_of: list[Relay]) -> str:
    cluster = shared_cluster()
    url = migrated_database(schema, cluster)
    relay = Relay(cluster.host, cluster.port)
    relay_of.append(relay)
    return url.replace(f":{cluster.port}/", f":{relay.port}/")


@pytest.fixture()
def relays() -> Iterator[list[Relay]]:
    made: list[Relay] = []
    yield made
    for relay in made:
        relay.close()


@pytest.fixture()
def behavior(relays: list[Relay]) -> Iterator[PostgresBehaviorStore]:
    store = PostgresBehaviorStore(Database(relayed_url(layout.SCHEMA, relays), size=1), TRACKED)
    store.append(
        [StoredEvent(PEOPLE[0], "p", "viewed", AT_US + i, {"path": "/a"}) for i in range(3)],
        received_at_us=AT_US + 10,
    )
    yield store
    store.close()


READS = {
    "consent_and_activity": lambda s: s.consent_and_activity(PEOPLE, "p"),
    "is_granted": lambda s: s.is_granted(PEOPLE, "p"),
    "recent_events": lambda s: s.recent_events(PEOPLE, "p", 0),
    "signal_values": lambda s: s.signal_values(
        PEOPLE,
        "p",
        [SignalQuery("n", "count", "viewed"), SignalQuery("d", "distinct", "viewed", "path")],
    ),
}


@pytest.mark.parametrize("read", READS.values(), ids=READS.keys())
def test_a_serving_read_takes_one_round_trip(
    behavior: PostgresBehaviorStore, relays: list[Relay], read: object
) -> None:
    (relay,) = relays
    before = relay.asks
    read(behavior)  # type: ignore[operator]
    assert relay.asks - before == 1
