"""Two connections racing (two Database objects: two servers, for PostgreSQL): a batch
and a concurrent withdrawal, suppression or erasure never interleave. The other writer
starts while the batch is between its check and its write, and is given every chance
to finish there; it must wait for the batch's commit, and then undo what it stored."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from tests.storage.postgres.conftest import migrated_database

pytest.importorskip("psycopg")

from tactful.privacy.consent import ConsentChange  # noqa: E402
from tactful.segments.store import StoredEvent  # noqa: E402
from tactful.storage.postgres import behavior_schema as layout  # noqa: E402
from tactful.storage.postgres.behavior import PostgresBehaviorStore  # noqa: E402
from tactful.storage.postgres.connection import Database  # noqa: E402
from tactful.storage.postgres.subjects import PostgresSubjectData  # noqa: E402

ADA, TOMBSTONE = "hmac-sha256:v1:ada", "suppress-v1:ada"
AT_US = 20_000 * layout.DAY_US
WINDOW_S = 0.5  # how long the batch holds its check open for the other writer


@pytest.fixture()
def url() -> str:
    return migrated_database(layout.SCHEMA)


@pytest.fixture()
def store(url: str) -> Iterator[PostgresBehaviorStore]:
    opened = PostgresBehaviorStore(Database(url, size=2))
    opened.record_consent(ConsentChange(ADA, "p", True, "tests", AT_US), [ADA], [])
    yield opened
    opened.close()


def batch_racing(store: PostgresBehaviorStore, other: Callable[[], None]) -> bool:
    """Store one event for Ada, checking suppression and consent first; `other` starts
    between check and write. Whether `other` finished in between."""
    encoded = store.encode([StoredEvent(ADA, "p", "viewed", AT_US, {})], received_at_us=AT_US)
    done, failures = threading.Event(), []

    def run() -> None:
        try:
            other()
        except BaseException as exc:  # reported below, not lost in the thread
            failures.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=run)
    with store.writing() as write:
        assert write.suppressed([TOMBSTONE]) == set()
        assert write.consenting([ADA], "p") == {ADA}
        thread.start()
        finished_in_between = done.wait(WINDOW_S)
        write.append(encoded, [ADA])
    thread.join(timeout=30)
    assert not thread.is_alive() and failures == []
    return finished_in_between


def test_a_withdrawal_waits_for_the_batch_that_read_the_consent(
    url: str, store: PostgresBehaviorStore
) -> None:
    elsewhere = PostgresBehaviorStore(Database(url, size=2))
    try:
        change = ConsentChange(ADA, "p", False, "tests", AT_US + 1)
        assert not batch_racing(store, lambda: elsewhere.record_consent(change, [ADA], []))
    finally:
        elsewhere.close()
    data = PostgresSubjectData(Database(url, size=1))
    try:
        assert data.events_of([ADA]) == []  # the withdrawal came after, and deleted it
    finally:
        data.close()


def test_an_erasure_with_suppression_waits_for_the_batch_that_checked(
    url: str, store: PostgresBehaviorStore
) -> None:
    data = PostgresSubjectData(Database(url, size=2))
    try:

        def erase_suppressed() -> None:
            data.suppress(TOMBSTONE, at_us=AT_US)
            data.erase([ADA])

        assert not batch_racing(store, erase_suppressed)
        assert data.events_of([ADA]) == []
        with store.writing() as write:  # from now on, suppressed
            assert write.suppressed([TOMBSTONE]) == {TOMBSTONE}
    finally:
        data.close()


def test_an_erasure_waits_for_a_batch_storing_for_the_person(
    url: str, store: PostgresBehaviorStore
) -> None:
    data = PostgresSubjectData(Database(url, size=2))
    encoded = store.encode([StoredEvent(ADA, "p", "viewed", AT_US, {})], received_at_us=AT_US)
    erased = threading.Event()
    thread = threading.Thread(target=lambda: (data.erase([ADA]), erased.set()))
    try:
        with store.writing() as write:
            write.append(encoded, [ADA])
            thread.start()
            assert not erased.wait(WINDOW_S)  # held until the batch commits
        thread.join(timeout=30)
        assert erased.is_set() and data.events_of([ADA]) == []
    finally:
        data.close()


def test_batches_about_other_people_do_not_wait_for_a_withdrawal(
    url: str, store: PostgresBehaviorStore
) -> None:
    """The locks are per person (hashed in stripes), not one for the whole store."""
    bob = next(f"hmac-sha256:v1:bob{i}" for i in range(1000)
               if layout.stripes(layout.SUBJECT, [f"hmac-sha256:v1:bob{i}"])
               != layout.stripes(layout.SUBJECT, [ADA]))  # fmt: skip
    elsewhere = PostgresBehaviorStore(Database(url, size=2))
    try:
        stored = threading.Event()
        with store.writing() as write:
            assert write.consenting([ADA], "p") == {ADA}
            encoded = elsewhere.encode(
                [StoredEvent(bob, "p", "viewed", AT_US, {})], received_at_us=AT_US
            )
            thread = threading.Thread(
                target=lambda: (elsewhere.append([StoredEvent(bob, "p", "viewed", AT_US, {})],
                                                 received_at_us=AT_US), stored.set())
            )  # fmt: skip
            thread.start()
            assert stored.wait(30)  # while Ada's batch is still open
            write.append(encoded, [])
        thread.join(timeout=30)
    finally:
        elsewhere.close()


def test_two_batches_needing_the_same_new_day_create_it_once(url: str) -> None:
    first = PostgresBehaviorStore(Database(url, size=2))
    second = PostgresBehaviorStore(Database(url, size=2))
    day = AT_US + 30 * layout.DAY_US  # no partition yet
    failures: list[BaseException] = []

    def run() -> None:
        try:
            second.append([StoredEvent("hmac-sha256:v1:bob", "p", "viewed", day, {})],
                          received_at_us=day)  # fmt: skip
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=run)
    try:
        with first.writing() as write:
            write.append(
                first.encode([StoredEvent(ADA, "p", "viewed", day, {})], received_at_us=day),
                [ADA],
            )
            thread.start()  # it finds the day missing, and waits for this one to create it
            thread.join(timeout=WINDOW_S)
        thread.join(timeout=30)
        assert failures == []
    finally:
        first.close()
        second.close()
    data = PostgresSubjectData(Database(url, size=1))
    try:
        assert len(data.events_of([ADA, "hmac-sha256:v1:bob"])) == 2
    finally:
        data.close()
