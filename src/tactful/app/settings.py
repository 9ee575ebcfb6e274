"""Settings: read once, from the config file and the environment, here only.

Config file (TOML), every key optional. `KEYS` below is the one table of keys:
the loader reads each table of the file as it says, refuses a key it does not
list, and `tactful config keys` prints it (type, default, meaning);
docs/operations/configuration.md is checked against it.

Environment: TACTFUL_LISTEN, TACTFUL_DATA_DIR, TACTFUL_STORAGE_URL and TACTFUL_VAULT_URL
override the file.
Relative paths in a config file are read relative to that file.

With no config file Tactful runs the embedded development default: the
principals of app/examples/development.toml, data in ./.tactful, a development
keyring created on first start, the example contract, and a fresh development
token for every principal, printed at start. Both files ship inside the package
(an installed `tactful` finds them in site-packages); examples/ in the repository
holds the same files for readers.
"""

from __future__ import annotations

import ipaddress
import math
import re
import tomllib
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from tactful.app.limits import FailureLimits
from tactful.app.lockout import LockoutPolicy
from tactful.privacy.contract import unknown_keys

DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_CONSOLE_LISTEN = "127.0.0.1:8080"
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
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
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key and the fix."""


def _refuse_unknown(path: Path, where: str, table: Mapping[str, Any], known: set[str]) -> None:
    """ConfigError naming each key of `table` (at `where`) that is not `known`, with
    "did you mean" for a near miss: the one check of every table of the config file."""
    problems = unknown_keys(where, table, known)
    if problems:
        raise ConfigError(
            f"{path}: " + "; ".join(problems) + " (`tactful config keys` lists every key)"
        )


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
class ConsoleSettings:
    """The [console] table: `tactful console`, the compliance officers' web pages."""

    listen: str = DEFAULT_CONSOLE_LISTEN
    session_timeout: str = "8h"  # a sign-in lasts this long (and never past its token)
    retention_warning: str = "2d"  # warn when no retention run is this recent
    chart_days: int = 14  # days of calls and denials drawn per purpose


@dataclass(frozen=True)
class Settings:
    listen: str = DEFAULT_LISTEN
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


def load_settings(config: Path | None, environ: Mapping[str, str]) -> Settings:
    """Settings from `config` (or the development default) and the environment."""
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
            settings = replace(settings, **_database_url(field_name)(
                _Source(Path(variable), Path.cwd()), variable, environ[variable]
            ))  # fmt: skip
    if settings.vault_url and not settings.storage_url:
        raise ConfigError("storage.vault_url is set but storage.url is not: the vault"
                          " is on PostgreSQL only when every store is")  # fmt: skip
    parse_listen(settings.listen)
    _refuse_plaintext_metrics(settings)
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


def _from_file(path: Path) -> Settings:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return Settings(**_read_table(_Source(path, path.resolve().parent), "", raw))


# -- The table of keys: what the loader reads and what `tactful config keys` lists. --


@dataclass(frozen=True)
class _Source:
    path: Path  # the config file, named in every message
    base: Path  # relative paths are read from here


# (source, place, value) -> Settings fields; the value is the key's `fallback` if absent
_Reader = Callable[[_Source, str, Any], dict[str, Any]]


@dataclass(frozen=True)
class ConfigKey:
    """One key of the config file: where it goes, what it takes, and what it does."""

    table: str  # "" for the top level; "access_log" for [access_log], …
    name: str
    type: str  # as listed: text, integer, number, boolean, duration, path, HOST:PORT, …
    default: str  # as listed
    meaning: str
    read: _Reader | None = None  # None: read by its table's own reader
    fallback: Any = None  # the raw value the reader sees when the key is absent

    @property
    def place(self) -> str:
        return f"{self.table}.{self.name}" if self.table else self.name


def _text_field(field_name: str) -> _Reader:
    def read(src: _Source, place: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, str):
            raise ConfigError(f"{src.path}: {place} must be text")
        return {field_name: value}

    return read


