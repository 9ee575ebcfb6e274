"""Every command that reads personal data or changes keys, tokens or the access log
leaves one access record (`cli:<user>`, `tactful.cli/<group>.<action>`), and fails,
releasing nothing, when that record cannot be written."""

from __future__ import annotations

import getpass
import json
import sqlite3
from pathlib import Path

import pytest

from tactful.cli.main import main
from tactful.privacy.access_log import AccessLogUnavailable, decode
from tactful.storage.sqlite.access_log import SqliteAccessLog

ROOT = Path(__file__).resolve().parents[2]
OPERATOR = f"cli:{getpass.getuser()}"


@pytest.fixture(autouse=True)
def _no_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TACTFUL_DATA_DIR", raising=False)
    monkeypatch.delenv("TACTFUL_LISTEN", raising=False)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """The development principals, a data folder and a keyring of their own (not yet made)."""
    development = (ROOT / "examples" / "development.toml").read_text()
    development = development.replace('listen = "127.0.0.1:50051"', "").replace(
        'contract = "contract.toml"', f'contract = "{ROOT / "examples" / "contract.toml"}"'
    )
    path = tmp_path / "tactful.toml"
    path.write_text(
        f'data_dir = "data"\nkeyring = "{tmp_path / "keyring.json"}"\n'
        f'listen = "127.0.0.1:0"\n{development}'
    )
    return path


def records(config: Path) -> list[tuple[str, str, str, str]]:
    """(principal, role, method, reason) of every record in the config's access log."""
    with sqlite3.connect(config.parent / "data" / "access_log.db") as db:
        rows = db.execute("SELECT content FROM records ORDER BY sequence").fetchall()
    entries = [decode(content)[1] for (content,) in rows]
    return [(e.principal, e.role, e.method, e.reason) for e in entries]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_each_command_that_changes_or_reads_leaves_one_record(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = ("--config", str(config))
    subject = ("--namespace", "email", "--id", "ada@example.com")
    steps: list[tuple[tuple[str, ...], str, str]] = [
        (("keys", "init", *c), "keys.init", "admin"),
        (("tokens", "issue", "web_frontend", *c), "tokens.issue", "admin"),
        (("tokens", "revoke", "--principal", "web_frontend", *c), "tokens.revoke", "admin"),
        (("keys", "rotate", "--use", "pseudonym", *c), "keys.rotate", "admin"),
        (("keys", "rekey", *c), "keys.rekey", "admin"),
        (("keys", "retire", "v1", *c), "keys.retire", "admin"),
        (("subjects", "export", *subject, *c), "subjects.export", "privacy_ops"),
        (("journeys", "arm", "checkout_recovery", *subject, *c), "journeys.arm", "analyst"),
        (("subjects", "erase", *subject, *c), "subjects.erase", "privacy_ops"),
        (("retention", "run", *c), "retention.run", "admin"),
        (("audit", "query", "--decision", "denied", *c), "audit.query", "compliance"),
        (("audit", "export", "--format", "csv", *c), "audit.export", "compliance"),
        (("audit", "truncate", *c), "audit.truncate", "compliance"),
    ]
    for number, (argv, method, role) in enumerate(steps, start=1):
        code, _, err = run(capsys, *argv)
        assert code == 0, (argv, err)
        seen = records(config)
        assert len(seen) == number, (argv, seen)
        principal, recorded_role, recorded_method, _ = seen[-1]
        assert (principal, recorded_role, recorded_method) == (
            OPERATOR,
            role,
            f"tactful.cli/{method}",
        )
    reasons = {method: reason for _, _, method, reason in records(config)}
    assert json.loads(reasons["tactful.cli/keys.retire"]) == {"use": "pseudonym", "version": 1}
    assert json.loads(reasons["tactful.cli/audit.query"]) == {"decision": "denied"}
    assert "ada@example.com" not in "".join(reasons.values())
    code, out, _ = run(capsys, "audit", "verify", *c)
    assert code == 0 and f"intact: {len(steps)} records" in out


def test_reads_that_only_show_are_not_recorded(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = ("--config", str(config))
    assert run(capsys, "keys", "init", *c)[0] == 0
    for argv in (("tokens", "list", *c), ("keys", "show", *c), ("audit", "verify", *c)):
        assert run(capsys, *argv)[0] == 0
    assert [method for _, _, method, _ in records(config)] == ["tactful.cli/keys.init"]


@pytest.fixture
def failing_log(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A data folder whose access log refuses every write from here on."""
    c = ("--config", str(config))
    assert run(capsys, "keys", "init", *c)[0] == 0
    assert run(capsys, "tokens", "issue", "analyst", *c)[0] == 0

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AccessLogUnavailable("access log write failed: disk I/O error")

    monkeypatch.setattr(SqliteAccessLog, "append", refuse)
    return config


@pytest.mark.parametrize(
    ("argv", "method"),
    [
        (("audit", "query"), "audit.query"),
        (("audit", "export"), "audit.export"),
        (
            ("subjects", "export", "--namespace", "email", "--id", "ada@example.com"),
            "subjects.export",
        ),
        (("tokens", "issue", "web_frontend"), "tokens.issue"),
    ],
)
def test_a_record_that_cannot_be_written_fails_the_command_and_releases_nothing(
    failing_log: Path,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
    method: str,
) -> None:
    code, out, err = run(capsys, *argv, "--config", str(failing_log))
    assert code == 1
    assert out == ""
    assert len(err.splitlines()) == 1 and f"tactful.cli/{method} could not be recorded" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", [("audit", "export"), ("subjects", "export")])
def test_an_export_to_a_file_that_cannot_be_recorded_writes_no_file(
    failing_log: Path, capsys: pytest.CaptureFixture[str], command: tuple[str, ...]
) -> None:
    output = failing_log.parent / "out.txt"
    subject = (
        ("--namespace", "email", "--id", "ada@example.com") if command[0] == "subjects" else ()
    )
    code, _, _ = run(
        capsys, *command, *subject, "--output", str(output), "--config", str(failing_log)
    )
    assert code == 1
    assert not output.exists()
    assert [p.name for p in failing_log.parent.iterdir() if p.name.startswith(".out")] == []


def test_an_arm_is_printed_after_its_record(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = ("--config", str(config))
    subject = ("--namespace", "email", "--id", "Ada@Example.com")
    assert run(capsys, "keys", "init", *c)[0] == 0
    assert run(capsys, "journeys", "arm", "checkout_recovery", *subject, *c) == (
        0,
        "treatment\n",  # the example contract holds nobody out
        "",
    )
    assert records(config)[-1][2:] == ("tactful.cli/journeys.arm", "journey checkout_recovery")
    code, _, err = run(capsys, "journeys", "arm", "nowhere", *subject, *c)
    assert code == 1 and "no journey 'nowhere'" in err
