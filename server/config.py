"""Settings: read once, from the config file and the environment, here only.

Config file (TOML), every key optional:

    listen = "127.0.0.1:50051"          # host:port; port 0 picks a free one
    data_dir = "/var/lib/tactful"       # behavior.db, vault.db live here
    keyring = "/etc/tactful/keyring.json"
    contract = "/etc/tactful/contract.toml"
    max_message_bytes = 4194304         # larger requests get INVALID_ARGUMENT

    [[principals]]
    name = "web_frontend"               # as named in the contract's purposes
    roles = ["frontend"]                # frontend, agent, compliance, analyst, privacy_ops, admin
    purposes = ["onboarding"]           # purposes it may claim (the contract must agree)
    token_sha256 = "…"                  # optional; or `tactful tokens issue web_frontend`

    [insights]
    budget = 1.0                        # total epsilon each principal may spend on insights

    [console]
    listen = "127.0.0.1:8080"           # `tactful console`: the compliance web pages

Environment: TACTFUL_LISTEN and TACTFUL_DATA_DIR override the file.
Relative paths in a config file are read relative to that file.

With no config file Tactful runs the embedded development default: the
principals of server/examples/development.toml, data in ./.tactful, a development
keyring created on first start, the example contract, and a fresh development
token for every principal, printed at start. Both files ship inside the package
(an installed `tactful` finds them in site-packages); examples/ in the repository
holds the same files for readers.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from privacy.contract import unknown_keys
from server.limits import FailureLimits

DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_CONSOLE_LISTEN = "127.0.0.1:8080"
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def _installed_as_files(resource: Traversable) -> Path:
    """A packaged resource as a path the loader can read (and resolve relative paths
    from): true of a wheel installed into site-packages and of a checkout."""
    if not isinstance(resource, Path):
        raise RuntimeError(f"tactful must be installed as files, not run from {resource}")
    return resource


EXAMPLES = _installed_as_files(files("server") / "examples")
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
        raise ConfigError(f"{path}: " + "; ".join(problems))


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
    failure_limits: FailureLimits = FailureLimits()  # failed calls per peer ([rate_limit])
    tls: TlsSettings | None = None  # [tls]; None: plaintext, refused off the loopback
    allow_insecure: bool = False  # plaintext on a non-loopback address, with a warning
    identity_retention: str = "400d"  # vault entries of people inactive this long go
    min_segment_size: int = 10  # a segment with fewer members is never released
    insights_budget: float = 1.0  # total epsilon per principal for differential privacy
    thread_switch_ms: float = 1.0  # Python's thread switch interval in the server process
    development: bool = False  # create a keyring if missing, issue a dev token
    console: ConsoleSettings = ConsoleSettings()  # [console]

    @property
    def keyring_path(self) -> Path:
        return self.keyring or self.data_dir / "keyring.json"

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
    parse_listen(settings.listen)
    return settings


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
    base = path.resolve().parent
    known = {
        "listen",
        "data_dir",
        "keyring",
        "contract",
        "max_message_bytes",
        "principals",
        "access_log",
        "identity_retention",
        "insights",
        "min_segment_size",
        "thread_switch_ms",
        "rate_limit",
        "tls",
        "allow_insecure",
        "console",
    }
    _refuse_unknown(path, "", raw, known)
    max_bytes = raw.get("max_message_bytes", DEFAULT_MAX_MESSAGE_BYTES)
    if not isinstance(max_bytes, int) or not 1024 <= max_bytes <= 512 * 1024 * 1024:
        raise ConfigError(f"{path}: max_message_bytes must be an integer from 1024 to 512 MiB")
    return Settings(
        listen=_text(path, raw, "listen", DEFAULT_LISTEN),
        data_dir=base / _text(path, raw, "data_dir", ".tactful"),
        keyring=base / raw["keyring"] if "keyring" in raw else None,
        contract=base / raw["contract"] if "contract" in raw else EXAMPLE_CONTRACT,
        max_message_bytes=max_bytes,
        principals=_principals(path, raw.get("principals", [])),
        identity_retention=_duration(path, raw, "identity_retention", "400d"),
        min_segment_size=_min_segment_size(path, raw.get("min_segment_size", 10)),
        insights_budget=_insights_budget(path, raw.get("insights", {})),
        thread_switch_ms=_thread_switch_ms(path, raw.get("thread_switch_ms", 1.0)),
        failure_limits=_rate_limit(path, raw.get("rate_limit", {})),
        tls=_tls(path, base, raw.get("tls")),
        allow_insecure=_flag(path, raw, "allow_insecure"),
        console=_console(path, raw.get("console", {})),
        **_access_log(path, base, raw.get("access_log", {})),
    )


def _text(path: Path, raw: Mapping[str, Any], key: str, default: str) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{path}: {key} must be text")
    return value


def _principals(path: Path, raw: Any) -> tuple[PrincipalConfig, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: principals must be an array of tables ([[principals]])")
    principals = tuple(_principal(path, i, p) for i, p in enumerate(raw))
    names = [p.name for p in principals]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{path}: principals named more than once: {', '.join(duplicates)}")
    return principals


_PRINCIPAL_KEYS = {"name", "roles", "purposes", "token_sha256", "tls_subject", "require"}


def _principal(path: Path, index: int, raw: Any) -> PrincipalConfig:
    where = f"{path}: principals[{index}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise ConfigError(f"{where}: needs a name")
    _refuse_unknown(path, f"principals[{index}]", raw, _PRINCIPAL_KEYS)
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


def _access_log(path: Path, base: Path, raw: Any) -> dict[str, Any]:
    """The [access_log] table: checkpoints (file), checkpoint_every, checkpoint_seconds,
    retention."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: access_log must be a table ([access_log])")
    known = {
        "checkpoints",
        "checkpoint_every",
        "checkpoint_seconds",
        "retention",
        "commit_window_ms",
        "record_timeout_ms",
    }
    _refuse_unknown(path, "access_log", raw, known)
    found: dict[str, Any] = {}
    if "checkpoints" in raw:
        found["access_log_checkpoints"] = base / _text(path, raw, "checkpoints", "")
    every = raw.get("checkpoint_every", 1000)
    seconds = raw.get("checkpoint_seconds", 60)
    if type(every) is not int or every < 1:
        raise ConfigError(f"{path}: access_log.checkpoint_every must be a positive integer")
    if type(seconds) not in (int, float) or seconds <= 0:
        raise ConfigError(f"{path}: access_log.checkpoint_seconds must be a positive number")
    retention = raw.get("retention", "2190d")
    if not isinstance(retention, str) or not re.fullmatch(r"[0-9]{1,7}[dh]", retention):
        raise ConfigError(f'{path}: access_log.retention must be a duration such as "2190d"')
    window = raw.get("commit_window_ms", 5)
    if type(window) not in (int, float) or not 0 <= window <= 1000:
        raise ConfigError(f"{path}: access_log.commit_window_ms must be from 0 to 1000")
    timeout = raw.get("record_timeout_ms", 2000)
    if type(timeout) not in (int, float) or not 10 <= timeout <= 60_000:
        raise ConfigError(f"{path}: access_log.record_timeout_ms must be from 10 to 60000")
    return found | {
        "checkpoint_every": every,
        "checkpoint_seconds": float(seconds),
        "access_log_retention": retention,
        "commit_window_ms": float(window),
        "record_timeout_ms": float(timeout),
    }


