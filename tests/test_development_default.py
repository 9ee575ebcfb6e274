"""`tactful serve` with no config (what `make run` does) and the example client."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TACTFUL = Path(sys.executable).parent / "tactful"


def test_embedded_default_serves_the_example_client(tmp_path: Path) -> None:
    env = {**os.environ, "TACTFUL_DATA_DIR": str(tmp_path / "data")}
    server = subprocess.Popen(
        [str(TACTFUL), "serve", "--listen", "127.0.0.1:0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        lines = []
        for line in server.stdout:
            lines.append(line)
            if "listening on" in line:
                break
        output = "".join(lines)
        token = re.search(r"(tf_[\w-]+)", output)
        port = re.search(r"listening on 127\.0\.0\.1:(\d+)", output)
        assert token and port, output
        assert "created development keyring" in output
        assert (tmp_path / "data" / "keyring.json").stat().st_mode & 0o077 == 0

        client = subprocess.run(
            [
                sys.executable,
                str(ROOT / "examples" / "frontend_client.py"),
                "--target",
                f"127.0.0.1:{port.group(1)}",
                "--token",
                token.group(1),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert client.returncode == 0, client.stderr
        assert "recorded: 2 events stored" in client.stdout
        assert "new_visitor" in client.stdout
        assert "signal pages_viewed_24h: 1" in client.stdout
        assert "signal signup_plan: trial" in client.stdout

        refused = subprocess.run(
            [
                sys.executable,
                str(ROOT / "examples" / "frontend_client.py"),
                "--target",
                f"127.0.0.1:{port.group(1)}",
                "--token",
                "tf_wrong",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert refused.returncode == 1 and "UNAUTHENTICATED" in refused.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        rest, _ = server.communicate(timeout=30)
    assert server.returncode == 0, rest
    assert "stopping" in rest
