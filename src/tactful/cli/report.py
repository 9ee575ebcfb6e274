"""What a command prints: lines for a person, or with `--json` one JSON document.

Every command that prints data takes `--json` (tests/cli/test_cli_json.py walks the
parser to hold every command to it). Under `--json`, standard output carries that one
document and nothing else: the text lines are not printed, and progress, warnings
and errors go to standard error as they always do. A command prints its text with
`say` as it goes and hands its document to `emit` once, at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any

JSON_HELP = "print one JSON document on standard output instead of text"


def json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help=JSON_HELP)


def wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def say(args: argparse.Namespace, text: str = "", *, end: str = "\n") -> None:
    """A line for a person: printed unless the command was asked for JSON."""
    if not wants_json(args):
        print(text, end=end)


def emit(args: argparse.Namespace, document: Mapping[str, Any]) -> None:
    """The command's JSON document, when it was asked for one."""
    if wants_json(args):
        json.dump(document, sys.stdout, ensure_ascii=False, indent=2, sort_keys=True, default=str)
        sys.stdout.write("\n")
