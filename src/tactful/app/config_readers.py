"""How each value of the config file is read and checked: one reader per kind of
value (text, path, number, duration, database URL, HOST:PORT, …) and one per table
with its own shape ([[principals]], [rate_limit], [tls], [console]).

A reader refuses a value it cannot use with a ConfigError naming the file, the key
and the fix. Which key goes to which reader is the table of keys in
app/config_file.py; a table's reader is given the keys that table knows.
"""

from __future__ import annotations

import math
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tactful.app.limits import FailureLimits
from tactful.app.lockout import LockoutPolicy
from tactful.app.settings import (
    ROLES,
    ConfigError,
    ConsoleSettings,
    PrincipalConfig,
    TlsSettings,
    parse_listen,
)
from tactful.privacy.contract import unknown_keys

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def refuse_unknown(path: Path, where: str, table: Mapping[str, Any], known: set[str]) -> None:
    """ConfigError naming each key of `table` (at `where`) that is not `known`, with
    "did you mean" for a near miss: the one check of every table of the config file."""
    problems = unknown_keys(where, table, known)
    if problems:
        raise ConfigError(
            f"{path}: " + "; ".join(problems) + " (`tactful config keys` lists every key)"
        )


@dataclass(frozen=True)
class Source:
    path: Path  # the config file, named in every message
    base: Path  # relative paths are read from here


# (source, place, value) -> Settings fields; the value is the key's `fallback` if absent
Reader = Callable[[Source, str, Any], dict[str, Any]]


def text_field(field_name: str) -> Reader:
    def read(src: Source, place: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, str):
            raise ConfigError(f"{src.path}: {place} must be text")
        return {field_name: value}

    return read


def path_field(field_name: str) -> Reader:
    """A path relative to the config file; absent: the Settings default."""

    def read(src: Source, place: str, value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{src.path}: {place} must be the path of a file")
        return {field_name: src.base / value}

    return read


def flag_field(field_name: str) -> Reader:
    def read(src: Source, place: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, bool):
            raise ConfigError(f"{src.path}: {place} must be true or false")
        return {field_name: value}

    return read


def number_field(
    field_name: str, low: float, high: float, message: str, *, whole: bool = False
) -> Reader:
    """A number from `low` to `high`; `message` says so when it is not."""
    kinds: tuple[type, ...] = (int,) if whole else (int, float)

    def read(src: Source, place: str, value: Any) -> dict[str, Any]:
        if type(value) not in kinds or not math.isfinite(value) or not low <= value <= high:
            raise ConfigError(f"{src.path}: {place} {message}")
        return {field_name: value if whole else float(value)}

    return read


def choice_field(field_name: str, choices: tuple[str, ...]) -> Reader:
    def read(src: Source, place: str, value: Any) -> dict[str, Any]:
        if value not in choices:
            listed = " or ".join(f'"{c}"' for c in choices)
            raise ConfigError(f"{src.path}: {place} must be {listed}")
        return {field_name: value}

    return read


def read_vault_epoch(src: Source, place: str, value: Any) -> dict[str, Any]:
    """Hours: 0 (no schedule), or from one minute to a year."""
    if type(value) not in (int, float) or not (value == 0 or 1 / 60 <= value <= 8760):
        raise ConfigError(f"{src.path}: {place} must be 0 (off) or hours from 1/60 to 8760")
    return {"vault_epoch_hours": float(value)}


def read_data_dir(src: Source, place: str, value: Any) -> dict[str, Any]:
    return {"data_dir": src.base / text_field("data_dir")(src, place, value)["data_dir"]}


def read_max_message_bytes(src: Source, place: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, int) or not 1024 <= value <= 512 * 1024 * 1024:
        raise ConfigError(f"{src.path}: max_message_bytes must be an integer from 1024 to 512 MiB")
    return {"max_message_bytes": value}


def duration_field(field_name: str, units: str, example: str) -> Reader:
    def read(src: Source, place: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, str) or not re.fullmatch(rf"[0-9]{{1,7}}[{units}]", value):
            raise ConfigError(f'{src.path}: {place} must be a duration such as "{example}"')
        return {field_name: value}

    return read


def database_url_field(field_name: str) -> Reader:
    """A PostgreSQL connection URL; "" (SQLite) where allowed. A password belongs in the
    libpq password file (~/.pgpass) or PGPASSWORD, not in the config file."""

    def read(src: Source, place: str, value: Any) -> dict[str, Any]:
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


def read_metrics_listen(src: Source, place: str, value: Any) -> dict[str, Any]:
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


def read_console(path: Path, raw: Any, known: set[str]) -> ConsoleSettings:
    """The [console] table: listen, session_timeout, retention_warning, chart_days."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: console must be a table ([console])")
    refuse_unknown(path, "console", raw, known)
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
    return ConsoleSettings(
        listen, durations["session_timeout"], durations["retention_warning"], days
    )


def read_principals(path: Path, raw: Any, known: set[str]) -> tuple[PrincipalConfig, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: principals must be an array of tables ([[principals]])")
    principals = tuple(_principal(path, i, p, known) for i, p in enumerate(raw))
    names = [p.name for p in principals]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{path}: principals named more than once: {', '.join(duplicates)}")
    return principals


def _principal(path: Path, index: int, raw: Any, known: set[str]) -> PrincipalConfig:
    where = f"{path}: principals[{index}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise ConfigError(f"{where}: needs a name")
    refuse_unknown(path, f"principals[{index}]", raw, known)
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


def read_rate_limit(path: Path, raw: Any, known: set[str]) -> dict[str, Any]:
    """The [rate_limit] table: the limits on failed calls, and the console's lockout."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: rate_limit must be a table ([rate_limit])")
    refuse_unknown(path, "rate_limit", raw, known)
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


def read_tls(path: Path, base: Path, raw: Any, known: set[str]) -> TlsSettings | None:
    """The [tls] table: cert, key (PEM files), and client_ca for mutual TLS."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: tls must be a table ([tls])")
    refuse_unknown(path, "tls", raw, known)
    for key in ("cert", "key"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ConfigError(f"{path}: tls.{key}: the path of a PEM file is required")
    client_ca = raw.get("client_ca")
    if client_ca is not None and (not isinstance(client_ca, str) or not client_ca):
        raise ConfigError(f"{path}: tls.client_ca: the path of a PEM file of CA certificates")
    return TlsSettings(
        base / raw["cert"], base / raw["key"], base / client_ca if client_ca else None
    )
