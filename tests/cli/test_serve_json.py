"""`[log] format = "json"`: every line `tactful serve` writes is a JSON line, what it
prints at start and stop and why it could not start included, and a denied call's
line says why in a code."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest

from tactful.cli.main import main
from tactful.privacy.keyring import create_keyring
from tactful.v1 import personalization_pb2, personalization_pb2_grpc
from tests.conftest import T0, TACTFUL, email, serve_process

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A deployment's config (not the development default) with JSON logs."""
    create_keyring(tmp_path / "keyring.json", now=T0)
    development = (ROOT / "examples" / "development.toml").read_text()
    development = (
        development.replace('listen = "127.0.0.1:50051"', "")
        .replace('listen = "127.0.0.1:9464"', 'listen = "127.0.0.1:0"')
        .replace(
            'contract = "contract.toml"', f'contract = "{ROOT / "examples" / "contract.toml"}"'
        )
    )
    path = tmp_path / "tactful.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "data"}"\nkeyring = "{tmp_path / "keyring.json"}"\n'
        f'{development}\n[log]\nformat = "json"\n'
    )
    return path


def issue(config: Path, principal: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["tokens", "issue", principal, "--config", str(config)]) == 0
    (token,) = re.findall(r"tf_\S+", capsys.readouterr().out)
    return token


def parsed(output: str) -> list[dict[str, Any]]:
    """Every line as JSON; a line that is not fails the test, naming it."""
    lines = []
    for line in output.splitlines():
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line: {line!r}")
    return lines


def segments(target: str, token: str, purpose: str) -> grpc.StatusCode:
    request = personalization_pb2.GetSegmentsRequest(
        subject=email("ada@example.com"), purpose=purpose
    )
    with grpc.insecure_channel(target) as channel:
        stub = personalization_pb2_grpc.PersonalizationStub(channel)
        try:
            stub.GetSegments(request, metadata=(("authorization", f"Bearer {token}"),), timeout=10)
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def test_every_line_of_a_json_server_is_json_and_a_denial_says_why(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = issue(config, "support_widget", capsys)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TACTFUL_")}
    process, target, started = serve_process(
        ["--config", str(config), "--listen", "127.0.0.1:0"], env
    )
    try:
        assert segments(target, token, "support_triage") == grpc.StatusCode.OK
        # support_widget may not claim onboarding.
        assert segments(target, token, "onboarding") == grpc.StatusCode.PERMISSION_DENIED
        refused = subprocess.run(  # a second server on the same folder is refused, in JSON
            [str(TACTFUL), "serve", "--config", str(config), "--listen", "127.0.0.1:0"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=30)

    lines = parsed(started + rest)
    assert all({"time", "level", "logger", "event"} <= line.keys() for line in lines)
    events = [line["event"] for line in lines]
    assert any(e.startswith("listening on 127.0.0.1:") for e in events)
    assert any(e.startswith("metrics on http://127.0.0.1:") for e in events)
    assert "stopping" in events and events[-1] == "stopped"
    calls = [line for line in lines if line["event"] == "call"]
    assert [(c["code"], c.get("reason")) for c in calls] == [
        ("OK", None),
        ("PERMISSION_DENIED", "purpose_not_claimable"),
    ]
    assert token not in started + rest and "ada@example.com" not in started + rest

    assert refused.returncode == 1 and refused.stdout == ""
    (said,) = parsed(refused.stderr)
    assert said["level"] == "error" and "already serving the data folder" in said["event"]


def test_lines_of_loggers_outside_tactful_and_warnings_are_json_too() -> None:
    program = """
import logging, warnings
from tactful.api.logs import json_everywhere

stdlib = logging.lastResort
with json_everywhere():
    logging.getLogger("asyncio").error("Task exception was never retrieved")
    logging.getLogger("tactful.server").warning("before the log handler is installed")
    warnings.warn("a deprecated option", UserWarning, stacklevel=1)
assert logging.lastResort is stdlib  # the stdlib's own is back
logging.getLogger("asyncio").error("plain text again")
"""
    done = subprocess.run(  # a process of its own: pytest's log capture is not in the way
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    *lines, after = done.stderr.splitlines()
    assert [(line["level"], line["logger"]) for line in parsed("\n".join(lines))] == [
        ("error", "asyncio"),
        ("warning", "tactful.server"),
        ("warning", "py.warnings"),
    ]
    assert after == "plain text again"
