"""Canary: a person's words, sent in a text attribute, reach no file of the data folder
(the behavior database and its WAL, the vault, the access log), no log line, no access
record, no trace span, no metric and no error reply; only their labels are kept."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tactful.privacy.text_attributes import INTENT_LABELS
from tactful.segments import ingest
from tactful.segments.text_labels import TextLabels
from tests.api.test_observability import scrape
from tests.api.text_canary import (
    ACCEPTED,
    PERSON,
    access_records,
    files_holding,
    found_in,
    send_canaries,
)
from tests.conftest import Tactful


def test_canary_sentences_are_kept_nowhere_and_said_nowhere(
    start_tactful: Callable[..., Tactful], tmp_path: Path
) -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    log = tmp_path / "logs" / "calls.jsonl"
    exporter = InMemorySpanExporter()
    tactful = start_tactful(
        log_format="json",
        log_file=log,
        tracing_enabled=True,
        span_exporter=exporter,
        metrics_listen="127.0.0.1:0",
    )
    replies = send_canaries(tactful)
    labels = tactful.signals(PERSON, "support_triage", "last_message_intent")
    assert labels["last_message_intent"] in INTENT_LABELS  # classified, and kept as a label

    data = tactful.settings.data_dir
    assert {"behavior.db", "behavior.db-wal", "vault.db", "access_log.db"} <= {
        p.name for p in data.iterdir()
    }
    spans = exporter.get_finished_spans()
    assert len(spans) >= 8
    leaks: dict[str, object] = {
        "files, the WAL live": files_holding([data]),
        "error replies": [found_in(r) for r in replies if found_in(r)],
        "access records": found_in(access_records(tactful)),
        "metrics": found_in(scrape(tactful).encode()),
        "spans": found_in("\n".join(s.to_json() for s in spans).encode()),
    }
    tactful.stop()  # checkpoint the WAL into the main files, then look again
    leaks["files, checkpointed"] = files_holding([data, tactful.settings.checkpoints_path.parent])
    assert "call" in log.read_text(encoding="utf-8")
    leaks["JSON log"] = found_in(log.read_bytes())
    assert [where for where, found in leaks.items() if found] == [], leaks


def test_the_scan_finds_a_text_that_is_stored(
    tactful: Tactful, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broken ingest that kept the words beside the labels would be caught."""
    keep = ingest.kept_labels

    def leaking(name: str, derive: object, labels: TextLabels) -> dict[str, object]:
        return {**keep(name, derive, labels), "leak": ACCEPTED[0]}  # type: ignore[arg-type]

    monkeypatch.setattr(ingest, "kept_labels", leaking)
    send_canaries(tactful)
    assert list(files_holding([tactful.settings.data_dir])) == [
        str(tactful.settings.data_dir / "behavior.db-wal")
    ]
