"""X.509 for TLS: the one module that builds and reads certificates.

`write_development_pki` makes what `tactful certs dev` writes: a development CA, a
server certificate for localhost and 127.0.0.1, and one client certificate per
principal, each naming the principal in a URI subject alternative name
(`spiffe://tactful.local/<principal>`), the identity a principal's `tls_subject`
is matched against. `check_server_tls` is what `tactful serve` checks at start.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEVELOPMENT_TRUST_DOMAIN = "tactful.local"
_KeyPair = tuple[ec.EllipticCurvePrivateKey, x509.Certificate]


class TlsFileError(Exception):
    """A TLS file cannot be used; the message names the problem."""


def principal_uri(principal: str) -> str:
    """The URI SAN the development certificates give a principal."""
    return f"spiffe://{DEVELOPMENT_TRUST_DOMAIN}/{principal}"


def write_development_pki(
    directory: Path, principals: Iterable[str], *, now: datetime, days: int = 30
) -> list[Path]:
    """A development CA, a server certificate for localhost, and a client certificate
    per principal, as PEM files (keys mode 0600). Refuses to overwrite."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca = _certificate("Tactful development CA", now, days, ca=None)
    server = _certificate(
        "localhost",
        now,
        days,
        ca=ca,
        names=[
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ],
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
    )
    written = [_write(directory / "ca.pem", _pem(ca[1]), 0o644)]
    written += _write_pair(directory, "server", server)
    for name in principals:
        client = _certificate(
            name,
            now,
            days,
            ca=ca,
            names=[x509.UniformResourceIdentifier(principal_uri(name))],
            usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        )
        written += _write_pair(directory, f"client-{name}", client)
    return written


def _certificate(
    common_name: str,
    now: datetime,
    days: int,
    *,
    ca: _KeyPair | None,
    names: list[x509.GeneralName] | None = None,
    usage: x509.ObjectIdentifier | None = None,
) -> _KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    issuer_key, issuer = (key, subject) if ca is None else (ca[0], ca[1].subject)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca is None, path_length=None), critical=True)
        # The key identifiers strict verifiers (RFC 5280 profiles) require to chain a
        # certificate to its issuer: a CA's names itself.
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if ca is None:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return key, builder.sign(issuer_key, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _write_pair(directory: Path, name: str, pair: _KeyPair) -> list[Path]:
    key = pair[0].private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return [
        _write(directory / f"{name}.pem", _pem(pair[1]), 0o644),
        _write(directory / f"{name}.key", key, 0o600),
    ]


def _write(path: Path, data: bytes, mode: int) -> Path:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError:
        raise TlsFileError(f"{path}: already exists; it was left untouched") from None
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return path


# -- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerTls:
    """PEM bytes checked to belong together, as gRPC takes them."""

    key: bytes
    chain: bytes
    client_ca: bytes | None
    not_after: datetime


def check_server_tls(
    cert: bytes, key: bytes, client_ca: bytes | None, *, now: datetime
) -> ServerTls:
    """The server's certificate chain, key and client CA, or TlsFileError saying which
    is wrong: unreadable, a key that does not match the certificate, a certificate
    not valid at `now`, a client CA that is not a CA."""
    chain = _certificates(cert, "cert")
    try:
        private = serialization.load_pem_private_key(key, password=None)
    except (ValueError, TypeError) as exc:
        raise TlsFileError(f"key: not an unencrypted PEM private key ({exc})") from None
    leaf = chain[0]
    if private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise TlsFileError("key: does not match the certificate in cert")
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        raise TlsFileError(
            f"cert: valid from {leaf.not_valid_before_utc.isoformat()} to "
            f"{leaf.not_valid_after_utc.isoformat()}, not now"
        )
    if client_ca is not None:
        for authority in _certificates(client_ca, "client_ca"):
            try:
                is_ca = authority.extensions.get_extension_for_class(x509.BasicConstraints)
            except x509.ExtensionNotFound:
                is_ca = None
            if is_ca is None or not is_ca.value.ca:
                raise TlsFileError(
                    f"client_ca: {authority.subject.rfc4514_string()} is not a CA certificate"
                )
    return ServerTls(key, cert, client_ca, leaf.not_valid_after_utc)


def _certificates(pem: bytes, key: str) -> list[x509.Certificate]:
    try:
        found = x509.load_pem_x509_certificates(pem)
    except ValueError:
        found = []
    if not found:
        raise TlsFileError(f"{key}: holds no PEM certificate")
    return found


def certificate_identity(pem: bytes) -> tuple[str, frozenset[str]]:
    """The SHA-256 fingerprint (hex) of a PEM certificate and its URI and DNS names."""
    certificate = x509.load_pem_x509_certificate(pem)
    fingerprint = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()
    try:
        alternative = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value
    except x509.ExtensionNotFound:
        return fingerprint, frozenset()
    names = alternative.get_values_for_type(x509.UniformResourceIdentifier)
    names += alternative.get_values_for_type(x509.DNSName)
    return fingerprint, frozenset(names)
