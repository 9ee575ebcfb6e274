"""The round trips of a serving call's reads and of its access record, counted by the
relay of test_behavior_round_trips: a read of one statement waits for the server once
(no BEGIN and COMMIT around it), an access record twice (the transaction's start with
the lease, then the records with the commit), whatever the batch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tactful.privacy.keyring import create_keyring
from tactful.segments.store import SignalQuery, StoredEvent
from tests.conftest import T0
from tests.postgres_cluster import shared_cluster
from tests.storage.contract.test_contract_access_log import NEVER_BY_TIME, T0_US, entry
from tests.storage.postgres.conftest import migrated_database
from tests.storage.postgres.test_behavior_round_trips import AT_US, TRACKED, Relay

pytest.importorskip("psycopg")

from tactful.storage.postgres import access_log  # noqa: E402
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


def test_an_access_record_takes_two_round_trips(relays: list[Relay], tmp_path: Path) -> None:
    keys = create_keyring(tmp_path / "keyring.json", now=T0).signing
    log = access_log.PostgresAccessLog(
        Database(relayed_url(access_log.SCHEMA, relays), size=1),
        tmp_path / "checkpoints.jsonl",
        keys,
        checkpoint_every=1_000_000,
        checkpoint_seconds=NEVER_BY_TIME,
    )
    (relay,) = relays
    try:
        for i in range(1, 4):  # the first registers the chain: no round trip more
            before = relay.asks
            log.append([entry(i), entry(i + 10)], now_us=T0_US + i)
            assert relay.asks - before == 2
        assert log.verify().intact
    finally:
        log.close()


def test_a_pipelined_transaction_that_raises_keeps_nothing_and_lends_on_in_a_transaction(
    relays: list[Relay],
) -> None:
    db = Database(relayed_url(layout.SCHEMA, relays), size=1)
    try:
        with pytest.raises(RuntimeError), db.pipelined() as conn:
            conn.execute("CREATE TABLE scratch (x int)")
            conn.execute("INSERT INTO scratch VALUES (1)")
            raise RuntimeError("the caller's own failure")
        with db.transaction() as conn:  # the same connection: back out of autocommit
            assert not conn.autocommit
            assert conn.execute("SELECT to_regclass('scratch')").fetchone() == (None,)
        with db.pipelined() as conn:
            conn.execute("CREATE TABLE scratch (x int)")
        with db.read() as conn:
            assert conn.execute("SELECT to_regclass('scratch')::text").fetchone() == ("scratch",)
    finally:
        db.close()
