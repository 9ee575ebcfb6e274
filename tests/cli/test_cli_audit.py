"""`tactful audit verify | query | export | truncate` for compliance officers."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from tactful.cli.main import main
from tactful.v1 import access_log_pb2, access_log_pb2_grpc
from tests.conftest import T0, Tactful, bearer, email, page_view

ROOT = Path(__file__).resolve().parents[2]


def config_for(tactful: Tactful, tmp_path: Path, retention: str = "2190d") -> Path:
    """A config file for the CLI pointing at the test server's data folder."""
    development = (ROOT / "examples" / "development.toml").read_text()
    development = development.replace(
        'contract = "contract.toml"', f'contract = "{ROOT / "examples" / "contract.toml"}"'
    ).replace('listen = "127.0.0.1:50051"', "")
    path = tmp_path / "cli.toml"
    path.write_text(
        f'data_dir = "{tactful.settings.data_dir}"\n{development}\n'
        f'[access_log]\nretention = "{retention}"\n'
    )
    return path


@pytest.fixture
def traffic(tactful: Tactful) -> Tactful:
    """Three records: an ingest and a read about Ada, then a denied read an hour later."""
    ada = email("Ada@Example.com")
    tactful.record("support_triage", page_view(ada))
    tactful.segments(ada)
    tactful.clock.advance(timedelta(hours=1))
    with pytest.raises(grpc.RpcError):
        tactful.segments(ada, principal="analyst")  # denied: wrong role
    tactful.stop()  # the CLI reads the files the server left
    return tactful


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_verify_query_and_export(
    traffic: Tactful, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(config_for(traffic, tmp_path))
    code, out, _ = run(capsys, "audit", "verify", "--config", config)
    assert code == 0 and "intact: 3 records" in out

    code, out, _ = run(capsys, "audit", "query", "--config", config, "--decision", "denied")
    (denied,) = [json.loads(line) for line in out.splitlines()]
    assert denied["principal"] == "analyst" and denied["status"] == "PERMISSION_DENIED"

    code, out, _ = run(
        capsys,
        "audit",
        "query",
        "--config",
        config,
        "--namespace",
        "email",
        "--id",
        "ada@example.com",
    )
    assert len(out.splitlines()) == 3  # every record about Ada, whatever the case given

    code, out, _ = run(
        capsys,
        "audit",
        "export",
        "--config",
        config,
        "--format",
        "csv",
        "--since",
        (T0 + timedelta(minutes=30)).isoformat(),
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    # The two queries above left their own records (each after what it returned).
    assert [r["method"] for r in rows] == [
        "tactful.v1.Personalization/GetSegments",
        "tactful.cli/audit.query",
        "tactful.cli/audit.query",
    ]
    assert rows[0]["subjects"].startswith("hmac-sha256:v1:")  # a pseudonym, not a list repr

    output = tmp_path / "export.jsonl"
    code, _, err = run(capsys, "audit", "export", "--config", config, "--output", str(output))
    assert code == 0 and "exported 6 records" in err
    exported = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["sequence"] for r in exported] == [1, 2, 3, 4, 5, 6]
    assert exported[-1]["method"] == "tactful.cli/audit.export"  # the csv export's record


def test_verify_names_the_first_tampered_record(
    traffic: Tactful, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(config_for(traffic, tmp_path))
    with sqlite3.connect(traffic.settings.data_dir / "access_log.db") as db:
        db.execute(
            "UPDATE records SET content = replace(content, 'analyst', 'web_frontend')"
            " WHERE sequence = 3"
        )
    code, out, _ = run(capsys, "audit", "verify", "--config", config)
    assert code == 1
    assert "TAMPERED: first bad record 3" in out


def test_verify_warns_of_a_checkpoint_the_database_lacks(
    traffic: Tactful, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The newest checkpoint row deleted: the file's line still pins (exit 0), and the
    verdict says the database lacks it."""
    config = str(config_for(traffic, tmp_path))
    with sqlite3.connect(traffic.settings.data_dir / "access_log.db") as db:
        deleted = db.execute(
            "DELETE FROM checkpoints WHERE id = (SELECT max(id) FROM checkpoints)"
        ).rowcount
    assert deleted == 1
    code, out, _ = run(capsys, "audit", "verify", "--config", config)
    assert code == 0 and "intact: 3 records" in out
    assert "warning: 1 signed checkpoint(s)" in out and "not in the database" in out


def test_truncate_keeps_the_log_verifiable_and_says_what_it_removed(
    traffic: Tactful, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(config_for(traffic, tmp_path, retention="1d"))
    later = (T0 + timedelta(days=1, minutes=30)).isoformat()
    code, out, _ = run(capsys, "audit", "truncate", "--config", config, "--now", later)
    assert code == 0 and "removed 2 records" in out
    code, out, _ = run(capsys, "audit", "verify", "--config", config)
    assert code == 0
    intact, truncated = out.splitlines()
    assert "intact: 2 records" in intact  # the one kept and the truncation's own record
    assert "records 1..2 removed (through record 2)" in truncated
    assert truncated.split()[1].startswith(str(datetime.now(UTC).date()))

    (receipt,) = [
        json.loads(line)
        for line in run(capsys, "audit", "query", "--config", config)[1].splitlines()
        if json.loads(line)["method"] == "tactful.cli/audit.truncate"
    ]
    assert receipt["principal"].startswith("cli:") and receipt["sequence"] == 4
    assert json.loads(receipt["reason"]) == {
        "removed": 2,
        "older_than": (T0 + timedelta(minutes=30)).isoformat(),
        "retention": "1d",
    }

    traffic.restart()
    stub = access_log_pb2_grpc.AccessLogStub(traffic.channel)
    reply = stub.VerifyAccessLog(
        access_log_pb2.VerifyAccessLogRequest(), metadata=bearer("compliance_officer")
    )
    assert reply.intact
    (cut,) = reply.truncations
    assert (cut.first_removed, cut.last_removed) == (1, 2)
    assert cut.truncated_at.ToDatetime(tzinfo=UTC).date() == datetime.now(UTC).date()


def test_truncate_refuses_a_time_ahead_of_the_clock(
    traffic: Tactful, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(config_for(traffic, tmp_path))
    ahead = (datetime.now(UTC) + timedelta(minutes=6)).isoformat()
    for when in ("2040-01-01T00:00:00Z", ahead):
        code, out, err = run(capsys, "audit", "truncate", "--config", config, "--now", when)
        assert code == 1 and out == ""
        assert len(err.splitlines()) == 1 and "ahead of this machine's clock" in err
    code, out, _ = run(capsys, "audit", "verify", "--config", config)
    assert code == 0 and "intact: 3 records" in out and "truncated" not in out
    skew = (datetime.now(UTC) + timedelta(minutes=4)).isoformat()  # a little skew is fine
    code, out, _ = run(capsys, "audit", "truncate", "--config", config, "--now", skew)
    assert code == 0 and "removed 0 records" in out


def test_bad_arguments_are_explained(
    traffic: Tactful, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(config_for(traffic, tmp_path))
    code, _, err = run(capsys, "audit", "query", "--config", config, "--since", "yesterday")
    assert code == 1 and "ISO 8601" in err
    code, _, err = run(capsys, "audit", "query", "--config", config, "--namespace", "email")
    assert code == 1 and "--namespace and --id together" in err


def test_csv_columns_are_every_field_of_a_record() -> None:
    from tactful.privacy.access_log import (
        RECORD_FIELDS,
        AccessEntry,
        Decided,
        record_as_dict,
        seal_record,
    )

    entry = AccessEntry(0, "p", "r", "m", "", (), (), (), Decided.ALLOWED, "OK", "", "id", 0)
    assert tuple(record_as_dict(seal_record(1, entry, "0" * 64))) == RECORD_FIELDS


def test_verify_refuses_other_checkpoint_files_on_sqlite(
    traffic: Tactful, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One server, one file: another host's file is a PostgreSQL matter."""
    config = str(config_for(traffic, tmp_path))
    other = tmp_path / "other.checkpoints"
    other.write_text(traffic.settings.checkpoints_path.read_text())
    code, out, err = run(capsys, "audit", "verify", "--config", config, "--checkpoints", str(other))
    assert code == 1 and out == ""
    assert (
        "--checkpoints is for PostgreSQL" in err and str(traffic.settings.checkpoints_path) in err
    )
