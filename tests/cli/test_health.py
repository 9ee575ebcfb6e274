"""`tactful health` against a real server on port 0: SERVING and exit 0, or one line
saying why not and exit 1 (what a container's HEALTHCHECK reads)."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from tactful.app._x509 import write_development_pki
from tactful.app.settings import TlsSettings
from tactful.cli.health import _loopback
from tactful.cli.main import main
from tactful.privacy.access_log import AccessLogUnavailable
from tactful.storage.sqlite.access_log import SqliteAccessLog
from tests.conftest import Tactful, email


def test_a_serving_server_is_healthy(tactful: Tactful, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["health", "--target", tactful.target]) == 0
    assert capsys.readouterr().out == "SERVING\n"


def test_json_says_the_status_and_what_was_asked(
    tactful: Tactful, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["health", "--target", tactful.target, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document == {"target": tactful.target, "service": "", "status": "SERVING"}


def test_one_service_of_the_server(tactful: Tactful, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["health", "--target", tactful.target, "--service", "tactful.v1.Personalization"]
    assert main(argv) == 0
    assert main(["health", "--target", tactful.target, "--service", "tactful.v1.Nothing"]) == 1
    err = capsys.readouterr().err
    assert (
        err
        == f"tactful: health: {tactful.target}: the server knows no service 'tactful.v1.Nothing'\n"
    )


def test_a_server_that_cannot_record_is_unhealthy(
    tactful: Tactful, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The access log fails closed: the server says NOT_SERVING, and so does the probe."""

    def failing_append(self: SqliteAccessLog, entries: object, *, now_us: int) -> None:
        raise AccessLogUnavailable("access log write failed: disk I/O error")

    monkeypatch.setattr(SqliteAccessLog, "append", failing_append)
    with pytest.raises(grpc.RpcError):
        tactful.segments(email("ada@example.com"))
    assert main(["health", "--target", tactful.target]) == 1
    assert capsys.readouterr().err == f"tactful: health: {tactful.target}: NOT_SERVING\n"
    monkeypatch.undo()
    tactful.segments(email("ada@example.com"))
    assert main(["health", "--target", tactful.target]) == 0


def test_no_server_is_unhealthy_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        target = f"127.0.0.1:{unused.getsockname()[1]}"
    assert main(["health", "--target", target, "--timeout", "2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"tactful: health: {target}: UNAVAILABLE")
    assert err.count("\n") == 1


def test_the_config_says_where_a_wildcard_listener_is_asked(
    tactful: Tactful, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = tactful.target.rpartition(":")[2]
    config = tmp_path / "tactful.toml"
    config.write_text(f'listen = "0.0.0.0:{port}"\nallow_insecure = true\n')
    assert main(["health", "--config", str(config)]) == 0
    assert capsys.readouterr().out == "SERVING\n"


@pytest.fixture
def mutual_tls(start_tactful: Callable[..., Tactful], tmp_path: Path) -> tuple[Tactful, Path]:
    pki = tmp_path / "pki"
    write_development_pki(pki, ["web_frontend"], now=datetime.now(UTC))
    tls = TlsSettings(pki / "server.pem", pki / "server.key", client_ca=pki / "ca.pem")
    return start_tactful(tls=tls), pki


def test_over_mutual_tls_with_a_client_certificate(
    mutual_tls: tuple[Tactful, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    server, pki = mutual_tls
    target = "localhost:" + server.target.rpartition(":")[2]
    ca = ["--tls-ca", str(pki / "ca.pem")]
    client = ["--tls-cert", str(pki / "client-web_frontend.pem")]
    client += ["--tls-key", str(pki / "client-web_frontend.key")]
    assert main(["health", "--target", target, *ca, *client]) == 0
    assert capsys.readouterr().out == "SERVING\n"
    # Without a client certificate the handshake fails; plaintext is no answer either.
    assert main(["health", "--target", target, *ca, "--timeout", "2"]) == 1
    assert main(["health", "--target", target, "--timeout", "2"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert [line.startswith(f"tactful: health: {target}: UNAVAILABLE") for line in lines] == [
        True,
        True,
    ]


def test_half_a_client_certificate_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["health", "--tls-cert", "client.pem"]) == 1
    assert "--tls-cert and --tls-key go together" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("listen", "asked"),
    [
        ("0.0.0.0:50051", "127.0.0.1:50051"),
        ("[::]:50051", "[::1]:50051"),
        ("10.0.0.7:50051", "10.0.0.7:50051"),
        ("tactful.internal:443", "tactful.internal:443"),
    ],
)
def test_a_wildcard_listener_is_asked_on_the_loopback(listen: str, asked: str) -> None:
    assert _loopback(listen) == asked
