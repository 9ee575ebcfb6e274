"""The listening port's credentials: TLS from PEM files, reloaded when they change,
and no plaintext off the loopback unless the operator says so.

gRPC asks for the certificate configuration at every new handshake; the files are
looked at (one `stat` each) and read again only when they changed, and a new set
is used only once it checks out (key matches certificate, valid now), so a
rotation half written, or a bad file, leaves the old certificate serving and says
so in the log. Connections already open keep theirs. TLS 1.2 is the least gRPC
negotiates.

gRPC for Python can either not ask for client certificates or require one signed
by `client_ca`: with `client_ca` set, a connection without a valid client
certificate fails its handshake, before any call exists to be recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import grpc

from tactful.app._x509 import ServerTls, TlsFileError, check_server_tls
from tactful.app.settings import ConfigError, Settings, TlsSettings, is_loopback

log = logging.getLogger("tactful.server")
_Stamp = tuple[tuple[int, int], ...]


def check_transport(settings: Settings, host: str) -> str | None:
    """ConfigError for plaintext on a non-loopback address without allow_insecure; the
    warning to print when it is allowed; None when there is nothing to say."""
    if settings.tls is not None or is_loopback(host):
        return None
    if not settings.allow_insecure:
        raise ConfigError(
            f"listen: {host} is not a loopback address, and bearer tokens and identifiers "
            "would cross the network in plaintext; configure [tls] cert and key, or set "
            "allow_insecure = true (not for production)"
        )
    return f"WARNING: serving plaintext on {host} (allow_insecure = true); use [tls] in production"


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class ReloadingCredentials:
    """Server credentials from the [tls] files, re-read when they change.

    Certificates are checked against the real clock, as every peer checks them."""

    def __init__(self, tls: TlsSettings, clock: Callable[[], datetime] = _wall_clock) -> None:
        self._tls = tls
        self._clock = clock
        self._stamp = self._stamp_now()
        self.current = self._load(self._where_missing)
        self._refused: _Stamp | None = None

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(
            self._configuration(self.current),
            # grpc documents None as "keep the current certificate"; typeshed's stub
            # (types-grpcio 1.85) leaves it out of the fetcher's return type.
            self._fetch,  # type: ignore[arg-type]
            require_client_authentication=self._tls.client_ca is not None,
        )

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        stamp = self._stamp_now()
        if stamp == self._stamp or stamp == self._refused:
            return None
        try:
            loaded = self._load(lambda key, exc: TlsFileError(f"{key}: cannot read: {exc}"))
        except TlsFileError as exc:
            self._refused = stamp
            log.error("tls: new files not used, the old certificate keeps serving: %s", exc)
            return None
        self._stamp, self.current = stamp, loaded
        log.info("tls: certificate reloaded (valid until %s)", loaded.not_after.isoformat())
        return self._configuration(loaded)

    def _load(self, missing: Callable[[str, OSError], Exception]) -> ServerTls:
        contents: dict[str, bytes | None] = {}
        for key, path in self._paths():
            try:
                contents[key] = path.read_bytes() if path else None
            except OSError as exc:
                raise missing(key, exc) from None
        cert, key_pem = contents["cert"], contents["key"]
        assert cert is not None and key_pem is not None
        return check_server_tls(cert, key_pem, contents["client_ca"], now=self._clock())

    def _where_missing(self, key: str, exc: OSError) -> ConfigError:
        path = dict(self._paths())[key]
        return ConfigError(f"tls.{key}: {path}: cannot read: {exc.strerror}")

    def _paths(self) -> list[tuple[str, Path | None]]:
        return [
            ("cert", self._tls.cert),
            ("key", self._tls.key),
            ("client_ca", self._tls.client_ca),
        ]

    def _stamp_now(self) -> _Stamp:
        stamps = []
        for _, path in self._paths():
            try:
                status = path.stat() if path else None
            except OSError:
                status = None
            stamps.append((status.st_mtime_ns, status.st_size) if status else (0, -1))
        return tuple(stamps)

    @staticmethod
    def _configuration(tls: ServerTls) -> grpc.ServerCertificateConfiguration:
        return grpc.ssl_server_certificate_configuration([(tls.key, tls.chain)], tls.client_ca)


def server_credentials(settings: Settings) -> grpc.ServerCredentials:
    """The [tls] credentials, or ConfigError naming the key that is wrong."""
    assert settings.tls is not None
    try:
        return ReloadingCredentials(settings.tls).credentials()
    except TlsFileError as exc:
        raise ConfigError(f"tls.{exc}") from None
