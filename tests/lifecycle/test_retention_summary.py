"""`tactful retention run` counts every event it deletes, those that go with an
expired identity included."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from tactful.cli.main import main
from tests.conftest import T0, Tactful, email, page_view

ROOT = Path(__file__).resolve().parents[2]


def config_for(tactful: Tactful, tmp_path: Path) -> str:
    """The test server's data folder, with an identity retention shorter than
    support_triage's 30 days: the person goes before their events would."""
    development = (ROOT / "examples" / "development.toml").read_text()
    development = development.replace(
        'contract = "contract.toml"', f'contract = "{ROOT / "examples" / "contract.toml"}"'
    ).replace('listen = "127.0.0.1:50051"', "")
    path = tmp_path / "cli.toml"
    path.write_text(
        f'data_dir = "{tactful.settings.data_dir}"\nidentity_retention = "1d"\n{development}\n'
    )
    return str(path)


def test_the_summary_counts_the_events_deleted_with_an_identity(
    tactful: Tactful, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ada = email("ada@example.com")
    tactful.record("support_triage", page_view(ada, T0), page_view(ada, T0, "/help"))
    tactful.stop()
    config = config_for(tactful, tmp_path)
    now = (T0 + timedelta(days=2)).isoformat()  # inactive 2 days; support_triage keeps 30

    assert main(["retention", "run", "--dry-run", "--config", config, "--now", now]) == 0
    out = capsys.readouterr().out
    assert "would delete 0 events and 1 identities, with the events they still hold" in out

    assert main(["retention", "run", "--config", config, "--now", now]) == 0
    out = capsys.readouterr().out
    assert (
        "retention: deleted 2 events (2 of them with their expired identities) and 1 identities"
        in out
    )
    assert (
        main(["audit", "query", "--config", config, "--method", "tactful.cli/retention.run"]) == 0
    )
    (receipt,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    deleted = json.loads(receipt["reason"])["deleted"]
    assert deleted["vault.identities"] == 1
    assert deleted["behavior.with_identities"]["events"] == 2
    assert sum(deleted["behavior.events"].values()) == 0  # none was past its purpose's
