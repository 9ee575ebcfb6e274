"""Reading the [http] table: the HTTP/JSON door beside the gRPC port (api/http_door.py).

[http]
listen = "127.0.0.1:8081"          # off when absent or ""
cors_origins = ["https://shop.example.com"]
max_body_bytes = 8388608
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tactful.app.config_readers import refuse_unknown
from tactful.app.settings import (
    DEFAULT_MAX_BODY_BYTES,
    ConfigError,
    HttpSettings,
    Settings,
    is_loopback,
    parse_listen,
)

# An origin as a browser sends it: scheme, host and an optional port; nothing else.
_ORIGIN = re.compile(r"https?://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?")


def read_http(path: Path, raw: Any, known: set[str]) -> HttpSettings:
    """The [http] table, each value checked; a mistake names the key and the fix."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: http must be a table ([http])")
    refuse_unknown(path, "http", raw, known)
    listen = raw.get("listen", "")
    if not isinstance(listen, str):
        raise ConfigError(f'{path}: http.listen must be text, e.g. "127.0.0.1:8081"')
    if listen:
        try:
            parse_listen(listen)
        except ConfigError:
            raise ConfigError(
                f'{path}: http.listen: {listen!r} is not HOST:PORT, e.g. "127.0.0.1:8081"'
            ) from None
    origins = raw.get("cors_origins", [])
    if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
        raise ConfigError(
            f'{path}: http.cors_origins must be a list of origins, e.g. ["https://shop.example.com"]'
        )
    for origin in origins:
        if not _ORIGIN.fullmatch(origin):
            raise ConfigError(
                f"{path}: http.cors_origins: {origin!r} is not an origin: give the scheme, "
                'host and port a browser sends, e.g. "https://shop.example.com" (no path, '
                "no wildcard: only the listed origins may call the door)"
            )
    size = raw.get("max_body_bytes", DEFAULT_MAX_BODY_BYTES)
    if type(size) is not int or not 1024 <= size <= 512 * 1024 * 1024:
        raise ConfigError(f"{path}: http.max_body_bytes must be an integer from 1024 to 512 MiB")
    return HttpSettings(listen, tuple(origins), size)


def refuse_plaintext_door(settings: Settings) -> None:
    """The door carries bearer tokens: in plaintext (no [tls]) it stays on the loopback,
    as the gRPC port does, unless allow_insecure says otherwise."""
    if not settings.http.listen or settings.tls is not None or settings.allow_insecure:
        return
    host, _ = parse_listen(settings.http.listen)
    if not is_loopback(host):
        raise ConfigError(
            f"http.listen: {host} is not a loopback address, and without [tls] the door "
            "serves plaintext (bearer tokens included); add [tls], listen on 127.0.0.1 "
            "behind a TLS proxy, or set allow_insecure = true"
        )
