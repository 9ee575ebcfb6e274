"""The SQLite behavior store: migrations keep data, purposes stay apart."""

from __future__ import annotations

from pathlib import Path

from privacy.sqlite import connect
from segments.sqlite_store import SqliteBehaviorStore, migrations
from segments.store import StoredEvent, Tracked

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
    assert store.count_events([ADA], "support_triage", "page_viewed", 0) == 1
    assert store.count_events([BOB], "support_triage", "page_viewed", 0) == 0
    assert store.last_attribute([BOB], "support_triage", "error_shown", "error_code") == "E1"
    store.append([StoredEvent(ADA, "support_triage", "page_viewed", 30, {})], received_at_us=1)
    assert store.count_events([ADA, BOB], "support_triage", "page_viewed", 0) == 2
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
    assert store.count_events([ADA], "support_triage", "page_viewed", 0) == 1
    assert store.count_events([ADA], "support_triage", "page_viewed", 100) == 0  # > since
    assert store.last_attribute([ADA], "agent_assist", "page_viewed", "path") == "/b"
    _, activity = store.consent_and_activity([ADA], "support_triage")
    assert activity is not None and activity.event_count == 1
    store.close()
