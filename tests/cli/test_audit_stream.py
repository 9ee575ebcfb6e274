"""`tactful audit stream` and `tactful audit verify-export` from the command line: a
copy written, checked on its own and against the log, its lag in a metrics file, an
edited copy refused, a target that needs a cursor refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli_audit import config_for, run, traffic  # noqa: F401
from tests.conftest import Tactful


def test_a_streamed_copy_verifies_alone_and_against_the_log(
    traffic: Tactful,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = str(config_for(traffic, tmp_path))
    copy, metrics = tmp_path / "siem" / "access.jsonl", tmp_path / "lag.prom"
    argv = ["audit", "stream", "--to", f"file:{copy}", "--once", "--config", config]
    code, _, err = run(capsys, *argv, "--metrics-file", str(metrics))
    assert code == 0 and "exported 4 records" in err  # three calls and the stream's own
    assert (tmp_path / "siem" / "access.jsonl.cursor").is_file()
    assert "tactful_access_log_export_lag_records 0.0" in metrics.read_text()
    code, out, _ = run(capsys, "audit", "verify-export", str(copy))
    assert code == 0 and out.startswith("intact: 4 records in 1 chain(s)")
    code, out, _ = run(capsys, "audit", "verify-export", str(copy), "--against-store",
                       "--config", config)  # fmt: skip
    assert code == 0 and "matches the access log: 4 records" in out
    code, _, err = run(capsys, *argv)  # from the cursor: only its own record is new
    assert code == 0 and "exported 1 records" in err
    code, out, _ = run(capsys, "audit", "verify-export", str(copy), "--against-store",
                       "--config", config)  # fmt: skip
    assert code == 0 and "matches the access log: 5 records" in out
    assert "records the copy does not" not in out


def test_an_edited_copy_is_refused_naming_its_line(
    traffic: Tactful,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = str(config_for(traffic, tmp_path))
    copy = tmp_path / "access.jsonl"
    assert run(capsys, "audit", "stream", "--to", str(copy), "--once", "--config", config)[0] == 0
    lines = copy.read_text().splitlines()
    second = json.loads(lines[1])
    second["record"]["decision"] = (
        "allowed" if second["record"]["decision"] == "denied" else "denied"
    )
    lines[1] = json.dumps(second)
    copy.write_text("\n".join(lines) + "\n")
    code, out, _ = run(capsys, "audit", "verify-export", str(copy))
    assert code == 1 and out.startswith("TAMPERED: line 2: record 2's fields differ")


def test_a_syslog_or_socket_target_needs_a_cursor(
    traffic: Tactful,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = str(config_for(traffic, tmp_path))
    code, _, err = run(capsys, "audit", "stream", "--to", "tcp://127.0.0.1:9", "--config", config)
    assert code == 1 and "needs --cursor FILE" in err
    code, _, err = run(capsys, "audit", "verify-export", str(tmp_path / "none.jsonl"))
    assert code == 1 and "no such file" in err
    code, _, err = run(capsys, "audit", "stream", "--to", "ftp://x", "--config", config)
    assert code != 0 and "--to 'ftp://x'" in err
