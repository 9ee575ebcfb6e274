"""TLS and mutual TLS over real channels, with certificates made in the test."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tactful.api.server import create_server
from tactful.app._x509 import principal_uri, write_development_pki
from tactful.app.settings import ConfigError, Settings, TlsSettings
from tactful.v1 import (
    access_log_pb2,
    access_log_pb2_grpc,
    common_pb2,
    personalization_pb2,
    personalization_pb2_grpc,
)
from tests.conftest import Tactful, bearer, make_settings

SEGMENTS = personalization_pb2.GetSegmentsRequest(
    subject=common_pb2.SubjectRef(namespace="email", id="ada@example.com"),
    purpose="support_triage",
)
PRINCIPALS = ["support_widget", "web_frontend", "compliance_officer", "stranger"]


def pki(directory: Path, *, now: datetime | None = None, days: int = 30) -> Path:
    write_development_pki(directory, PRINCIPALS, now=now or datetime.now(UTC), days=days)
    return directory


def read(path: Path) -> bytes:
    return path.read_bytes()


def channel(tactful: Tactful, ca: Path, client: tuple[Path, str] | None = None) -> grpc.Channel:
    """A channel trusting `ca`, presenting `client`'s certificate (directory, principal)."""
    key = cert = None
    if client:
        key = read(client[0] / f"client-{client[1]}.key")
        cert = read(client[0] / f"client-{client[1]}.pem")
    credentials = grpc.ssl_channel_credentials(read(ca), key, cert)
    return grpc.secure_channel(f"localhost:{tactful._running.port}", credentials)


def segments(chan: grpc.Channel, principal: str | None = "support_widget") -> grpc.StatusCode:
    stub = personalization_pb2_grpc.PersonalizationStub(chan)
    try:
        stub.GetSegments(SEGMENTS, metadata=bearer(principal) if principal else (), timeout=5)
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def records(chan: grpc.Channel, principal: str = "compliance_officer") -> list:  # type: ignore[type-arg]
    reply = access_log_pb2_grpc.AccessLogStub(chan).QueryAccessLog(
        access_log_pb2.QueryAccessLogRequest(page_size=1000), metadata=bearer(principal), timeout=5
    )
    return list(reply.records)


def tls_settings(directory: Path, *, mutual: bool = False) -> TlsSettings:
    return TlsSettings(
        directory / "server.pem", directory / "server.key", directory / "ca.pem" if mutual else None
    )


def bound(settings: Settings, **by_name: dict[str, object]) -> Settings:
    principals = tuple(replace(p, **by_name.get(p.name, {})) for p in settings.principals)  # type: ignore[arg-type]
    return replace(settings, principals=principals)


# -- TLS ----------------------------------------------------------------------------------


def test_a_client_trusting_the_ca_is_served_others_are_not(
    start_tactful: Callable[..., Tactful], tmp_path: Path
) -> None:
    ours, theirs = pki(tmp_path / "ours"), pki(tmp_path / "theirs")
    tactful = start_tactful(tls=tls_settings(ours))
    assert segments(channel(tactful, ours / "ca.pem")) is grpc.StatusCode.OK
    assert segments(channel(tactful, theirs / "ca.pem")) is grpc.StatusCode.UNAVAILABLE
    plaintext = grpc.insecure_channel(f"127.0.0.1:{tactful._running.port}")
    assert segments(plaintext) is grpc.StatusCode.UNAVAILABLE
    (record,) = [r for r in records(channel(tactful, ours / "ca.pem")) if "GetSegments" in r.method]
    assert record.authenticated_by == "token" and record.certificate_sha256 == ""


def live_copy(of: Path, tmp_path: Path) -> Path:
    """A folder the server reads its certificate from, holding `of`'s server files."""
    live = tmp_path / "live"
    live.mkdir()
    for name in ("server.pem", "server.key"):
        (live / name).write_bytes(read(of / name))
    return live


