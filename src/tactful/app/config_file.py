"""Reading the config file and the environment into Settings, here only.

Config file (TOML), every key optional. `KEYS` below is the one table of keys:
the loader reads each table of the file as it says, refuses a key it does not
list, and `tactful config keys` prints it (type, default, meaning);
docs/operations/configuration.md is checked against it. How each value is read
and checked is app/config_readers.py.

Environment: TACTFUL_CONFIG names the config file when no `--config` is given;
TACTFUL_LISTEN, TACTFUL_DATA_DIR, TACTFUL_STORAGE_URL and TACTFUL_VAULT_URL override the
file.
Relative paths in a config file are read relative to that file.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tactful.app.config_oidc import SECRET_VARIABLE, read_oidc
from tactful.app.config_readers import (
    Reader,
    Source,
    choice_field,
    database_url_field,
    duration_field,
    flag_field,
    number_field,
    path_field,
    read_console,
    read_data_dir,
    read_max_message_bytes,
    read_metrics_listen,
    read_principals,
    read_rate_limit,
    read_tls,
    read_vault_epoch,
    refuse_unknown,
    text_field,
)
from tactful.app.http_config import read_http, refuse_plaintext_door
from tactful.app.limits import FailureLimits
from tactful.app.lockout import LockoutPolicy
from tactful.app.settings import (
    DEFAULT_CONSOLE_LISTEN,
    DEFAULT_LISTEN,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_OTLP_ENDPOINT,
    DEVELOPMENT_CONFIG,
    ROLES,
    ConfigError,
    Settings,
    is_loopback,
    parse_listen,
)


def load_settings(config: Path | None, environ: Mapping[str, str]) -> Settings:
    """Settings from `config` (or TACTFUL_CONFIG's file, or the development default) and
    the environment."""
    if config is None and environ.get("TACTFUL_CONFIG"):
        config = Path(environ["TACTFUL_CONFIG"])
        if not config.is_file():
            raise ConfigError(f"TACTFUL_CONFIG={config}: no such file")
    if config is None:
        settings = replace(
            _from_file(DEVELOPMENT_CONFIG), data_dir=Path(".tactful"), development=True
        )
    else:
        settings = _from_file(config)
    if "TACTFUL_LISTEN" in environ:
        settings = replace(settings, listen=environ["TACTFUL_LISTEN"])
    if "TACTFUL_DATA_DIR" in environ:
        settings = replace(settings, data_dir=Path(environ["TACTFUL_DATA_DIR"]))
    for variable, field_name in (
        ("TACTFUL_STORAGE_URL", "storage_url"),
        ("TACTFUL_VAULT_URL", "vault_url"),
    ):
        if variable in environ:
            settings = replace(settings, **database_url_field(field_name)(
                Source(Path(variable), Path.cwd()), variable, environ[variable]
            ))  # fmt: skip
    if SECRET_VARIABLE in environ and settings.console.oidc is not None:
        oidc = replace(settings.console.oidc, client_secret=environ[SECRET_VARIABLE].strip())
        settings = replace(settings, console=replace(settings.console, oidc=oidc))
    if settings.vault_url and not settings.storage_url:
        raise ConfigError("storage.vault_url is set but storage.url is not: the vault"
                          " is on PostgreSQL only when every store is")  # fmt: skip
    parse_listen(settings.listen)
    _refuse_plaintext_metrics(settings)
    refuse_plaintext_door(settings)
    return settings


def _refuse_plaintext_metrics(settings: Settings) -> None:
    """The metrics listener is plain HTTP: like the gRPC listener without [tls], it
    stays on the loopback unless allow_insecure says otherwise."""
    if not settings.metrics_listen or settings.allow_insecure:
        return
    host, _ = parse_listen(settings.metrics_listen)
    if not is_loopback(host):
        raise ConfigError(
            f"metrics.listen: {host} is not a loopback address, and metrics are served in "
            "plaintext; listen on 127.0.0.1 (scrape through a tunnel or a TLS proxy), or set "
            "allow_insecure = true"
        )


def _from_file(path: Path) -> Settings:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return Settings(**_read_table(Source(path, path.resolve().parent), "", raw))


# -- The table of keys: what the loader reads and what `tactful config keys` lists. --


@dataclass(frozen=True)
class ConfigKey:
    """One key of the config file: where it goes, what it takes, and what it does."""

    table: str  # "" for the top level; "access_log" for [access_log], …
    name: str
    type: str  # as listed: text, integer, number, boolean, duration, path, HOST:PORT, …
    default: str  # as listed
    meaning: str
    read: Reader | None = None  # None: read by its table's own reader
    fallback: Any = None  # the raw value the reader sees when the key is absent

    @property
    def place(self) -> str:
        return f"{self.table}.{self.name}" if self.table else self.name


def _table(name: str, not_a_table: str = "") -> Reader:
    """A table read key by key, as the table of keys lists them."""

    def read(src: Source, place: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ConfigError(f"{src.path}: {not_a_table or f'{name} must be a table ([{name}])'}")
        return _read_table(src, name, value)

    return read


def _read_table(src: Source, table: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    refuse_unknown(src.path, table, raw, names_in(table))
    found: dict[str, Any] = {}
    for key in KEYS:
        if key.table == table and key.read is not None:
            found |= key.read(src, key.place, raw.get(key.name, key.fallback))
    return found


def _principals_table(src: Source, place: str, value: Any) -> dict[str, Any]:
    return {"principals": read_principals(src.path, value, names_in("principals"))}


def _rate_limit_table(src: Source, place: str, value: Any) -> dict[str, Any]:
    return read_rate_limit(src.path, value, names_in("rate_limit"))


def _tls_table(src: Source, place: str, value: Any) -> dict[str, Any]:
    return {"tls": read_tls(src.path, src.base, value, names_in("tls"))}


def _http_table(src: Source, place: str, value: Any) -> dict[str, Any]:
    return {"http": read_http(src.path, value, names_in("http"))}


def _console_table(src: Source, place: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{src.path}: console must be a table ([console])")
    rest = {k: v for k, v in value.items() if k != "oidc"}
    console = read_console(src.path, rest, names_in("console") - {"oidc"})
    oidc = read_oidc(src.path, src.base, value.get("oidc"), names_in("console.oidc"))
    return {"console": replace(console, oidc=oidc)}


_LIMITS = FailureLimits()
_LOCKOUT = LockoutPolicy()
# fmt: off
KEYS: tuple[ConfigKey, ...] = (
    ConfigKey("", "listen", "HOST:PORT", f'"{DEFAULT_LISTEN}"',
              "the gRPC address; port 0 picks a free port", text_field("listen"), DEFAULT_LISTEN),
    ConfigKey("", "workers", "integer", "1",
              "server processes sharing the listen port (1 to 256; above 1: PostgreSQL only)",
              number_field("workers", 1, 256, "must be an integer from 1 to 256", whole=True), 1),
    ConfigKey("", "data_dir", "path", '".tactful"',
              "the data folder: behavior.db, vault.db, access_log.db, insights.db, tokens.json",
              read_data_dir, ".tactful"),
    ConfigKey("", "keyring", "path", "<data_dir>/keyring.json",
              "the keyring file (mode 0600)", path_field("keyring")),
    ConfigKey("", "contract", "path", "the example contract",
              "the data contract: events, signals, segments, purposes", path_field("contract")),
    ConfigKey("", "max_message_bytes", "integer", str(DEFAULT_MAX_MESSAGE_BYTES),
              "1024 to 512 MiB; a larger request gets INVALID_ARGUMENT",
              read_max_message_bytes, DEFAULT_MAX_MESSAGE_BYTES),
    ConfigKey("", "min_segment_size", "integer", "10",
              "a segment with fewer members is never released (1: no minimum)",
              number_field("min_segment_size", 1, 1_000_000,
                            "must be an integer from 1 (no minimum)", whole=True), 10),
    ConfigKey("", "thread_switch_ms", "number", "1.0",
              "Python's thread switch interval in the server process, 0.1 to 100",
              number_field("thread_switch_ms", 0.1, 100, "must be a number from 0.1 to 100"), 1.0),
    ConfigKey("", "identity_retention", "duration", '"400d"',
              "vault entries of people inactive this long go at the next retention run",
              duration_field("identity_retention", "smhd", "400d"), "400d"),
    ConfigKey("", "allow_insecure", "boolean", "false",
              "serve plaintext on a non-loopback address (with a warning)",
              flag_field("allow_insecure"), False),
    ConfigKey("", "principals", "array of tables", "none",
              "[[principals]]: who may call, with which roles and purposes",
              _principals_table, []),
    ConfigKey("principals", "name", "text", "required", "as named in the contract's purposes"),
    ConfigKey("principals", "roles", "list of names", "required",
              f"at least one of {', '.join(sorted(ROLES))}"),
    ConfigKey("principals", "purposes", "list of names", "[]",
              "the purposes it may claim (the contract must list it there too)"),
    ConfigKey("principals", "token_sha256", "text", '""',
              "SHA-256 of its token (`tactful tokens new`); or `tactful tokens issue`"),
    ConfigKey("principals", "tls_subject", "text", '""',
              "a URI or DNS SAN of its client certificate (mutual TLS)"),
    ConfigKey("principals", "require", "list of names", '["token"]',
              '["token"], ["tls"] or ["tls", "token"]: what it must present'),
    ConfigKey("", "access_log", "table", "", "[access_log]", _table("access_log"), {}),
    ConfigKey("access_log", "checkpoints", "path", "<data_dir>/access-log.checkpoints",
              "the file of signed checkpoints", path_field("access_log_checkpoints")),
    ConfigKey("access_log", "checkpoint_every", "integer", "1000",
              "records between signed checkpoints",
              number_field("checkpoint_every", 1, 2**63 - 1,
                            "must be a positive integer", whole=True), 1000),
    ConfigKey("access_log", "checkpoint_seconds", "number", "60",
              "and at least this often while records arrive",
              number_field("checkpoint_seconds", math.ulp(0.0), math.inf,
                            "must be a positive number"), 60),
    ConfigKey("access_log", "retention", "duration", '"2190d"',
              "`tactful audit truncate` removes older records",
              duration_field("access_log_retention", "dh", "2190d"), "2190d"),
    ConfigKey("access_log", "commit_window_ms", "number", "5",
              "0 to 1000: under load, at most one fsync per window",
              number_field("commit_window_ms", 0, 1000, "must be from 0 to 1000"), 5),
    ConfigKey("access_log", "record_timeout_ms", "number", "2000",
              "10 to 60000: how long a call waits for its record, then UNAVAILABLE",
              number_field("record_timeout_ms", 10, 60_000, "must be from 10 to 60000"), 2000),
    ConfigKey("access_log", "epoch_seconds", "number", "1",
              "PostgreSQL: how often one server signs every process's chain head (0.05 to 60)",
              number_field("epoch_seconds", 0.05, 60, "must be from 0.05 to 60"), 1),
    ConfigKey("", "storage", "table", "", "[storage]; without it, SQLite files in data_dir",
              _table("storage"), {}),
    ConfigKey("storage", "url", "text", '"" (SQLite)',
              'PostgreSQL for every store, e.g. "postgresql://tactful@db.internal/tactful"',
              database_url_field("storage_url"), ""),
    ConfigKey("storage", "vault_url", "text", "storage.url",
              "the identity vault's own database (or role), so that the behavior"
              " database reveals no identifier", database_url_field("vault_url"), ""),
    ConfigKey("storage", "pool_size", "integer", "8",
              "PostgreSQL connections per database and server process (1 to 100)",
              number_field("pool_size", 1, 100, "must be an integer from 1 to 100",
                            whole=True), 8),
    ConfigKey("", "vault", "table", "", "[vault]", _table("vault"), {}),
    ConfigKey("vault", "epoch", "number", "24",
              "hours: `tactful serve` rotates the vault key this often (an erased identity is"
              " unrecoverable from disk, WAL and backups within it); 0: off",
              read_vault_epoch, 24),
    ConfigKey("", "rate_limit", "table", "", "[rate_limit]", _rate_limit_table, {}),
    ConfigKey("rate_limit", "failed_per_minute", "number", f"{_LIMITS.per_minute:g}",
              "failed calls a peer may make per minute, sustained"),
    ConfigKey("rate_limit", "failed_burst", "integer", str(_LIMITS.burst), "and at once"),
    ConfigKey("rate_limit", "summary_seconds", "number", f"{_LIMITS.summary_s:g}",
              "refused calls are summed up in one record per window"),
    ConfigKey("rate_limit", "global_failed_per_minute", "number",
              f"{_LIMITS.global_per_minute:g}",
              "failed calls recorded per minute from every peer together, sustained"),
    ConfigKey("rate_limit", "global_failed_burst", "integer", str(_LIMITS.global_burst),
              "and at once"),
    ConfigKey("rate_limit", "signin_lockout_after", "integer", str(_LOCKOUT.after),
              "console: refused sign-ins from one address (or one principal's token)"
              " before it is locked out"),
    ConfigKey("rate_limit", "signin_lockout_everyone_after", "integer",
              str(_LOCKOUT.everyone_after),
              "console: refused sign-ins from every address together before all are"),
    ConfigKey("rate_limit", "signin_lockout_seconds", "number", f"{_LOCKOUT.first_s:g}",
              "console: the first lockout; each next one is twice as long"),
    ConfigKey("rate_limit", "signin_lockout_max_seconds", "number", f"{_LOCKOUT.max_s:g}",
              "console: the longest lockout, and the quiet time that forgives"),
    ConfigKey("", "insights", "table", "", "[insights]",
              _table("insights", "insights must be a table with one key, budget"), {}),
    ConfigKey("insights", "budget", "number", "1.0",
              "total epsilon each analyst principal may spend",
              number_field("insights_budget", math.ulp(0.0), math.inf,
                            "must be a positive number of epsilon"), 1.0),
    ConfigKey("", "tls", "table", "", "[tls]; without it, plaintext (loopback only)",
              _tls_table),
    ConfigKey("tls", "cert", "path", "required", "PEM certificate chain, the server's first"),
    ConfigKey("tls", "key", "path", "required", "PEM private key"),
    ConfigKey("tls", "client_ca", "path", "none",
              "PEM CA certificates: client certificates are then required (mutual TLS)"),
    ConfigKey("", "console", "table", "", "[console]: `tactful console`, the compliance web pages",
              _console_table, {}),
    ConfigKey("console", "listen", "HOST:PORT", f'"{DEFAULT_CONSOLE_LISTEN}"',
              "where `tactful console` serves"),
    ConfigKey("console", "session_timeout", "duration", '"8h"',
              "a sign-in lasts this long (and never past its token)"),
    ConfigKey("console", "retention_warning", "duration", '"2d"',
              "warn when no retention run is this recent"),
    ConfigKey("console", "chart_days", "integer", "14", "days of calls and denials drawn"),
    ConfigKey("console", "oidc", "table", "",
              "[console.oidc]: sign-in with an OpenID Connect provider, beside tokens"),
    ConfigKey("console.oidc", "issuer", "text", "required",
              "the provider's issuer URL (https); discovery is read from"
              " {issuer}/.well-known/openid-configuration"),
    ConfigKey("console.oidc", "client_id", "text", "required",
              "the console's client id at the provider"),
    ConfigKey("console.oidc", "client_secret_file", "path", "none",
              f"a file holding the client secret (or the environment's {SECRET_VARIABLE});"
              " none: a public client, PKCE only"),
    ConfigKey("console.oidc", "redirect_url", "text", "required",
              "the console's https://HOST/sign-in/oidc/callback, registered at the provider"),
    ConfigKey("console.oidc", "provider_name", "text", '"your identity provider"',
              'named on the sign-in button: "Sign in with …"'),
    ConfigKey("console.oidc", "scopes", "list of names", '["openid", "profile"]',
              "the scopes asked for; add the one that releases the groups claim if needed"),
    ConfigKey("console.oidc", "groups_claim", "text", '"groups"',
              "the ID token's claim listing the officer's groups"),
    ConfigKey("console.oidc", "principal_claim", "text", '"sub"',
              "the claim that names the officer: the principal is oidc:<issuer host>:<value>"),
    ConfigKey("console.oidc", "ca_file", "path", "the system's CAs",
              "PEM CA certificates the provider's HTTPS certificate must chain to"),
    ConfigKey("console.oidc", "compliance_groups", "list of names", "[]",
              "members of any of these groups get the compliance role"),
    ConfigKey("console.oidc", "privacy_ops_groups", "list of names", "[]",
              "members of any of these groups get the privacy_ops role"),
    ConfigKey("", "http", "table", "", "[http]: the HTTP/JSON door (off without listen)",
              _http_table, {}),
    ConfigKey("http", "listen", "HOST:PORT", '"" (off)',
              "serve the API as HTTP/JSON here too, e.g. \"127.0.0.1:8081\" (TLS with [tls];"
              " off the loopback only with TLS or allow_insecure)"),
    ConfigKey("http", "cors_origins", "list of origins", "[] (none)",
              "web origins whose pages may call the door, e.g. [\"https://shop.example.com\"]"),
    ConfigKey("http", "max_body_bytes", "integer", str(DEFAULT_MAX_BODY_BYTES),
              "1024 to 512 MiB; a larger request body gets 413"),
    ConfigKey("", "metrics", "table", "", "[metrics]", _table("metrics"), {}),
    ConfigKey("metrics", "listen", "HOST:PORT", '"" (off)',
              "Prometheus metrics over plain HTTP on this address, e.g. \"127.0.0.1:9464\""
              " (off the loopback only with allow_insecure)",
              read_metrics_listen, ""),
    ConfigKey("", "log", "table", "", "[log]", _table("log"), {}),
    ConfigKey("log", "format", "text", '"text"',
              '"text" or "json": one line per call and per event',
              choice_field("log_format", ("text", "json")), "text"),
    ConfigKey("log", "level", "text", '"info"',
              '"debug", "info" (a line per call), "warning" or "error"',
              choice_field("log_level", ("debug", "info", "warning", "error")), "info"),
    ConfigKey("log", "file", "path", "standard error",
              "append the log to this file (mode 0600) instead", path_field("log_file")),
    ConfigKey("", "tracing", "table", "", "[tracing]", _table("tracing"), {}),
    ConfigKey("tracing", "enabled", "boolean", "false",
              "a span per call, over OTLP (needs the otel extra:"
              " pip install 'tactful[server,otel]')",
              flag_field("tracing_enabled"), False),
    ConfigKey("tracing", "endpoint", "text", f'"{DEFAULT_OTLP_ENDPOINT}"',
              "the OTLP/gRPC collector to export spans to",
              text_field("tracing_endpoint"), DEFAULT_OTLP_ENDPOINT),
)
# fmt: on


def names_in(table: str) -> set[str]:
    """The keys the table of keys knows in `table` ("" for the top level)."""
    return {k.name for k in KEYS if k.table == table}
