"""The console on the embedded development default: `tactful serve` says how to start
it, and a console with no --config accepts the compliance token that server printed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from dataclasses import replace
from pathlib import Path

import httpx

from tactful.app.config_file import load_settings
from tactful.cli.console import start_in_thread, with_listen
from tests.cli.test_serve import TACTFUL
from tests.console.conftest import csrf_of


def test_the_development_server_tells_how_to_open_the_console_and_its_token_signs_in(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    server = subprocess.Popen(
        [str(TACTFUL), "serve", "--listen", "127.0.0.1:0"],
        env={**os.environ, "TACTFUL_DATA_DIR": str(data_dir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert server.stdout is not None
    try:
        lines = []
        for line in server.stdout:
            lines.append(line)
            if "listening on" in line:
                break
        output = "".join(lines)
        assert "run `tactful console`" in output and "http://127.0.0.1:8080/" in output
        token = re.search(
            r"development token for compliance_officer \(compliance\): (tf_\S+)", output
        )
        assert token, output
        settings = load_settings(None, {"TACTFUL_DATA_DIR": str(data_dir)})
        assert settings.development and settings.console.listen == "127.0.0.1:8080"
        console = start_in_thread(with_listen(replace(settings), "127.0.0.1:0"))
        try:
            with httpx.Client(base_url=console.url, follow_redirects=False) as client:
                form = client.get("/sign-in")
                data = {"token": token.group(1), "csrf": csrf_of(form.text)}
                assert client.post("/sign-in", data=data).status_code == 303
                assert client.get("/access-log").status_code == 200
        finally:
            console.stop()
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