def replace_whole(live: Path, new: Path, name: str) -> None:
    staged = live / f".{name}.new"  # written aside, then moved in by rename
    staged.write_bytes(read(new / name))
    os.replace(staged, live / name)


def test_replacing_the_files_serves_the_new_certificate_without_a_failed_call(
    start_tactful: Callable[..., Tactful], tmp_path: Path
) -> None:
    old, new = pki(tmp_path / "old"), pki(tmp_path / "new")
    live = live_copy(old, tmp_path)
    tactful = start_tactful(tls=tls_settings(live))
    kept = channel(tactful, old / "ca.pem")  # a connection opened before the rotation
    assert segments(kept) is grpc.StatusCode.OK
    assert segments(channel(tactful, new / "ca.pem")) is grpc.StatusCode.UNAVAILABLE
    for name in ("server.key", "server.pem"):
        replace_whole(live, new, name)
    assert segments(channel(tactful, new / "ca.pem")) is grpc.StatusCode.OK
    assert segments(channel(tactful, old / "ca.pem")) is grpc.StatusCode.UNAVAILABLE
    assert [segments(kept) for _ in range(5)] == [grpc.StatusCode.OK] * 5


def test_a_half_written_rotation_keeps_the_old_certificate_serving(
    start_tactful: Callable[..., Tactful], tmp_path: Path
) -> None:
    old, new = pki(tmp_path / "old"), pki(tmp_path / "new")
    live = live_copy(old, tmp_path)
    tactful = start_tactful(tls=tls_settings(live))
    replace_whole(live, new, "server.pem")  # the key is still the old one: refused
    assert segments(channel(tactful, old / "ca.pem")) is grpc.StatusCode.OK
    assert segments(channel(tactful, new / "ca.pem")) is grpc.StatusCode.UNAVAILABLE
    replace_whole(live, new, "server.key")  # now the pair checks out
    assert segments(channel(tactful, new / "ca.pem")) is grpc.StatusCode.OK


# -- mutual TLS ---------------------------------------------------------------------------


@pytest.fixture
def mutual(start_tactful: Callable[..., Tactful], tmp_path: Path) -> tuple[Tactful, Path]:
    ours = pki(tmp_path / "ours")
    settings = bound(
        make_settings(tmp_path / "unused"),
        support_widget={
            "tls_subject": principal_uri("support_widget"),
            "require": frozenset({"tls"}),
        },
        web_frontend={
            "tls_subject": principal_uri("web_frontend"),
            "require": frozenset({"tls", "token"}),
        },
        compliance_officer={"tls_subject": principal_uri("compliance_officer")},  # token only
    )
    tactful = start_tactful(tls=tls_settings(ours, mutual=True), principals=settings.principals)
    return tactful, ours


def test_a_certificate_alone_authenticates_a_principal_that_requires_only_it(
    mutual: tuple[Tactful, Path],
) -> None:
    tactful, ours = mutual
    chan = channel(tactful, ours / "ca.pem", (ours, "support_widget"))
    assert segments(chan, principal=None) is grpc.StatusCode.OK
    admin = channel(tactful, ours / "ca.pem", (ours, "compliance_officer"))
    (record,) = [r for r in records(admin) if "GetSegments" in r.method]
    assert record.principal == "support_widget" and record.authenticated_by == "certificate"
    der = x509.load_pem_x509_certificate(read(ours / "client-support_widget.pem")).public_bytes(
        serialization.Encoding.DER
    )
    assert record.certificate_sha256 == hashlib.sha256(der).hexdigest()


def test_handshakes_without_a_certificate_of_the_ca_fail(
    mutual: tuple[Tactful, Path], tmp_path: Path
) -> None:
    """gRPC for Python can only require client certificates: these calls never begin, so
    they cannot be recorded (see api/tls.py)."""
    tactful, ours = mutual
    theirs = pki(tmp_path / "theirs")
    assert segments(channel(tactful, ours / "ca.pem")) is grpc.StatusCode.UNAVAILABLE
    foreign = channel(tactful, ours / "ca.pem", (theirs, "support_widget"))
    assert segments(foreign) is grpc.StatusCode.UNAVAILABLE


