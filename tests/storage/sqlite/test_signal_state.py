"""Signal state maintained at ingest (storage/sqlite/signals.py).

Every read is checked against the same question asked of the raw events (the
reference below), through random histories, windows, purges, erasures,
withdrawals, rekeys and contract changes; and the cost of a read is measured in
SQLite virtual-machine steps, which do not grow with the length of the history.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tactful.privacy.consent import ConsentChange
from tactful.segments.store import SignalQuery, StoredEvent, Tracked
from tactful.storage.sqlite import signals as sqlite_signals
from tactful.storage.sqlite.behavior import SqliteBehaviorStore
from tactful.storage.sqlite.signals import HOUR_US
from tactful.storage.sqlite.subjects import SqliteSubjectData
from tests.conftest import count_events, distinct_values, last_attribute

PEOPLE = ("hmac-sha256:v1:" + "a" * 64, "hmac-sha256:v1:" + "b" * 64)
ADA, BOB = PEOPLE
TYPES = ("page_viewed", "error_shown")
PURPOSES = ("support_triage", "agent_assist")
TRACKED = Tracked(
    last_value=frozenset({("error_shown", "error_code"), ("page_viewed", "path")}),
    distinct=frozenset({("page_viewed", "path")}),
)
START = 1_800_000_000_000_000  # µs; 2027-01-15


def reference_count(db: Path, pseudonym: str, purpose: str, event_type: str, since: int) -> int:
    with _raw(db) as conn:
        row = conn.execute(
            "SELECT count(*) FROM events e JOIN subjects s ON s.id = e.subject_id"
            " WHERE s.pseudonym = ? AND purpose = ? AND type = ? AND occurred_at_us > ?",
            (pseudonym, purpose, event_type, since),
        ).fetchone()
    return int(row[0])


def reference_last(
    db: Path, pseudonym: str, purpose: str, event_type: str, attribute: str
) -> object:
    with _raw(db) as conn:
        row = conn.execute(
            "SELECT json_extract(attributes, ?) FROM events e JOIN subjects s"
            " ON s.id = e.subject_id WHERE s.pseudonym = ? AND purpose = ? AND type = ?"
            " AND json_type(attributes, ?) IS NOT NULL ORDER BY occurred_at_us DESC, e.id DESC",
            (f"$.{attribute}", pseudonym, purpose, event_type, f"$.{attribute}"),
        ).fetchone()
    return None if row is None else row[0]


def reference_distinct(
    db: Path, pseudonym: str, purpose: str, event_type: str, attribute: str, since: int
) -> int:
    with _raw(db) as conn:
        row = conn.execute(
            "SELECT count(DISTINCT json_extract(attributes, ?)) FROM events e JOIN subjects s"
            " ON s.id = e.subject_id WHERE s.pseudonym = ? AND purpose = ? AND type = ?"
            " AND occurred_at_us > ?",
            (f"$.{attribute}", pseudonym, purpose, event_type, since),
        ).fetchone()
    return int(row[0])


@contextmanager
def _raw(db: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(db)
    try:
        yield conn
    finally:
        conn.close()


def assert_matches_events(store: SqliteBehaviorStore, db: Path, moments: list[int]) -> None:
    for pseudonym in PEOPLE:
        for purpose in PURPOSES:
            for event_type in TYPES:
                for since in moments:
                    assert count_events(store, [pseudonym], purpose, event_type, since) == (
                        reference_count(db, pseudonym, purpose, event_type, since)
                    ), (pseudonym, purpose, event_type, since)
            assert last_attribute(store, [pseudonym], purpose, "page_viewed", "path") == (
                reference_last(db, pseudonym, purpose, "page_viewed", "path")
            )
            assert last_attribute(store, [pseudonym], purpose, "error_shown", "error_code") == (
                reference_last(db, pseudonym, purpose, "error_shown", "error_code")
            )
            for since in moments:
                assert distinct_values(
                    store, [pseudonym], purpose, "page_viewed", "path", since
                ) == reference_distinct(db, pseudonym, purpose, "page_viewed", "path", since)


events_strategy = st.lists(
    st.tuples(
        st.sampled_from(PEOPLE),
        st.sampled_from(PURPOSES),
        st.sampled_from(TYPES),
        st.integers(0, 6 * HOUR_US // 1_000_000).map(lambda s: START + s * 1_000_000),
        st.sampled_from(["/a", "/b", "/c", None]),
    ),
    min_size=1,
    max_size=40,
)


def _stored(raw: list[tuple[str, str, str, int, str | None]]) -> list[StoredEvent]:
    events = []
    for pseudonym, purpose, event_type, at, value in raw:
        attribute = "path" if event_type == "page_viewed" else "error_code"
        attributes = {} if value is None else {attribute: value}
        events.append(StoredEvent(pseudonym, purpose, event_type, at, attributes))
    return events


def _moments() -> list[int]:
    # Whole hours, one µs either side of them, and times inside hours.
    return [START - 1, START, START + HOUR_US - 1, START + HOUR_US, START + 90 * 60 * 1_000_000]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(events_strategy, min_size=1, max_size=4), cut=st.integers(0, 6))
def test_every_read_matches_the_events_through_purges(
    tmp_path_factory: object, batches: list[list[tuple[str, str, str, int, str | None]]], cut: int
) -> None:
    db = tmp_path_factory.mktemp("state") / "behavior.db"  # type: ignore[attr-defined]
    store = SqliteBehaviorStore(db, TRACKED)
    for number, batch in enumerate(batches):
        store.append(_stored(batch), received_at_us=START + number)
    assert_matches_events(store, db, _moments())

    # The retention purge, in small chunks, with a cut-off inside an hour.
    cutoff = START + cut * HOUR_US + 17 * 60 * 1_000_000
    subjects = SqliteSubjectData(db)
    for purpose in PURPOSES:
        while subjects.purge_older(purpose, cutoff, limit=3):
            assert_matches_events(store, db, _moments())
    subjects.close()
    assert_matches_events(store, db, _moments())
    store.close()


def test_a_later_event_wins_and_a_tie_goes_to_the_later_write(tmp_path: Path) -> None:
    store = SqliteBehaviorStore(tmp_path / "behavior.db", TRACKED)
    at = START + HOUR_US
    store.append(
        [
            StoredEvent(ADA, "support_triage", "error_shown", at, {"error_code": "E2"}),
            StoredEvent(ADA, "support_triage", "error_shown", at - 5, {"error_code": "E1"}),
        ],
        received_at_us=at,
    )
    assert last_attribute(store, [ADA], "support_triage", "error_shown", "error_code") == "E2"
    store.append(
        [StoredEvent(ADA, "support_triage", "error_shown", at, {"error_code": "E3"})],
        received_at_us=at,
    )
    assert last_attribute(store, [ADA], "support_triage", "error_shown", "error_code") == "E3"
    store.append(  # arriving late does not make an older event the latest
        [StoredEvent(ADA, "support_triage", "error_shown", at - HOUR_US, {"error_code": "E0"})],
        received_at_us=at,
    )
    assert last_attribute(store, [ADA], "support_triage", "error_shown", "error_code") == "E3"
    store.close()


def test_erasure_withdrawal_and_rekey_keep_the_state_in_step(tmp_path: Path) -> None:
    db = tmp_path / "behavior.db"
    store = SqliteBehaviorStore(db, TRACKED)
    events = [
        StoredEvent(p, purpose, "page_viewed", START + i * 60_000_000, {"path": f"/{i % 3}"})
        for i in range(10)
        for p in PEOPLE
        for purpose in PURPOSES
    ]
    store.append(events, received_at_us=START)

    store.record_consent(ConsentChange(ADA, "agent_assist", False, "test", START), [ADA], [])
    assert count_events(store, [ADA], "agent_assist", "page_viewed", 0) == 0
    assert last_attribute(store, [ADA], "agent_assist", "page_viewed", "path") is None
    assert count_events(store, [ADA], "support_triage", "page_viewed", 0) == 10
    assert _state_rows(db, ADA, "agent_assist") == 0

    # A rekey that finds the person under both keys merges the two.
    bob_v2 = "hmac-sha256:v2:" + "b" * 64
    store.append(
        [StoredEvent(bob_v2, "support_triage", "page_viewed", START + HOUR_US, {"path": "/z"})],
        received_at_us=START,
    )
    subjects = SqliteSubjectData(db)
    subjects.rename(BOB, bob_v2)
    assert count_events(store, [bob_v2], "support_triage", "page_viewed", 0) == 11
    assert distinct_values(store, [bob_v2], "support_triage", "page_viewed", "path", 0) == 4
    assert last_attribute(store, [bob_v2], "support_triage", "page_viewed", "path") == "/z"
    assert count_events(store, [BOB], "support_triage", "page_viewed", 0) == 0

    subjects.erase([ADA])
    assert _state_rows(db, ADA, None) == 0
    subjects.close()
    with _raw(db) as conn:
        left = conn.execute(
            "SELECT count(*) FROM signal_counts c LEFT JOIN subjects s ON s.id = c.subject_id"
            " WHERE s.id IS NULL"
        ).fetchone()[0]
    assert left == 0, "state of a subject that no longer exists"
    store.close()


def _state_rows(db: Path, pseudonym: str, purpose: str | None) -> int:
    with _raw(db) as conn:
        subject = conn.execute(
            "SELECT id FROM subjects WHERE pseudonym = ?", (pseudonym,)
        ).fetchone()
        if subject is None:
            # Erased: no subject row; no state row may point at an id it once had either.
            return sum(
                conn.execute(
                    f"SELECT count(*) FROM {t} WHERE subject_id NOT IN (SELECT id FROM subjects)"
                ).fetchone()[0]
                for t in ("signal_counts", "signal_last", "signal_distinct")
            )
        only = "" if purpose is None else " AND purpose = ?"
        params = [subject[0]] + ([] if purpose is None else [purpose])
        return sum(
            conn.execute(f"SELECT count(*) FROM {t} WHERE subject_id = ?{only}", params).fetchone()[
                0
            ]
            for t in ("signal_counts", "signal_last", "signal_distinct")
        )


def test_a_newly_declared_signal_is_built_from_stored_events_and_a_dropped_one_goes(
    tmp_path: Path,
) -> None:
    db = tmp_path / "behavior.db"
    store = SqliteBehaviorStore(db, Tracked())
    store.append(
        [
            StoredEvent(ADA, "support_triage", "page_viewed", START, {"path": "/a"}),
            StoredEvent(ADA, "support_triage", "page_viewed", START + 1, {"path": "/b"}),
        ],
        received_at_us=START,
    )
    assert store.state_changes == []
    store.close()

    store = SqliteBehaviorStore(db, TRACKED)
    assert store.state_changes == [
        "built distinct page_viewed.path",
        "built last_value error_shown.error_code",
        "built last_value page_viewed.path",
    ]
    assert last_attribute(store, [ADA], "support_triage", "page_viewed", "path") == "/b"
    assert distinct_values(store, [ADA], "support_triage", "page_viewed", "path", 0) == 2
    store.close()

    store = SqliteBehaviorStore(db, Tracked(last_value=frozenset({("page_viewed", "path")})))
    assert store.state_changes == [
        "dropped distinct page_viewed.path",
        "dropped last_value error_shown.error_code",
    ]
    try:
        distinct_values(store, [ADA], "support_triage", "page_viewed", "path", 0)
    except ValueError as exc:
        assert "not maintained" in str(exc)
    else:
        raise AssertionError("a pair no longer tracked was read")
    with _raw(db) as conn:
        assert conn.execute("SELECT count(*) FROM signal_distinct").fetchone()[0] == 0
    store.close()


def _vm_steps(db: Path, read: Callable[[sqlite3.Connection], object]) -> int:
    """SQLite virtual-machine instructions `read` takes: the cost of a read."""
    conn = sqlite3.connect(db)
    steps = 0

    def tick() -> int:
        nonlocal steps
        steps += 1
        return 0

    conn.set_progress_handler(tick, 1)
    read(conn)
    conn.close()
    return steps


def test_a_read_costs_the_same_whatever_the_history(tmp_path: Path) -> None:
    """Ada has 50 events in the last day, Bob 5,000: a 24-hour count, a latest value and
    the distinct values cost both about the same; counting Bob's events would not."""
    db = tmp_path / "behavior.db"
    store = SqliteBehaviorStore(db, TRACKED)
    now = START + 30 * HOUR_US
    for pseudonym, n in ((ADA, 50), (BOB, 5_000)):
        step = 24 * HOUR_US // n
        store.append(
            [
                StoredEvent(
                    pseudonym,
                    "support_triage",
                    "page_viewed",
                    now - i * step,
                    {"path": f"/{i % 4}"},
                )
                for i in range(n)
            ],
            received_at_us=now,
        )
    since = now - 24 * HOUR_US + 1  # a window starting inside an hour
    assert count_events(store, [BOB], "support_triage", "page_viewed", since) == 5_000

    # The journey (intent, frustration, recent steps) reads the newest 50 events.
    journey = {}
    for pseudonym in PEOPLE:
        reader = store._reader.conn  # the connection the journey is read through
        steps = 0

        def tick() -> int:
            nonlocal steps
            steps += 1
            return 0

        reader.set_progress_handler(tick, 1)
        assert len(store.recent_events([pseudonym], "support_triage", since)) == 50
        reader.set_progress_handler(None, 1)
        journey[pseudonym] = steps
    store.close()

    def signals(pseudonym: str) -> Callable[[sqlite3.Connection], object]:
        queries = [
            SignalQuery("n", "count", "page_viewed", None, since),
            SignalQuery("last", "last_value", "page_viewed", "path"),
            SignalQuery("paths", "distinct", "page_viewed", "path", since),
        ]

        def read(conn: sqlite3.Connection) -> object:
            return sqlite_signals.values(conn, TRACKED, [pseudonym], "support_triage", queries)

        return read

    def counted(pseudonym: str) -> Callable[[sqlite3.Connection], object]:
        return lambda conn: conn.execute(
            "SELECT count(*) FROM events WHERE subject_id = (SELECT id FROM subjects"
            " WHERE pseudonym = ?) AND purpose = 'support_triage' AND type = 'page_viewed'"
            " AND occurred_at_us > ?",
            [pseudonym, since],
        ).fetchall()

    cost = {p: _vm_steps(db, signals(p)) for p in PEOPLE}
    naive = {p: _vm_steps(db, counted(p)) for p in PEOPLE}
    assert naive[BOB] > 30 * naive[ADA], naive  # the measure sees history when it is read
    # Bob's partial first hour holds ~200 events where Ada's holds ~2; apart from that one
    # hour, his reads cost what Ada's do.
    partial_hour = naive[BOB] / 24
    assert cost[BOB] < 1.5 * cost[ADA] + 1.5 * partial_hour, (cost, naive)
    assert cost[BOB] < naive[BOB] / 5, (cost, naive)
    # Fifty index steps each, not a walk through the window (Bob's or the purpose's).
    assert journey[BOB] < 1.5 * journey[ADA], journey
    assert max(journey.values()) < naive[BOB] / 5, (journey, naive)


