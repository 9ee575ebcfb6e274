"""The classifier reads a text and keeps nothing of it: no module of tactful.language
(but the evaluation command, which prints figures) logs, prints, writes a file, or
caches by its argument anything but the data files it loads."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "tactful" / "language"
COMMAND = "intent_eval.py"  # prints its report and may write data/text/accuracy.json
LOADERS = {"load_intent_model", "load_language_profiles", "load_lexicon"}  # by path, once


def offences(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            found += [f"imports {n}" for n in names if n.split(".")[0] in ("logging", "tempfile")]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in ("print", "open", "write", "write_text", "write_bytes", "dump"):
                found.append(f"calls {name}")
        elif isinstance(node, ast.FunctionDef):
            decorators = {getattr(d, "id", getattr(d, "attr", "")) for d in node.decorator_list}
            if decorators & {"cache", "lru_cache"} and node.name not in LOADERS:
                found.append(f"caches {node.name}")
    return found


@pytest.mark.parametrize(
    "module", sorted(p.name for p in PACKAGE.glob("*.py") if p.name != COMMAND)
)
def test_no_module_logs_prints_writes_or_caches_a_text(module: str) -> None:
    assert offences((PACKAGE / module).read_text()) == []


def test_the_check_sees_each_offence() -> None:
    source = (
        "import logging\nfrom functools import cache\n"
        "@cache\ndef classify(text): print(text); open('f', 'w').write(text)\n"
    )
    assert offences(source) == [
        "imports logging",
        "caches classify",
        "calls print",
        "calls write",
        "calls open",
    ]