def _rate_limit(path: Path, raw: Any) -> FailureLimits:
    """The [rate_limit] table: failed_per_minute, failed_burst, summary_seconds."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: rate_limit must be a table ([rate_limit])")
    _refuse_unknown(
        path, "rate_limit", raw, {"failed_per_minute", "failed_burst", "summary_seconds"}
    )
    default = FailureLimits()
    per_minute = raw.get("failed_per_minute", default.per_minute)
    burst = raw.get("failed_burst", default.burst)
    summary = raw.get("summary_seconds", default.summary_s)
    if type(per_minute) not in (int, float) or not 0 < per_minute <= 1_000_000:
        raise ConfigError(f"{path}: rate_limit.failed_per_minute must be a positive number")
    if type(burst) is not int or not 1 <= burst <= 1_000_000:
        raise ConfigError(f"{path}: rate_limit.failed_burst must be a positive integer")
    if type(summary) not in (int, float) or not 0.01 <= summary <= 86_400:
        raise ConfigError(f"{path}: rate_limit.summary_seconds must be from 0.01 to 86400")
    return FailureLimits(float(per_minute), burst, float(summary))


def _tls(path: Path, base: Path, raw: Any) -> TlsSettings | None:
    """The [tls] table: cert, key (PEM files), and client_ca for mutual TLS."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: tls must be a table ([tls])")
    _refuse_unknown(path, "tls", raw, {"cert", "key", "client_ca"})
    for key in ("cert", "key"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ConfigError(f"{path}: tls.{key}: the path of a PEM file is required")
    client_ca = raw.get("client_ca")
    if client_ca is not None and (not isinstance(client_ca, str) or not client_ca):
        raise ConfigError(f"{path}: tls.client_ca: the path of a PEM file of CA certificates")
    return TlsSettings(
        base / raw["cert"], base / raw["key"], base / client_ca if client_ca else None
    )


def _console(path: Path, raw: Any) -> ConsoleSettings:
    """The [console] table: listen, session_timeout, retention_warning, chart_days."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: console must be a table ([console])")
    _refuse_unknown(
        path, "console", raw, {"listen", "session_timeout", "retention_warning", "chart_days"}
    )
    default = ConsoleSettings()
    listen = _text(path, raw, "listen", default.listen)
    try:
        parse_listen(listen)
    except ConfigError as exc:
        raise ConfigError(f"{path}: console.{exc}") from None
    durations = {
        key: _duration(path, raw, key, getattr(default, key), "console.")
        for key in ("session_timeout", "retention_warning")
    }
    for key, value in durations.items():
        if int(value[:-1]) == 0:
            raise ConfigError(f"{path}: console.{key} must be longer than 0")
    days = raw.get("chart_days", default.chart_days)
    if type(days) is not int or not 1 <= days <= 366:
        raise ConfigError(f"{path}: console.chart_days must be an integer from 1 to 366")
    return ConsoleSettings(
        listen=listen,
        session_timeout=durations["session_timeout"],
        retention_warning=durations["retention_warning"],
        chart_days=days,
    )


def _flag(path: Path, raw: Mapping[str, Any], key: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{path}: {key} must be true or false")
    return value


def _insights_budget(path: Path, raw: Any) -> float:
    """The [insights] table: budget, the total epsilon each principal may spend."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: insights must be a table with one key, budget")
    _refuse_unknown(path, "insights", raw, {"budget"})
    budget = raw.get("budget", 1.0)
    if type(budget) not in (int, float) or not math.isfinite(budget) or budget <= 0:
        raise ConfigError(f"{path}: insights.budget must be a positive number of epsilon")
    return float(budget)


def _duration(path: Path, raw: Mapping[str, Any], key: str, default: str, where: str = "") -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{1,7}[smhd]", value):
        raise ConfigError(f'{path}: {where}{key} must be a duration such as "{default}"')
    return value


def _thread_switch_ms(path: Path, value: Any) -> float:
    if type(value) not in (int, float) or not 0.1 <= value <= 100:
        raise ConfigError(f"{path}: thread_switch_ms must be a number from 0.1 to 100")
    return float(value)


def _min_segment_size(path: Path, value: Any) -> int:
    if type(value) is not int or not 1 <= value <= 1_000_000:
        raise ConfigError(f"{path}: min_segment_size must be an integer from 1 (no minimum)")
    return value
