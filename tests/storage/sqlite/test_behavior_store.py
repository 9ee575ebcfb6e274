"""The SQLite behavior store: migrations keep data, purposes stay apart."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

from tactful.app.settings import EXAMPLE_CONTRACT
from tactful.privacy.contract import load_contract
from tactful.privacy.decisions import Actor
from tactful.privacy.keyring import KeySet
from tactful.privacy.pseudonym import Pseudonymizer
from tactful.privacy.suppression import Tombstones
from tactful.privacy.vault import Identity
from tactful.segments.ingest import EventInput, EventRecorder, SubjectInput
from tactful.segments.store import StoredEvent, Tracked, tracked_by
from tactful.storage.sqlite.behavior import SqliteBehaviorStore
from tactful.storage.sqlite.behavior_schema import migrations
from tactful.storage.sqlite.connection import connect
from tactful.timestamps import to_us
from tests.conftest import count_events, last_attribute

ADA, BOB = "hmac-sha256:v1:" + "a" * 64, "hmac-sha256:v1:" + "b" * 64
TRACKED = Tracked(last_value=frozenset({("error_shown", "error_code"), ("page_viewed", "path")}))


def test_integer_subject_id_migration_keeps_every_event(tmp_path: Path) -> None:
    path = tmp_path / "behavior.db"
    old = connect(path)
    migrations.apply(old, stop_before="m003_integer_subject_ids")
    old.execute(
        "INSERT INTO events (pseudonym, purpose, type, occurred_at_us, received_at_us,"
        " attributes) VALUES (?, 'support_triage', 'page_viewed', ?, 0, NULL)",
        [ADA, 10],
    )
    old.execute(
        "INSERT INTO events (pseudonym, purpose, type, occurred_at_us, received_at_us,"
        " attributes) VALUES (?, 'support_triage', 'error_shown', ?, 0, '{\"error_code\":\"E1\"}')",
        [BOB, 20],
    )
    old.close()

    store = SqliteBehaviorStore(path, TRACKED)
    assert count_events(store, [ADA], "support_triage", "page_viewed", 0) == 1
    assert count_events(store, [BOB], "support_triage", "page_viewed", 0) == 0
    assert last_attribute(store, [BOB], "support_triage", "error_shown", "error_code") == "E1"
    store.append([StoredEvent(ADA, "support_triage", "page_viewed", 30, {})], received_at_us=1)
    assert count_events(store, [ADA, BOB], "support_triage", "page_viewed", 0) == 2
    store.close()


def test_activity_keyed_by_subject_id_migration_keeps_activity(tmp_path: Path) -> None:
    path = tmp_path / "behavior.db"
    old = connect(path)
    migrations.apply(old, stop_before="m007_activity_by_subject_id")
    old.execute("INSERT INTO subjects (id, pseudonym) VALUES (7, ?)", [ADA])
    old.execute("INSERT INTO purpose_activity VALUES (?, 'support_triage', 10, 30, 2)", [ADA])
    old.close()

    store = SqliteBehaviorStore(path, TRACKED)
    _, activity = store.consent_and_activity([ADA], "support_triage")
    assert activity is not None
    assert (activity.first_seen_us, activity.last_seen_us, activity.event_count) == (10, 30, 2)
    store.close()


def test_clustered_consent_migration_keeps_every_grant(tmp_path: Path) -> None:
    path = tmp_path / "behavior.db"
    old = connect(path)
    migrations.apply(old, stop_before="m008_consent_clustered")
    old.execute("INSERT INTO consent VALUES (?, 'onboarding', 1, 5)", [ADA])
    old.execute("INSERT INTO consent VALUES (?, 'onboarding', 0, 6)", [BOB])
    old.close()

    store = SqliteBehaviorStore(path, TRACKED)
    assert store.is_granted([ADA], "onboarding")
    assert not store.is_granted([BOB], "onboarding")
    with store.writing() as write:
        assert write.consenting([ADA, BOB], "onboarding") == {ADA}
    store.close()


def test_counts_are_per_purpose_and_window(tmp_path: Path) -> None:
    store = SqliteBehaviorStore(tmp_path / "behavior.db", TRACKED)
    store.append(
        [
            StoredEvent(ADA, "support_triage", "page_viewed", 100, {"path": "/a"}),
            StoredEvent(ADA, "agent_assist", "page_viewed", 200, {"path": "/b"}),
            StoredEvent(BOB, "support_triage", "page_viewed", 300, {"path": "/c"}),
        ],
        received_at_us=400,
    )
    assert count_events(store, [ADA], "support_triage", "page_viewed", 0) == 1
    assert count_events(store, [ADA], "support_triage", "page_viewed", 100) == 0  # > since
    assert last_attribute(store, [ADA], "agent_assist", "page_viewed", "path") == "/b"
    _, activity = store.consent_and_activity([ADA], "support_triage")
    assert activity is not None and activity.event_count == 1
    store.close()


def test_no_other_writer_can_slip_between_the_consent_check_and_the_write(
    tmp_path: Path,
) -> None:
    """An erasure with suppression, or a withdrawal, from another process lands wholly
    before or after a batch: while the batch is between its check and its write (the
    vault is remembering its identities), the behavior store admits no other writer."""
    db = tmp_path / "behavior.db"
    contract = load_contract(EXAMPLE_CONTRACT)
    store = SqliteBehaviorStore(db, tracked_by(contract))
    refused: list[str] = []

    class ProbingVault:
        def remember(self, identities: Iterable[Identity], *, now: datetime) -> int:
            other = sqlite3.connect(db, timeout=0)
            try:
                other.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                refused.append(str(exc))
            finally:
                other.close()
            return 0

        def reveal(self, pseudonym: str) -> Identity | None:
            return None

        def shred(self, pseudonyms: Sequence[str]) -> int:
            return 0

    keys = KeySet("pseudonym", 1, {1: bytes(range(32))})
    tombstones = Tombstones(KeySet("suppression", 1, {1: bytes(range(1, 33))}))
    recorder = EventRecorder(contract, Pseudonymizer(keys), ProbingVault(), store, tombstones)
    widget = Actor("support_widget", frozenset({"frontend"}), frozenset({"support_triage"}))
    at = to_us(datetime(2026, 11, 27, tzinfo=UTC))
    result = recorder.record(
        widget,
        "support_triage",
        [EventInput(SubjectInput("email", "ada@example.com"), "page_viewed", at, {})],
        now=datetime(2026, 11, 27, 0, 1, tzinfo=UTC),
    )
    assert result.stored == 1
    assert refused == ["database is locked"]
    store.close()


def test_events_are_stored_with_their_attributes_as_json_text_and_their_activity(
    tmp_path: Path,
) -> None:
    # The batch is one JSON text: each event's attributes must come out of it as the
    # JSON text of that event alone (or NULL without attributes), exactly.
    path = tmp_path / "behavior.db"
    store = SqliteBehaviorStore(path, TRACKED)
    odd = {
        "path": 'é\u2028 "q" \\ / \n😀',
        "small": 1e-7,
        "huge": 1e300,
        "sum": 0.1 + 0.2,
        "big": 2**62,
        "yes": True,
        "when": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
    }
    events = [
        StoredEvent(ADA, "support_triage", "page_viewed", 30, odd),
        StoredEvent(BOB, "support_triage", "page_viewed", 10, {}),
        StoredEvent(ADA, "support_triage", "error_shown", 20, {"error_code": "E1"}),
        StoredEvent(ADA, "support_triage", "page_viewed", 40, {"path": "/x"}),
    ]
    store.append(events, received_at_us=99)
    store.close()
    conn = sqlite3.connect(path)
    rows = conn.execute(
        "SELECT s.pseudonym, e.type, e.occurred_at_us, e.received_at_us, e.attributes"
        " FROM events e JOIN subjects s ON s.id = e.subject_id ORDER BY e.id"
    ).fetchall()
    expected_odd = json.dumps(
        {**odd, "when": "2026-01-02T03:04:05.000006+00:00"}, separators=(",", ":")
    )
    assert rows == [
        (ADA, "page_viewed", 30, 99, expected_odd),
        (BOB, "page_viewed", 10, 99, None),
        (ADA, "error_shown", 20, 99, '{"error_code":"E1"}'),
        (ADA, "page_viewed", 40, 99, '{"path":"/x"}'),
    ]
    activity = conn.execute(
        "SELECT s.pseudonym, a.first_seen_us, a.last_seen_us, a.event_count"
        " FROM purpose_activity a JOIN subjects s ON s.id = a.subject_id ORDER BY 1"
    ).fetchall()
    assert activity == [(ADA, 20, 40, 3), (BOB, 10, 10, 1)]
    conn.close()


def test_attributes_given_as_any_mapping_are_stored_as_a_json_object(tmp_path: Path) -> None:
    # Attributes that pass the quick checks are kept as given: a mapping that is no dict
    # must still reach the store as one.
    path = tmp_path / "behavior.db"
    contract = load_contract(EXAMPLE_CONTRACT)
    store = SqliteBehaviorStore(path, tracked_by(contract))

    class Vault:
        def remember(self, identities: Iterable[Identity], *, now: datetime) -> int:
            return 0

    keys = KeySet("pseudonym", 1, {1: bytes(range(32))})
    tombstones = Tombstones(KeySet("suppression", 1, {1: bytes(range(1, 33))}))
    recorder = EventRecorder(contract, Pseudonymizer(keys), Vault(), store, tombstones)  # type: ignore[arg-type]
    widget = Actor("support_widget", frozenset({"frontend"}), frozenset({"support_triage"}))
    at = to_us(datetime(2026, 11, 27, tzinfo=UTC))
    attributes = MappingProxyType({"path": "/help"})
    result = recorder.record(
        widget,
        "support_triage",
        [EventInput(SubjectInput("email", "ada@example.com"), "page_viewed", at, attributes)],
        now=datetime(2026, 11, 27, 0, 1, tzinfo=UTC),
    )
    store.close()
    assert result.stored == 1
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT attributes FROM events").fetchall() == [('{"path":"/help"}',)]
    conn.close()