REFUSALS = {
    # certificate of, token of, why
    "a_token_of_another_principal": ("web_frontend", "support_widget"),
    "a_certificate_bound_to_nobody_no_token": ("stranger", None),
    "both_required_certificate_only": ("web_frontend", None),
    "a_certificate_bound_to_nobody_with_a_token_that_requires_tls": ("stranger", "web_frontend"),
}


@pytest.mark.parametrize(("certificate", "token"), REFUSALS.values(), ids=REFUSALS.keys())
def test_mismatched_credentials_are_unauthenticated_and_recorded(
    mutual: tuple[Tactful, Path], certificate: str, token: str | None
) -> None:
    tactful, ours = mutual
    chan = channel(tactful, ours / "ca.pem", (ours, certificate))
    assert segments(chan, principal=token) is grpc.StatusCode.UNAUTHENTICATED
    admin = channel(tactful, ours / "ca.pem", (ours, "compliance_officer"))
    (record,) = [r for r in records(admin) if "GetSegments" in r.method]
    assert record.status == "UNAUTHENTICATED" and record.principal == "anonymous"
    assert len(record.certificate_sha256) == 64 and record.authenticated_by == ""


def test_certificate_and_token_of_the_same_principal_are_both_recorded(
    mutual: tuple[Tactful, Path],
) -> None:
    tactful, ours = mutual
    chan = channel(tactful, ours / "ca.pem", (ours, "web_frontend"))
    request = personalization_pb2.GetSegmentsRequest(subject=SEGMENTS.subject, purpose="onboarding")
    with pytest.raises(grpc.RpcError) as refused:  # no consent: authenticated all the same
        personalization_pb2_grpc.PersonalizationStub(chan).GetSegments(
            request, metadata=bearer("web_frontend"), timeout=5
        )
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    admin = channel(tactful, ours / "ca.pem", (ours, "compliance_officer"))
    (record,) = [r for r in records(admin) if "GetSegments" in r.method]
    assert (record.principal, record.authenticated_by) == ("web_frontend", "certificate+token")


# -- what the server refuses to start with ------------------------------------------------


def start(settings: Settings) -> None:
    import asyncio

    async def attempt() -> None:
        running = await create_server(settings)
        await running.stop(None)

    asyncio.run(attempt())


def test_plaintext_off_the_loopback_is_refused_unless_allowed(tmp_path: Path) -> None:
    settings = replace(make_settings(tmp_path / "data"), listen="0.0.0.0:0")
    with pytest.raises(ConfigError, match=r"listen: 0\.0\.0\.0 is not a loopback address"):
        start(settings)
    assert not (tmp_path / "data" / "behavior.db").exists()  # refused before opening a store
    start(replace(settings, allow_insecure=True))  # allowed, with a warning


def expired(directory: Path) -> Path:
    return pki(directory, now=datetime.now(UTC) - timedelta(days=60), days=30)


START_ERRORS: dict[str, tuple[Callable[[Path], TlsSettings], str]] = {
    "missing_cert": (
        lambda d: TlsSettings(d / "missing.pem", d / "server.key"),
        r"tls\.cert: .*missing\.pem: cannot read",
    ),
    "key_of_another_certificate": (
        lambda d: TlsSettings(d / "server.pem", d / "client-stranger.key"),
        "tls.key: does not match the certificate in cert",
    ),
    "expired_certificate": (
        lambda d: replace(tls_settings(expired(d / "old"))),
        "tls.cert: valid from .* not now",
    ),
    "client_ca_not_a_ca": (
        lambda d: TlsSettings(d / "server.pem", d / "server.key", d / "server.pem"),
        "tls.client_ca: CN=localhost is not a CA certificate",
    ),
    "cert_not_pem": (
        lambda d: TlsSettings(d / "server.key", d / "server.key"),
        "tls.cert: holds no PEM certificate",
    ),
}


