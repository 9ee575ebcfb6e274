"""Every command that prints data takes `--json` and prints one JSON document on
standard output, and nothing else there (tactful.cli.report).

The parser is walked, so a new command fails here until it takes `--json` and has an
example run in `RUNS` (or is named in `PRINTS_NO_DATA`, with the reason)."""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tactful.cli.main import _parser, main

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = str(ROOT / "examples" / "contract.toml")
PRINTS_NO_DATA = {
    "serve": "runs the server; its lines are logs (logging.format = json)",
    "console": "runs the console; its lines are logs",
    "certs dev": "writes certificate files and prints how to configure them",
}
SUBJECT = ("--namespace", "email", "--id", "ada@example.com")
EXAMPLES = ROOT / "src" / "tactful" / "app" / "examples"

# The command, then what runs before it (in the same data folder), then its arguments;
# "{config}" is the config file's path, "{tmp}" the test's folder.
RUNS: dict[str, tuple[list[list[str]], list[str]]] = {
    "keys init": ([], ["keys", "init", "--keyring", "{tmp}/another.json"]),
    "keys upgrade": ([], ["keys", "upgrade"]),
    "keys show": ([], ["keys", "show"]),
    "keys rotate": ([], ["keys", "rotate", "--use", "signing"]),
    "keys rekey": ([], ["keys", "rekey"]),
    "keys retire": (
        [["keys", "rotate", "--use", "pseudonym"], ["keys", "rekey"]],
        ["keys", "retire", "v1", "--use", "pseudonym"],
    ),
    "keys rotate-vault": ([], ["keys", "rotate-vault"]),
    "tokens issue": ([], ["tokens", "issue", "support_widget", "--expires-in", "1d"]),
    "tokens revoke": (
        [["tokens", "issue", "support_widget"]],
        ["tokens", "revoke", "--principal", "support_widget"],
    ),
    "tokens list": ([["tokens", "issue", "support_widget"]], ["tokens", "list"]),
    "tokens new": ([], ["tokens", "new"]),
    "audit verify": ([], ["audit", "verify"]),
    "audit query": ([], ["audit", "query", "--purpose", "support_triage"]),
    "audit export": ([], ["audit", "export"]),
    "audit truncate": ([], ["audit", "truncate"]),
    "audit stream": ([], ["audit", "stream", "--to", "{tmp}/copy.jsonl", "--once"]),
    "audit verify-export": (
        [["audit", "stream", "--to", "{tmp}/copy.jsonl", "--once"]],
        ["audit", "verify-export", "{tmp}/copy.jsonl", "--against-store"],
    ),
    "subjects erase": ([], ["subjects", "erase", *SUBJECT]),
    "subjects export": ([], ["subjects", "export", *SUBJECT]),
    "retention run": ([], ["retention", "run", "--dry-run"]),
    "retention verify": ([], ["retention", "verify"]),
    "db migrate": ([], ["db", "migrate"]),
    "db status": ([], ["db", "status"]),
    "db roles": ([], ["db", "roles"]),
    "config keys": ([], ["config", "keys"]),
    # Nothing listens on the discard port: the document says UNKNOWN, and it exits 1.
    "health": ([], ["health", "--target", "127.0.0.1:9", "--timeout", "0.5"]),
    "journeys test": ([], ["journeys", "test", "support_triage"]),
    "journeys explain": ([], ["journeys", "explain", "support_triage"]),
    "journeys arm": ([], ["journeys", "arm", "support_triage", *SUBJECT]),
    "journeys status": ([], ["journeys", "status", "support_triage"]),
    "journeys promote": (
        [],
        ["journeys", "promote", "onboarding", "{tmp}/onboarding.toml", "--reason", "test"],
    ),
    "journeys rollback": (
        [["journeys", "promote", "onboarding", "{tmp}/onboarding.toml", "--reason", "test"]],
        ["journeys", "rollback", "onboarding", "--reason", "test"],
    ),
    "journeys guard": ([], ["journeys", "guard"]),
    "scorecard": ([], ["scorecard", "support_triage"]),
    "contracts check": ([], ["contracts", "check", CONTRACT]),
    "contracts explain": ([], ["contracts", "explain", "support_triage"]),
}