def test_state_rows_store_values_as_the_events_json_reads_them(tmp_path: Path) -> None:
    db = tmp_path / "behavior.db"
    tracked = Tracked(last_value=frozenset({("t", "flag"), ("t", "n"), ("t", "x")}))
    store = SqliteBehaviorStore(db, tracked)
    store.append(
        [StoredEvent(ADA, "p", "t", START, {"flag": True, "n": 3, "x": 1.5})], received_at_us=START
    )
    with _raw(db) as conn:
        raw = conn.execute("SELECT attributes FROM events").fetchone()[0]
    assert json.loads(raw) == {"flag": True, "n": 3, "x": 1.5}
    assert last_attribute(store, [ADA], "p", "t", "flag") == 1  # json_extract(true) is 1
    assert last_attribute(store, [ADA], "p", "t", "n") == 3
    assert last_attribute(store, [ADA], "p", "t", "x") == 1.5
    store.close()


def test_signal_values_read_every_signal_in_one_statement(tmp_path: Path) -> None:
    db = tmp_path / "behavior.db"
    store = SqliteBehaviorStore(db, TRACKED)
    store.append(
        [
            StoredEvent(ADA, "support_triage", "page_viewed", START + i, {"path": f"/{i % 3}"})
            for i in range(7)
        ]
        + [StoredEvent(ADA, "support_triage", "error_shown", START + 9, {"error_code": "E4"})],
        received_at_us=START,
    )
    queries = [
        SignalQuery("views", "count", "page_viewed", None, START + 2),
        SignalQuery("paths", "distinct", "page_viewed", "path", 0),
        SignalQuery("error", "last_value", "error_shown", "error_code"),
        SignalQuery("last_path", "last_value", "page_viewed", "path"),
    ]
    statements: list[str] = []
    store._reader.conn.set_trace_callback(statements.append)
    values = store.signal_values([ADA], "support_triage", queries)
    store._reader.conn.set_trace_callback(None)
    assert values == [4, 3, "E4", "/0"]
    assert len(statements) == 1
    assert store.signal_values([BOB], "support_triage", queries) == [0, 0, None, None]
    store.close()
