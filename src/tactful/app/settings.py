"""Settings: the values Tactful runs with, and their defaults.

One `Settings` value holds everything the server, the console and the commands are
configured with; app/config_file.py reads it, from the config file and the
environment, in one place.

With no config file Tactful runs the embedded development default: the
principals of app/examples/development.toml, data in ./.tactful, a development
keyring created on first start, the example contract, and a fresh development
token for every principal, printed at start. Both files ship inside the package
(an installed `tactful` finds them in site-packages); examples/ in the repository
holds the same files for readers.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from tactful.app.limits import FailureLimits
from tactful.app.lockout import LockoutPolicy

DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_CONSOLE_LISTEN = "127.0.0.1:8080"
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024  # JSON is larger than the same message in protobuf
DEFAULT_OTLP_ENDPOINT = "http://127.0.0.1:4317"


def _installed_as_files(resource: Traversable) -> Path:
    """A packaged resource as a path the loader can read (and resolve relative paths
    from): true of a wheel installed into site-packages and of a checkout."""
    if not isinstance(resource, Path):
        raise RuntimeError(f"tactful must be installed as files, not run from {resource}")
    return resource


EXAMPLES = _installed_as_files(files("tactful.app") / "examples")
EXAMPLE_CONTRACT = EXAMPLES / "contract.toml"
DEVELOPMENT_CONFIG = EXAMPLES / "development.toml"
ROLES = frozenset({"frontend", "agent", "compliance", "analyst", "privacy_ops", "admin"})


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key and the fix."""


@dataclass(frozen=True)
class PrincipalConfig:
    name: str
    token_sha256: str = field(repr=False)  # "" if tokens are only issued
    roles: frozenset[str] = frozenset()
    purposes: frozenset[str] = frozenset()
    tls_subject: str = ""  # a URI or DNS SAN of its client certificate (mutual TLS)
    require: frozenset[str] = frozenset({"token"})  # what it must present: tls, token


@dataclass(frozen=True)
class TlsSettings:
    cert: Path  # PEM certificate chain, the server's first
    key: Path  # PEM private key
    client_ca: Path | None = None  # PEM CA certificates: client certificates are required


@dataclass(frozen=True)
class OidcSettings:
    """The [console.oidc] table: officers sign in to the console with the company's
    OpenID Connect provider, their groups mapped to console roles."""

    issuer: str  # https://…; discovery is at {issuer}/.well-known/openid-configuration
    client_id: str
    redirect_url: str  # the console's /sign-in/oidc/callback as the browser reaches it
    client_secret: str = field(default="", repr=False)  # "": a public client (PKCE only)
    provider_name: str = "your identity provider"  # as the sign-in button names it
    scopes: tuple[str, ...] = ("openid", "profile")
    groups_claim: str = "groups"  # the ID token's claim listing the officer's groups
    principal_claim: str = "sub"  # the claim that names the officer in the access log
    compliance_groups: frozenset[str] = frozenset()  # members get the compliance role
    privacy_ops_groups: frozenset[str] = frozenset()  # members get the privacy_ops role
    ca_file: Path | None = None  # PEM CAs the provider's certificate must chain to; None: system's

    def roles_of(self, groups: frozenset[str]) -> frozenset[str]:
        """The console roles that `groups` map to.

        >>> oidc = OidcSettings("https://id", "c", "https://c/cb",
        ...                     compliance_groups=frozenset({"audit"}))
        >>> sorted(oidc.roles_of(frozenset({"audit", "staff"}))), oidc.roles_of(frozenset())
        (['compliance'], frozenset())
        """
        mapped = (("compliance", self.compliance_groups), ("privacy_ops", self.privacy_ops_groups))
        return frozenset(role for role, members in mapped if groups & members)


@dataclass(frozen=True)
class ConsoleSettings:
    """The [console] table: `tactful console`, the compliance officers' web pages."""

    listen: str = DEFAULT_CONSOLE_LISTEN
    session_timeout: str = "8h"  # a sign-in lasts this long (and never past its token)
    retention_warning: str = "2d"  # warn when no retention run is this recent
    chart_days: int = 14  # days of calls and denials drawn per purpose
    oidc: OidcSettings | None = None  # [console.oidc]; None: token sign-in only


