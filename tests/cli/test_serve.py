"""One `tactful serve` per data folder; the development server's tokens can be revoked."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import grpc
import pytest

from tactful.cli.main import main
from tactful.v1 import personalization_pb2, personalization_pb2_grpc
from tests.conftest import TACTFUL, email, page_view, serve_process

PURPOSE = {"web_frontend": "onboarding", "support_widget": "support_triage"}


class DevelopmentServer:
    """`tactful serve` with no config, on a data folder of the test's own."""

    def __init__(self, data_dir: Path) -> None:
        env = {**os.environ, "TACTFUL_DATA_DIR": str(data_dir)}
        self.process, self.target, output = serve_process(["--listen", "127.0.0.1:0"], env)
        self.tokens = dict(re.findall(r"development token for (\w+) \([\w,]+\): (tf_\S+)", output))

    def code(self, principal: str, token: str | None = None) -> grpc.StatusCode:
        """The status of one RecordEvents call as `principal`, with its token."""
        request = personalization_pb2.RecordEventsRequest(
            purpose=PURPOSE[principal], events=[page_view(email("ada@example.com"))]
        )
        metadata = (("authorization", f"Bearer {token or self.tokens[principal]}"),)
        with grpc.insecure_channel(self.target) as channel:
            stub = personalization_pb2_grpc.PersonalizationStub(channel)
            try:
                stub.RecordEvents(request, metadata=metadata, timeout=10)
            except grpc.RpcError as exc:
                return exc.code()  # type: ignore[no-any-return]
        return grpc.StatusCode.OK

    def stop(self, how: signal.Signals = signal.SIGTERM) -> str:
        self.process.send_signal(how)
        rest, _ = self.process.communicate(timeout=30)
        return rest


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "data"
    monkeypatch.setenv("TACTFUL_DATA_DIR", str(path))  # for the in-process commands
    monkeypatch.delenv("TACTFUL_LISTEN", raising=False)
    return path


def development_tokens(data_dir: Path) -> list[dict[str, object]]:
    document = json.loads((data_dir / "tokens.json").read_text())
    return [t for t in document["tokens"] if t["development"]]


def test_a_second_server_on_the_same_data_folder_is_refused_and_jobs_still_run(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = DevelopmentServer(data_dir)
    try:
        second = subprocess.run(
            [str(TACTFUL), "serve", "--listen", "127.0.0.1:0"],
            env={**os.environ, "TACTFUL_DATA_DIR": str(data_dir)},
            capture_output=True,
            text=True,
            timeout=30,  # a second server that starts never returns
        )
        assert second.returncode == 1 and second.stdout == ""
        (line,) = second.stderr.splitlines()
        assert "already serving the data folder" in line and str(data_dir) in line
        # The jobs meant to run beside the server do.
        assert main(["audit", "verify"]) == 0
        assert main(["tokens", "list"]) == 0
        assert main(["retention", "run"]) == 0
        assert server.code("support_widget") is grpc.StatusCode.OK
    finally:
        rest = server.stop()
    assert server.process.returncode == 0, rest
    assert development_tokens(data_dir) == []  # they end with their server
    again = DevelopmentServer(data_dir)  # the lock went with the process
    again.stop()


def test_revoking_a_principal_reaches_its_development_token(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = DevelopmentServer(data_dir)
    try:
        assert server.code("web_frontend") is grpc.StatusCode.OK
        assert main(["tokens", "revoke", "--principal", "web_frontend"]) == 0
        assert "a development server's token" in capsys.readouterr().out
        assert server.code("web_frontend") is grpc.StatusCode.UNAUTHENTICATED
        assert server.code("support_widget") is grpc.StatusCode.OK
    finally:
        server.stop()


def test_a_crashed_server_leaves_neither_the_lock_nor_working_tokens(data_dir: Path) -> None:
    crashed = DevelopmentServer(data_dir)
    old = crashed.tokens["support_widget"]
    crashed.stop(signal.SIGKILL)
    assert len(development_tokens(data_dir)) == len(crashed.tokens)  # left behind
    server = DevelopmentServer(data_dir)
    try:
        assert server.code("support_widget") is grpc.StatusCode.OK
        assert server.code("support_widget", old) is grpc.StatusCode.UNAUTHENTICATED
        assert len(development_tokens(data_dir)) == len(server.tokens)
    finally:
        server.stop()