def _path_field(field_name: str) -> _Reader:
    """A path relative to the config file; absent: the Settings default."""

    def read(src: _Source, place: str, value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{src.path}: {place} must be the path of a file")
        return {field_name: src.base / value}

    return read


def _flag_field(field_name: str) -> _Reader:
    def read(src: _Source, place: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, bool):
            raise ConfigError(f"{src.path}: {place} must be true or false")
        return {field_name: value}

    return read


def _number_field(
    field_name: str, low: float, high: float, message: str, *, whole: bool = False
) -> _Reader:
    """A number from `low` to `high`; `message` says so when it is not."""
    kinds: tuple[type, ...] = (int,) if whole else (int, float)

    def read(src: _Source, place: str, value: Any) -> dict[str, Any]:
        if type(value) not in kinds or not math.isfinite(value) or not low <= value <= high:
            raise ConfigError(f"{src.path}: {place} {message}")
        return {field_name: value if whole else float(value)}

    return read


def _choice_field(field_name: str, choices: tuple[str, ...]) -> _Reader:
    def read(src: _Source, place: str, value: Any) -> dict[str, Any]:
        if value not in choices:
            listed = " or ".join(f'"{c}"' for c in choices)
            raise ConfigError(f"{src.path}: {place} must be {listed}")
        return {field_name: value}

    return read


def _vault_epoch(src: _Source, place: str, value: Any) -> dict[str, Any]:
    """Hours: 0 (no schedule), or from one minute to a year."""
    if type(value) not in (int, float) or not (value == 0 or 1 / 60 <= value <= 8760):
        raise ConfigError(f"{src.path}: {place} must be 0 (off) or hours from 1/60 to 8760")
    return {"vault_epoch_hours": float(value)}


def _data_dir(src: _Source, place: str, value: Any) -> dict[str, Any]:
    return {"data_dir": src.base / _text_field("data_dir")(src, place, value)["data_dir"]}


def _max_message_bytes(src: _Source, place: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, int) or not 1024 <= value <= 512 * 1024 * 1024:
        raise ConfigError(f"{src.path}: max_message_bytes must be an integer from 1024 to 512 MiB")
    return {"max_message_bytes": value}


def _duration(field_name: str, units: str, example: str) -> _Reader:
    def read(src: _Source, place: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, str) or not re.fullmatch(rf"[0-9]{{1,7}}[{units}]", value):
            raise ConfigError(f'{src.path}: {place} must be a duration such as "{example}"')
        return {field_name: value}

    return read


def _database_url(field_name: str) -> _Reader:
    """A PostgreSQL connection URL; "" (SQLite) where allowed. A password belongs in the
    libpq password file (~/.pgpass) or PGPASSWORD, not in the config file."""

    def read(src: _Source, place: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, str) or not (
            value == "" or value.startswith(("postgresql://", "postgres://"))
        ):
            raise ConfigError(
                f'{src.path}: {place} must be a URL such as "postgresql://tactful@db/tactful"'
            )
        if value and _holds_password(value):
            raise ConfigError(
                f"{src.path}: {place} holds a password; put it in ~/.pgpass or PGPASSWORD"
            )
        return {field_name: value}

    return read


def _holds_password(url: str) -> bool:
    """Whether a connection URL names a password, after `user:` or as `?password=`
    (without importing the PostgreSQL driver, an optional extra)."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is not None:
        return True
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    return any(key.lower() == "password" for key in query)


def _metrics_listen(src: _Source, place: str, value: Any) -> dict[str, Any]:
    if value == "":
        return {}
    if not isinstance(value, str):
        raise ConfigError(f"{src.path}: {place} must be text")
    try:
        parse_listen(value)
    except ConfigError:
        raise ConfigError(
            f'{src.path}: {place}: {value!r} is not HOST:PORT, e.g. "127.0.0.1:9464"'
        ) from None
    return {"metrics_listen": value}


def _table(name: str, not_a_table: str = "") -> _Reader:
    """A table read key by key, as the table of keys lists them."""

    def read(src: _Source, place: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ConfigError(f"{src.path}: {not_a_table or f'{name} must be a table ([{name}])'}")
        return _read_table(src, name, value)

    return read


def _read_table(src: _Source, table: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    _refuse_unknown(src.path, table, raw, names_in(table))
    found: dict[str, Any] = {}
    for key in KEYS:
        if key.table == table and key.read is not None:
            found |= key.read(src, key.place, raw.get(key.name, key.fallback))
    return found


def _principals_table(src: _Source, place: str, value: Any) -> dict[str, Any]:
    return {"principals": _principals(src.path, value)}


def _rate_limit_table(src: _Source, place: str, value: Any) -> dict[str, Any]:
    return _rate_limit(src.path, value)


def _tls_table(src: _Source, place: str, value: Any) -> dict[str, Any]:
    return {"tls": _tls(src.path, src.base, value)}


def _console_table(src: _Source, place: str, raw: Any) -> dict[str, Any]:
    """The [console] table: listen, session_timeout, retention_warning, chart_days."""
    path = src.path
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: console must be a table ([console])")
    _refuse_unknown(path, "console", raw, names_in("console"))
    default = ConsoleSettings()
    listen = raw.get("listen", default.listen)
    if not isinstance(listen, str):
        raise ConfigError(f"{path}: console.listen must be text")
    try:
        parse_listen(listen)
    except ConfigError as exc:
        raise ConfigError(f"{path}: console.{exc}") from None
    durations = {}
    for key in ("session_timeout", "retention_warning"):
        value = raw.get(key, getattr(default, key))
        if not isinstance(value, str) or not re.fullmatch(r"[0-9]{1,7}[smhd]", value):
            raise ConfigError(f'{path}: console.{key} must be a duration such as "8h"')
        if int(value[:-1]) == 0:
            raise ConfigError(f"{path}: console.{key} must be longer than 0")
        durations[key] = value
    days = raw.get("chart_days", default.chart_days)
    if type(days) is not int or not 1 <= days <= 366:
        raise ConfigError(f"{path}: console.chart_days must be an integer from 1 to 366")
    return {"console": ConsoleSettings(listen, durations["session_timeout"],
                                       durations["retention_warning"], days)}  # fmt: skip


_LIMITS = FailureLimits()
_LOCKOUT = LockoutPolicy()
# fmt: off
KEYS: tuple[ConfigKey, ...] = (
    ConfigKey("", "listen", "HOST:PORT", f'"{DEFAULT_LISTEN}"',
              "the gRPC address; port 0 picks a free port", _text_field("listen"), DEFAULT_LISTEN),
    ConfigKey("", "data_dir", "path", '".tactful"',
              "the data folder: behavior.db, vault.db, access_log.db, insights.db, tokens.json",
              _data_dir, ".tactful"),
    ConfigKey("", "keyring", "path", "<data_dir>/keyring.json",
              "the keyring file (mode 0600)", _path_field("keyring")),
    ConfigKey("", "contract", "path", "the example contract",
              "the data contract: events, signals, segments, purposes", _path_field("contract")),
    ConfigKey("", "max_message_bytes", "integer", str(DEFAULT_MAX_MESSAGE_BYTES),
              "1024 to 512 MiB; a larger request gets INVALID_ARGUMENT",
              _max_message_bytes, DEFAULT_MAX_MESSAGE_BYTES),
    ConfigKey("", "min_segment_size", "integer", "10",
              "a segment with fewer members is never released (1: no minimum)",
              _number_field("min_segment_size", 1, 1_000_000,
                            "must be an integer from 1 (no minimum)", whole=True), 10),
    ConfigKey("", "thread_switch_ms", "number", "1.0",
              "Python's thread switch interval in the server process, 0.1 to 100",
              _number_field("thread_switch_ms", 0.1, 100, "must be a number from 0.1 to 100"), 1.0),
    ConfigKey("", "identity_retention", "duration", '"400d"',
              "vault entries of people inactive this long go at the next retention run",
              _duration("identity_retention", "smhd", "400d"), "400d"),
    ConfigKey("", "allow_insecure", "boolean", "false",
              "serve plaintext on a non-loopback address (with a warning)",
              _flag_field("allow_insecure"), False),
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
              "the file of signed checkpoints", _path_field("access_log_checkpoints")),
    ConfigKey("access_log", "checkpoint_every", "integer", "1000",
              "records between signed checkpoints",
              _number_field("checkpoint_every", 1, 2**63 - 1,
                            "must be a positive integer", whole=True), 1000),
    ConfigKey("access_log", "checkpoint_seconds", "number", "60",
              "and at least this often while records arrive",
              _number_field("checkpoint_seconds", math.ulp(0.0), math.inf,
                            "must be a positive number"), 60),
    ConfigKey("access_log", "retention", "duration", '"2190d"',
              "`tactful audit truncate` removes older records",
              _duration("access_log_retention", "dh", "2190d"), "2190d"),
    ConfigKey("access_log", "commit_window_ms", "number", "5",
              "0 to 1000: under load, at most one fsync per window",
              _number_field("commit_window_ms", 0, 1000, "must be from 0 to 1000"), 5),
    ConfigKey("access_log", "record_timeout_ms", "number", "2000",
              "10 to 60000: how long a call waits for its record, then UNAVAILABLE",
              _number_field("record_timeout_ms", 10, 60_000, "must be from 10 to 60000"), 2000),
    ConfigKey("access_log", "epoch_seconds", "number", "1",
              "PostgreSQL: how often one server signs every process's chain head (0.05 to 60)",
              _number_field("epoch_seconds", 0.05, 60, "must be from 0.05 to 60"), 1),
    ConfigKey("", "storage", "table", "", "[storage]; without it, SQLite files in data_dir",
              _table("storage"), {}),
    ConfigKey("storage", "url", "text", '"" (SQLite)',
              'PostgreSQL for every store, e.g. "postgresql://tactful@db.internal/tactful"',
              _database_url("storage_url"), ""),
    ConfigKey("storage", "vault_url", "text", "storage.url",
              "the identity vault's own database (or role), so that the behavior"
              " database reveals no identifier", _database_url("vault_url"), ""),
    ConfigKey("storage", "pool_size", "integer", "8",
              "PostgreSQL connections per database and server process (1 to 100)",
              _number_field("pool_size", 1, 100, "must be an integer from 1 to 100",
                            whole=True), 8),
    ConfigKey("", "vault", "table", "", "[vault]", _table("vault"), {}),
    ConfigKey("vault", "epoch", "number", "24",
              "hours: `tactful serve` rotates the vault key this often (an erased identity is"
              " unrecoverable from disk, WAL and backups within it); 0: off",
              _vault_epoch, 24),
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
              _number_field("insights_budget", math.ulp(0.0), math.inf,
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
    ConfigKey("", "metrics", "table", "", "[metrics]", _table("metrics"), {}),
    ConfigKey("metrics", "listen", "HOST:PORT", '"" (off)',
              "Prometheus metrics over plain HTTP on this address, e.g. \"127.0.0.1:9464\""
              " (off the loopback only with allow_insecure)",
              _metrics_listen, ""),
    ConfigKey("", "log", "table", "", "[log]", _table("log"), {}),
    ConfigKey("log", "format", "text", '"text"',
              '"text" or "json": one line per call and per event',
              _choice_field("log_format", ("text", "json")), "text"),
    ConfigKey("log", "level", "text", '"info"',
              '"debug", "info" (a line per call), "warning" or "error"',
              _choice_field("log_level", ("debug", "info", "warning", "error")), "info"),
    ConfigKey("log", "file", "path", "standard error",
              "append the log to this file (mode 0600) instead", _path_field("log_file")),
    ConfigKey("", "tracing", "table", "", "[tracing]", _table("tracing"), {}),
    ConfigKey("tracing", "enabled", "boolean", "false",
              "a span per call, over OTLP (needs the otel extra:"
              " pip install 'tactful[server,otel]')",
              _flag_field("tracing_enabled"), False),
    ConfigKey("tracing", "endpoint", "text", f'"{DEFAULT_OTLP_ENDPOINT}"',
              "the OTLP/gRPC collector to export spans to",
              _text_field("tracing_endpoint"), DEFAULT_OTLP_ENDPOINT),
)
# fmt: on


def names_in(table: str) -> set[str]:
    """The keys the table of keys knows in `table` ("" for the top level)."""
    return {k.name for k in KEYS if k.table == table}


def _principals(path: Path, raw: Any) -> tuple[PrincipalConfig, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: principals must be an array of tables ([[principals]])")
    principals = tuple(_principal(path, i, p) for i, p in enumerate(raw))
    names = [p.name for p in principals]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{path}: principals named more than once: {', '.join(duplicates)}")
    return principals


def _principal(path: Path, index: int, raw: Any) -> PrincipalConfig:
    where = f"{path}: principals[{index}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise ConfigError(f"{where}: needs a name")
    _refuse_unknown(path, f"principals[{index}]", raw, names_in("principals"))
    digest = raw.get("token_sha256", "")
    if not isinstance(digest, str) or (digest and not _SHA256_HEX.fullmatch(digest)):
        raise ConfigError(f"{where}.token_sha256: 64 lowercase hex digits of the token's SHA-256")
    lists = {}
    for key in ("roles", "purposes"):
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}.{key}: must be a list of names")
        lists[key] = frozenset(value)
    unknown = lists["roles"] - ROLES
    if unknown or not lists["roles"]:
        raise ConfigError(
            f"{where}.roles: give at least one of {', '.join(sorted(ROLES))}"
            + (f"; unknown: {', '.join(sorted(unknown))}" if unknown else "")
        )
    tls_subject = raw.get("tls_subject", "")
    if not isinstance(tls_subject, str):
        raise ConfigError(f"{where}.tls_subject: a URI or DNS name of its client certificate")
    require = raw.get("require", ["tls", "token"] if tls_subject else ["token"])
    if (
        not isinstance(require, list)
        or not require
        or not set(require) <= {"tls", "token"}
        or len(set(require)) != len(require)
    ):
        raise ConfigError(f'{where}.require: ["token"], ["tls"] or ["tls", "token"]')
    if "tls" in require and not tls_subject:
        raise ConfigError(f'{where}.require: "tls" needs a tls_subject to match')
    return PrincipalConfig(
        raw["name"], digest, lists["roles"], lists["purposes"], tls_subject, frozenset(require)
    )


def _rate_limit(path: Path, raw: Any) -> dict[str, Any]:
    """The [rate_limit] table: the limits on failed calls, and the console's lockout."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: rate_limit must be a table ([rate_limit])")
    _refuse_unknown(path, "rate_limit", raw, names_in("rate_limit"))
    limits, lockout = FailureLimits(), LockoutPolicy()

    def number(key: str, default: float, low: float, high: float, *, whole: bool = False) -> Any:
        value = raw.get(key, default)
        kinds = (int,) if whole else (int, float)
        if type(value) not in kinds or not low <= value <= high:
            what = "an integer" if whole else "a number"
            raise ConfigError(f"{path}: rate_limit.{key} must be {what} from {low} to {high}")
        return value

    per_minute = raw.get("failed_per_minute", limits.per_minute)
    if type(per_minute) not in (int, float) or not 0 < per_minute <= 1_000_000:
        raise ConfigError(f"{path}: rate_limit.failed_per_minute must be a positive number")
    global_per_minute = raw.get("global_failed_per_minute", limits.global_per_minute)
    if type(global_per_minute) not in (int, float) or not 0 < global_per_minute <= 1_000_000:
        raise ConfigError(f"{path}: rate_limit.global_failed_per_minute must be a positive number")
    first_s = number("signin_lockout_seconds", lockout.first_s, 1, 86_400)
    failure_limits = FailureLimits(
        float(per_minute),
        number("failed_burst", limits.burst, 1, 1_000_000, whole=True),
        float(number("summary_seconds", limits.summary_s, 0.01, 86_400)),
        float(global_per_minute),
        number("global_failed_burst", limits.global_burst, 1, 1_000_000, whole=True),
    )
    signin_lockout = LockoutPolicy(
        number("signin_lockout_after", lockout.after, 1, 1_000_000, whole=True),
        number("signin_lockout_everyone_after", lockout.everyone_after, 1, 1_000_000, whole=True),
        float(first_s),
        float(number("signin_lockout_max_seconds", lockout.max_s, first_s, 604_800)),
    )
    return {"failure_limits": failure_limits, "signin_lockout": signin_lockout}


def _tls(path: Path, base: Path, raw: Any) -> TlsSettings | None:
    """The [tls] table: cert, key (PEM files), and client_ca for mutual TLS."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: tls must be a table ([tls])")
    _refuse_unknown(path, "tls", raw, names_in("tls"))
    for key in ("cert", "key"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ConfigError(f"{path}: tls.{key}: the path of a PEM file is required")
    client_ca = raw.get("client_ca")
    if client_ca is not None and (not isinstance(client_ca, str) or not client_ca):
        raise ConfigError(f"{path}: tls.client_ca: the path of a PEM file of CA certificates")
    return TlsSettings(
        base / raw["cert"], base / raw["key"], base / client_ca if client_ca else None
    )
