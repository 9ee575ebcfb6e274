"""`tactful config keys`: every key of the config file, from the loader's own table."""

from __future__ import annotations

import argparse
from typing import Any

from tactful.app.config_file import KEYS, ConfigKey
from tactful.cli.report import emit, json_option, say

_TABLES = ("table", "array of tables")


def register(commands: Any) -> None:
    config = commands.add_parser(
        "config",
        help="the config file's keys",
        description="The config file (TOML): its keys, as the loader reads them.",
    )
    group = config.add_subparsers(title="config commands", metavar="COMMAND")
    config.set_defaults(run=lambda _args: config.print_help() or 2)
    keys = group.add_parser(
        "keys",
        help="list every key with its type, default and meaning (docs/operations/configuration.md)",
    )
    json_option(keys)
    keys.set_defaults(run=_keys)


def _keys(args: argparse.Namespace) -> int:
    say(args, describe_keys(), end="")
    shown = [
        {"table": k.table, "name": k.name, "type": k.type, "default": k.default,
         "meaning": k.meaning}
        for k in KEYS
        if k.type not in _TABLES
    ]  # fmt: skip
    emit(args, {"keys": shown})
    return 0


def describe_keys() -> str:
    """The table of keys as text: the top level first, then each table under its header."""
    leaves = [k for k in KEYS if k.type not in _TABLES]
    width = max(len(k.name) for k in leaves)
    kind = max(len(k.type) for k in leaves)
    lines = ["# every key is optional unless its default says required", ""]
    for header, table in [("top level", ""), *_headers()]:
        lines.append(header)
        for key in (k for k in leaves if k.table == table):
            lines.append(_line(key, width, kind))
        lines.append("")
    return "\n".join(lines)


def _headers() -> list[tuple[str, str]]:
    return [
        (f"[[{k.place}]]" if k.type == "array of tables" else f"[{k.place}]", k.place)
        for k in KEYS
        if k.type in _TABLES
    ]


def _line(key: ConfigKey, width: int, kind: int) -> str:
    return f"  {key.name:<{width}}  {key.type:<{kind}}  default {key.default}: {key.meaning}"