@pytest.mark.parametrize(("make", "message"), START_ERRORS.values(), ids=START_ERRORS.keys())
def test_bad_tls_files_stop_the_server_with_one_line_naming_the_key(
    tmp_path: Path, make: Callable[[Path], TlsSettings], message: str
) -> None:
    directory = pki(tmp_path / "pki")
    settings = replace(make_settings(tmp_path / "data"), tls=make(directory))
    with pytest.raises(ConfigError, match=message) as caught:
        start(settings)
    assert "\n" not in str(caught.value)


def test_the_tls_table_and_certificate_principals_are_read_from_the_config(
    tmp_path: Path,
) -> None:
    from tactful.app.config_file import load_settings

    config = tmp_path / "tactful.toml"
    config.write_text(
        'listen = "0.0.0.0:50051"\n'
        '[tls]\ncert = "pki/server.pem"\nkey = "pki/server.key"\nclient_ca = "pki/ca.pem"\n'
        '[[principals]]\nname = "a"\nroles = ["frontend"]\ntls_subject = "spiffe://x/a"\n'
        '[[principals]]\nname = "b"\nroles = ["frontend"]\ntls_subject = "spiffe://x/b"\n'
        'require = ["tls"]\n'
        '[[principals]]\nname = "c"\nroles = ["frontend"]\n'
    )
    settings = load_settings(config, {})
    assert settings.tls == TlsSettings(
        tmp_path / "pki/server.pem", tmp_path / "pki/server.key", tmp_path / "pki/ca.pem"
    )
    assert [(p.tls_subject, sorted(p.require)) for p in settings.principals] == [
        ("spiffe://x/a", ["tls", "token"]),  # bound to a certificate: both, unless it says
        ("spiffe://x/b", ["tls"]),
        ("", ["token"]),
    ]


@pytest.mark.parametrize(
    ("principal", "message"),
    [
        ('require = ["tls"]', 'require: "tls" needs a tls_subject'),
        ('require = ["password"]', 'require: \\["token"\\], \\["tls"\\] or \\["tls", "token"\\]'),
        ("require = []", "require: "),
        ("tls_subject = 7", "tls_subject: a URI or DNS name"),
    ],
)
def test_a_principals_tls_keys_are_checked(tmp_path: Path, principal: str, message: str) -> None:
    from tactful.app.config_file import load_settings

    config = tmp_path / "tactful.toml"
    config.write_text(f'[[principals]]\nname = "a"\nroles = ["frontend"]\n{principal}\n')
    with pytest.raises(ConfigError, match=message):
        load_settings(config, {})


def test_certs_dev_writes_a_ca_a_server_and_a_client_per_principal_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tactful.cli.main import main

    monkeypatch.chdir(tmp_path)
    directory = tmp_path / "pki"
    assert main(["certs", "dev", str(directory)]) == 0
    out = capsys.readouterr().out
    assert f'cert = "{directory / "server.pem"}"' in out
    names = {p.name for p in directory.iterdir()}
    assert {"ca.pem", "server.pem", "server.key", "client-web_frontend.pem"} <= names
    assert {n for n in names if n.endswith(".key")} == {
        n.replace(".pem", ".key") for n in names if n.endswith(".pem") and n != "ca.pem"
    }
    for key in directory.glob("*.key"):
        assert key.stat().st_mode & 0o777 == 0o600, key
    client = x509.load_pem_x509_certificate(read(directory / "client-web_frontend.pem"))
    sans = client.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == [
        principal_uri("web_frontend")
    ]
    before = read(directory / "ca.pem")
    assert main(["certs", "dev", str(directory)]) == 1
    assert "already exists; it was left untouched" in capsys.readouterr().err
    assert read(directory / "ca.pem") == before
