"""Canary on PostgreSQL: a person's words, sent in a text attribute, reach no file of
the cluster's data directory (tables, indexes, the WAL, after a CHECKPOINT), nor its
server log, nor the server's own data folder, log, access records or error replies
(tests/api/test_text_canary.py does the same on SQLite)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tactful.app import stores
from tactful.privacy.text_attributes import INTENT_LABELS
from tactful.segments import ingest
from tactful.segments.text_labels import TextLabels
from tests.api.text_canary import (
    ACCEPTED,
    PERSON,
    access_records,
    files_holding,
    found_in,
    send_canaries,
)
from tests.conftest import Tactful, make_settings
from tests.postgres_cluster import (
    Cluster,
    files_written_since,
    fresh_database,
    shared_cluster,
    throwaway_cluster,
    wal_file,
)

psycopg = pytest.importorskip("psycopg")


def on_postgres(
    start: Callable[..., Tactful], tmp_path: Path, cluster: Cluster, **overrides: object
) -> Tactful:
    main, vault = fresh_database(cluster, "text"), fresh_database(cluster, "textvault")
    stores.migrate(make_settings(tmp_path / "migrate", storage_url=main, vault_url=vault))
    return start(storage_url=main, vault_url=vault, **overrides)


def checkpointed(cluster: Cluster, tactful: Tactful, first_wal: str) -> list[Path]:
    """The cluster's folder (data directory, WAL, server log), once every change is in
    the data files as well as in the WAL; less the run's other databases and the WAL
    from before `first_wal`, which hold nothing of this server's."""
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
    databases = (tactful.settings.storage_url, tactful.settings.vault_database)
    return files_written_since(cluster, databases, first_wal)


def test_canary_sentences_reach_no_file_of_the_cluster(
    start_tactful: Callable[..., Tactful], tmp_path: Path
) -> None:
    log = tmp_path / "logs" / "calls.jsonl"
    first_wal = wal_file(shared_cluster())
    tactful = on_postgres(
        start_tactful, tmp_path, shared_cluster(), log_format="json", log_file=log
    )
    replies = send_canaries(tactful)
    labels = tactful.signals(PERSON, "support_triage", "last_message_intent")
    assert labels["last_message_intent"] in INTENT_LABELS
    leaks: dict[str, object] = {
        "error replies": [found_in(r) for r in replies if found_in(r)],
        "access records": found_in(access_records(tactful)),
        "cluster files": files_holding(checkpointed(shared_cluster(), tactful, first_wal)),
    }
    tactful.stop()
    leaks["server data folder"] = files_holding([tactful.settings.data_dir])
    assert "call" in log.read_text(encoding="utf-8")
    leaks["JSON log"] = found_in(log.read_bytes())
    assert [where for where, found in leaks.items() if found] == [], leaks


def test_the_scan_finds_a_text_stored_in_the_database(
    start_tactful: Callable[..., Tactful], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broken ingest that kept the words beside the labels would be caught: in the
    data files after the checkpoint, not only in the WAL. On a cluster of its own, which
    the leak leaves with the shared one clean."""
    keep = ingest.kept_labels

    def leaking(name: str, derive: object, labels: TextLabels) -> dict[str, object]:
        return {**keep(name, derive, labels), "leak": ACCEPTED[1]}  # type: ignore[arg-type]

    monkeypatch.setattr(ingest, "kept_labels", leaking)
    with throwaway_cluster() as cluster:
        first_wal = wal_file(cluster)
        tactful = on_postgres(start_tactful, tmp_path, cluster)
        send_canaries(tactful)
        found = files_holding(checkpointed(cluster, tactful, first_wal))
        tactful.stop()
    assert any("/pg_wal/" in path for path in found), found
    assert any("/base/" in path for path in found), found
