"""`tactful certs dev` certificates pass a strict RFC 5280 verifier (pyca/cryptography's),
not only OpenSSL's lenient one inside gRPC: the server's for localhost, each client's for
its principal's URI."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.verification import ClientVerifier, PolicyBuilder, Store

from tactful.app._x509 import principal_uri, write_development_pki

NOW = datetime.now(UTC)


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    write_development_pki(tmp_path, ["web_frontend"], now=NOW)
    return tmp_path


def _policy(pki: Path) -> PolicyBuilder:
    return PolicyBuilder().store(Store([_load(pki / "ca.pem")])).time(NOW)


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1"])
def test_the_server_certificate_verifies_for_localhost(pki: Path, name: str) -> None:
    subject: x509.DNSName | x509.IPAddress = (
        x509.DNSName(name) if name == "localhost" else x509.IPAddress(ipaddress.ip_address(name))
    )
    verifier = _policy(pki).build_server_verifier(subject)
    chain = verifier.verify(_load(pki / "server.pem"), [])
    assert chain[-1] == _load(pki / "ca.pem")


def test_a_client_certificate_verifies_and_names_its_principal(pki: Path) -> None:
    verifier: ClientVerifier = _policy(pki).build_client_verifier()
    verified = verifier.verify(_load(pki / "client-web_frontend.pem"), [])
    assert verified.subjects is not None
    assert x509.UniformResourceIdentifier(principal_uri("web_frontend")) in verified.subjects