def write_config(tmp_path: Path) -> Path:
    """The development principals, a data folder and a keyring of their own (not yet
    made), as tests/cli/test_cli_records.py's `config`."""
    development = (ROOT / "examples" / "development.toml").read_text()
    development = development.replace('listen = "127.0.0.1:50051"', "").replace(
        'contract = "contract.toml"', f'contract = "{CONTRACT}"'
    )
    path = tmp_path / "tactful.toml"
    path.write_text(
        f'data_dir = "data"\nkeyring = "{tmp_path / "keyring.json"}"\n'
        f'listen = "127.0.0.1:0"\n{development}'
    )
    return path


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("TACTFUL_DATA_DIR", raising=False)
    monkeypatch.delenv("TACTFUL_LISTEN", raising=False)
    return write_config(tmp_path)


ON_POSTGRESQL = {"db migrate", "db status", "db roles"}  # SQLite files migrate themselves


def leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every command that runs something, by its words ("keys rotate"), and its parser."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        yield " ".join(path), parser
    for group in groups:
        for name, sub in group.choices.items():
            yield from leaves(sub, (*path, name))


COMMANDS = dict(leaves(_parser()))


def test_every_command_is_either_run_here_or_prints_no_data() -> None:
    assert set(COMMANDS) == set(RUNS) | set(PRINTS_NO_DATA)


@pytest.mark.parametrize("command", sorted(set(COMMANDS) - set(PRINTS_NO_DATA)))
def test_every_data_printing_command_takes_json(command: str) -> None:
    options = {o for action in COMMANDS[command]._actions for o in action.option_strings}
    assert "--json" in options, f"`tactful {command}` has no --json"


@pytest.mark.parametrize("command", sorted(RUNS))
def test_json_is_one_document_and_nothing_else(
    command: str,
    config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    own_contract(config, tmp_path)
    if command in ON_POSTGRESQL:
        on_postgresql(config)
    else:
        assert main(["keys", "init", "--config", str(config)]) == 0
    setup, argv = RUNS[command]
    for step in setup:
        step = [w.format(config=config, tmp=tmp_path) for w in step]
        assert main([*step, "--config", str(config)]) == 0, capsys.readouterr()
    capsys.readouterr()
    words = [w.format(config=config, tmp=tmp_path) for w in argv]
    options = {o for action in COMMANDS[command]._actions for o in action.option_strings}
    words += ["--config", str(config)] if "--config" in options else []
    code = main([*words, "--json"])
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    document = json.loads(out)  # the whole of stdout: one document, nothing around it
    assert isinstance(document, dict) and document, out


def own_contract(config: Path, tmp_path: Path) -> None:
    """The config's contract a copy, with its playbooks (a promotion writes them), and
    a version 2 of onboarding's playbook to promote."""
    shutil.copy(EXAMPLES / "contract.toml", tmp_path / "contract.toml")
    shutil.copytree(EXAMPLES / "playbooks", tmp_path / "playbooks")
    text = config.read_text().replace(CONTRACT, str(tmp_path / "contract.toml"))
    config.write_text(text)
    newer = (EXAMPLES / "playbooks" / "onboarding.toml").read_text()
    (tmp_path / "onboarding.toml").write_text(newer.replace("version = 1", "version = 2", 1))


def on_postgresql(config: Path) -> None:
    pytest.importorskip("psycopg")
    from tactful.privacy.keyring import create_keyring
    from tests.conftest import T0
    from tests.postgres_cluster import fresh_database, shared_cluster

    cluster = shared_cluster()
    url, vault_url = fresh_database(cluster, "main"), fresh_database(cluster, "vault")
    text = config.read_text() + f'\n[storage]\nurl = "{url}"\nvault_url = "{vault_url}"\n'
    config.write_text(text)
    create_keyring(config.parent / "keyring.json", now=T0)  # no log to record it in yet


def test_audit_export_json_holds_the_records_its_json_lines_do(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = ("--config", str(config))
    assert main(["keys", "init", *c]) == 0
    assert main(["tokens", "issue", "support_widget", *c]) == 0
    capsys.readouterr()
    assert main(["audit", "export", "--until", "2100-01-01T00:00:00Z", *c]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert main(["audit", "export", "--until", "2100-01-01T00:00:00Z", "--json", *c]) == 0
    document = json.loads(capsys.readouterr().out)
    # Each export leaves its own record, seen by the exports after it only.
    assert document["records"][: len(lines)] == lines and len(lines) == 2
    assert main(["audit", "export", "--principal", "nobody", "--json", *c]) == 0
    assert json.loads(capsys.readouterr().out) == {"records": []}
    assert main(["audit", "export", "--json", "--format", "csv", *c]) == 1
    assert "not both" in capsys.readouterr().err
