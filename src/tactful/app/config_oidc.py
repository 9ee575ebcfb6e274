"""Reading the [console.oidc] table: the console's sign-in with an OpenID Connect
provider (console/oidc.py).

The client secret is read here, from `client_secret_file` (relative to the config
file), or from the environment's TACTFUL_OIDC_CLIENT_SECRET (app/config_file.py
passes it): never from the config file itself, which is often world-readable and
kept in version control.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

from tactful.app.config_readers import refuse_unknown
from tactful.app.settings import ConfigError, OidcSettings, is_loopback

CALLBACK_PATH = "/sign-in/oidc/callback"
SECRET_VARIABLE = "TACTFUL_OIDC_CLIENT_SECRET"
_PLACE = "console.oidc"


def read_oidc(path: Path, base: Path, raw: Any, known: set[str]) -> OidcSettings | None:
    """The [console.oidc] table, None if absent; ConfigError naming the key if wrong."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: {_PLACE} must be a table ([{_PLACE}])")
    refuse_unknown(path, _PLACE, raw, known)
    issuer = _url(path, raw, "issuer", "https://login.example.com/realms/staff")
    redirect_url = _url(path, raw, "redirect_url", f"https://console.example.com{CALLBACK_PATH}")
    if urllib.parse.urlsplit(redirect_url).path != CALLBACK_PATH:
        raise ConfigError(
            f"{path}: {_PLACE}.redirect_url must end in the console's {CALLBACK_PATH}, "
            f"e.g. https://console.example.com{CALLBACK_PATH}"
        )
    scopes = _names(path, raw, "scopes", ["openid", "profile"])
    if "openid" not in scopes:
        raise ConfigError(f'{path}: {_PLACE}.scopes must include "openid"')
    compliance = _names(path, raw, "compliance_groups", [])
    privacy_ops = _names(path, raw, "privacy_ops_groups", [])
    if not compliance and not privacy_ops:
        raise ConfigError(
            f"{path}: {_PLACE}: name the provider's groups whose members may sign in, "
            'e.g. compliance_groups = ["tactful-compliance"]'
        )
    return OidcSettings(
        issuer=issuer,
        client_id=_text(path, raw, "client_id", None),
        redirect_url=redirect_url,
        client_secret=_secret_file(path, base, raw.get("client_secret_file")),
        provider_name=_text(path, raw, "provider_name", "your identity provider"),
        scopes=tuple(scopes),
        groups_claim=_text(path, raw, "groups_claim", "groups"),
        principal_claim=_text(path, raw, "principal_claim", "sub"),
        compliance_groups=frozenset(compliance),
        privacy_ops_groups=frozenset(privacy_ops),
        ca_file=_ca_file(path, base, raw.get("ca_file")),
    )


def _text(path: Path, raw: dict[str, Any], key: str, default: str | None) -> str:
    value = raw.get(key, default)
    if value is None:
        raise ConfigError(f"{path}: {_PLACE}.{key} is required")
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise ConfigError(f"{path}: {_PLACE}.{key} must be text (1 to 200 characters)")
    return value.strip()


def _url(path: Path, raw: dict[str, Any], key: str, example: str) -> str:
    """An https URL (http on the loopback only, for a provider on the same machine)."""
    value = _text(path, raw, key, None)
    parts = urllib.parse.urlsplit(value)
    secure = parts.scheme == "https" or (
        parts.scheme == "http" and is_loopback(parts.hostname or "")
    )
    if not parts.hostname or not secure or parts.query or parts.fragment:
        raise ConfigError(
            f"{path}: {_PLACE}.{key} must be an https URL without query, e.g. {example}"
            " (http only on the loopback)"
        )
    return value


def _names(path: Path, raw: dict[str, Any], key: str, default: list[str]) -> list[str]:
    value = raw.get(key, default)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f'{path}: {_PLACE}.{key} must be a list of names, e.g. ["a", "b"]')
    return list(value)


def _ca_file(path: Path, base: Path, value: Any) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}: {_PLACE}.ca_file must be the path of a PEM file")
    if not (base / value).is_file():
        raise ConfigError(f"{path}: {_PLACE}.ca_file: {base / value} is not a file")
    return base / value


def _secret_file(path: Path, base: Path, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}: {_PLACE}.client_secret_file must be the path of a file")
    secret_path = base / value
    try:
        secret = secret_path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"{path}: {_PLACE}.client_secret_file: cannot read {secret_path}: {exc.strerror}"
        ) from None
    if not secret:
        raise ConfigError(f"{path}: {_PLACE}.client_secret_file: {secret_path} is empty")
    return secret