@dataclass(frozen=True)
class HttpSettings:
    """The [http] table: the HTTP/JSON door (api/http_door.py), off unless `listen`."""

    listen: str = ""  # HOST:PORT of the door; "": no door
    cors_origins: tuple[str, ...] = ()  # the web origins whose pages may call it
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES  # a larger request body gets 413


@dataclass(frozen=True)
class Settings:
    listen: str = DEFAULT_LISTEN
    workers: int = 1  # server processes on `listen` (`tactful serve --workers`)
    data_dir: Path = Path(".tactful")
    keyring: Path | None = None  # default: data_dir / keyring.json
    contract: Path = EXAMPLE_CONTRACT
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    principals: tuple[PrincipalConfig, ...] = ()
    access_log_checkpoints: Path | None = None  # default: data_dir / access-log.checkpoints
    checkpoint_every: int = 1000  # records between signed checkpoints
    checkpoint_seconds: float = 60.0  # and at least this often while records arrive
    access_log_retention: str = "2190d"  # six years
    commit_window_ms: float = 5.0  # under load, at most one access-log fsync per window
    record_timeout_ms: float = 2000.0  # a call whose record is not durable by then: UNAVAILABLE
    failure_limits: FailureLimits = FailureLimits()  # failed calls per peer and in all
    signin_lockout: LockoutPolicy = LockoutPolicy()  # the console's ([rate_limit] signin_*)
    tls: TlsSettings | None = None  # [tls]; None: plaintext, refused off the loopback
    allow_insecure: bool = False  # plaintext on a non-loopback address, with a warning
    identity_retention: str = "400d"  # vault entries of people inactive this long go
    min_segment_size: int = 10  # a segment with fewer members is never released
    insights_budget: float = 1.0  # total epsilon per principal for differential privacy
    thread_switch_ms: float = 1.0  # Python's thread switch interval in the server process
    metrics_listen: str = ""  # [metrics] listen: HOST:PORT of the Prometheus listener; "": off
    log_format: str = "text"  # [log] format: "text" or "json"
    log_level: str = "info"  # [log] level; "info" logs a line per call
    log_file: Path | None = None  # [log] file; None: standard error
    tracing_enabled: bool = False  # [tracing] enabled: a span per call over OTLP
    tracing_endpoint: str = DEFAULT_OTLP_ENDPOINT  # [tracing] endpoint
    development: bool = False  # create a keyring if missing, issue a dev token
    console: ConsoleSettings = ConsoleSettings()  # [console]
    http: HttpSettings = HttpSettings()  # [http]: the HTTP/JSON door
    storage_url: str = ""  # [storage] url: "" is SQLite in data_dir; else postgresql://…
    vault_url: str = ""  # [storage] vault_url: the vault's database; "": storage_url's
    pool_size: int = 8  # [storage] pool_size: PostgreSQL connections per store and process
    epoch_seconds: float = 1.0  # [access_log] epoch_seconds: PostgreSQL's signed epochs
    vault_epoch_hours: float = 24.0  # [vault] epoch: `tactful serve` rotates the vault key; 0: off

    @property
    def keyring_path(self) -> Path:
        return self.keyring or self.data_dir / "keyring.json"

    @property
    def vault_database(self) -> str:
        """The vault's PostgreSQL URL (its own database or role, or the main one)."""
        return self.vault_url or self.storage_url

    @property
    def tokens_path(self) -> Path:
        return self.data_dir / "tokens.json"

    @property
    def checkpoints_path(self) -> Path:
        return self.access_log_checkpoints or self.data_dir / "access-log.checkpoints"

    def with_principal(self, principal: PrincipalConfig) -> Settings:
        return replace(self, principals=(*self.principals, principal))


def is_loopback(host: str) -> bool:
    """Whether `host` is a loopback address (a name other than localhost may resolve to
    anything, so it is not)."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"listen: {listen!r} is not HOST:PORT, e.g. 127.0.0.1:50051")
    return host, int(port)
