"""A batch's round trips to PostgreSQL, counted by a relay between the store and the
server: a batch waits for the server a fixed number of times, whatever its size (its
writes travel in a pipeline with the commit, its subject ids are looked up once)."""

from __future__ import annotations

import selectors
import socket
import threading
from collections.abc import Iterator

import pytest

from tests.postgres_cluster import shared_cluster
from tests.storage.postgres.conftest import migrated_database

pytest.importorskip("psycopg")

from tactful.segments.store import StoredEvent, Tracked  # noqa: E402
from tactful.storage.postgres import behavior_schema as layout  # noqa: E402
from tactful.storage.postgres.behavior import PostgresBehaviorStore  # noqa: E402
from tactful.storage.postgres.connection import Database  # noqa: E402

AT_US = 20_000 * layout.DAY_US
TRACKED = Tracked(frozenset({("viewed", "path")}), frozenset({("viewed", "path")}))


class Relay:
    """Forwards 127.0.0.1 connections to PostgreSQL and counts the times the server
    answered a client that had asked for the answers to what it had sent (a Sync, a
    Flush or a simple Query message): one per round trip, however many statements
    travelled before it. (A simple Query right after a Sync is a round trip more: the
    server answers each, and the client waits for each answer.)"""

    ASKS = frozenset(b"SHQ")

    def __init__(self, host: str, port: int) -> None:
        self.asks = 0
        self._target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._target)
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        sent = bytearray()  # the client's bytes not yet parsed into messages
        started, asked = False, False
        with selectors.DefaultSelector() as selector, client, server:
            selector.register(client, selectors.EVENT_READ, server)
            selector.register(server, selectors.EVENT_READ, client)
            while not self._closed.is_set():
                for key, _ in selector.select(timeout=0.2):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    if key.fileobj is client:
                        sent += data
                        while True:  # whole messages: untyped until the startup one
                            head = 0 if started else -1
                            if len(sent) < head + 5:
                                break
                            size = head + 1 + int.from_bytes(sent[head + 1 : head + 5], "big")
                            if len(sent) < size:
                                break
                            kind, code = sent[0], int.from_bytes(sent[4:8], "big")
                            del sent[:size]
                            if not started:  # SSL and GSS requests come before it
                                started = code not in (80877103, 80877104)
                            elif kind in self.ASKS:
                                asked = True
                    elif asked:  # the server's first bytes since the client asked
                        with self._lock:
                            self.asks += 1
                        asked = False
                    key.data.sendall(data)

    def close(self) -> None:
        self._closed.set()
        self._listener.close()


@pytest.fixture()
def relayed() -> Iterator[tuple[PostgresBehaviorStore, Relay]]:
    cluster = shared_cluster()
    url = migrated_database(layout.SCHEMA, cluster)
    relay = Relay(cluster.host, cluster.port)
    store = PostgresBehaviorStore(
        Database(url.replace(f":{cluster.port}/", f":{relay.port}/"), size=1), TRACKED
    )
    yield store, relay
    store.close()
    relay.close()


def batch_round_trips(
    store: PostgresBehaviorStore, relay: Relay, people: list[str], at_us: int
) -> int:
    """Round trips of one batch of 500 events about `people`, stored as RecordEvents
    does: suppression checked, then the events appended, in one transaction."""
    events = [
        StoredEvent(people[i % len(people)], "p", "viewed", at_us + i, {"path": f"/p/{i % 7}"})
        for i in range(500)
    ]
    encoded = store.encode(events, received_at_us=at_us + 500)
    before = relay.asks
    with store.writing() as write:
        assert write.suppressed([f"suppress-v1:{p}" for p in people]) == set()
        write.append(encoded, people)
    return relay.asks - before


def test_a_batch_about_known_people_takes_three_round_trips(
    relayed: tuple[PostgresBehaviorStore, Relay],
) -> None:
    store, relay = relayed
    people = [f"hmac-sha256:v1:person{i}" for i in range(200)]
    batch_round_trips(store, relay, people, AT_US)  # creates the people and the day
    # the transaction's start with the suppression check, the locks with the ids and the
    # partitions' check, the writes with the commit
    assert batch_round_trips(store, relay, people, AT_US + 1000) == 3


def test_new_people_cost_one_round_trip_more(
    relayed: tuple[PostgresBehaviorStore, Relay],
) -> None:
    store, relay = relayed
    batch_round_trips(store, relay, ["hmac-sha256:v1:someone"], AT_US)  # creates the day
    people = [f"hmac-sha256:v1:new{i}" for i in range(200)]
    assert batch_round_trips(store, relay, people, AT_US + 1000) == 4
