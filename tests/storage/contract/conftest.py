"""The contract suite runs every test that takes `engine` once per storage engine, the
way pyca/cryptography runs its suite over every backend.

TACTFUL_ENGINES=sqlite (comma-separated names) picks engines; the default is every
engine available on this machine. Naming an unknown or unavailable engine is an error,
not a silent skip.
"""

from __future__ import annotations

import os

import pytest

from tests.storage.engines import ENGINES, Engine


def _selected() -> list[Engine]:
    wanted = os.environ.get("TACTFUL_ENGINES", "").strip()
    if not wanted:
        return [engine() for engine in ENGINES.values() if engine.available()]
    chosen = []
    for name in (n.strip() for n in wanted.split(",") if n.strip()):
        if name not in ENGINES:
            raise pytest.UsageError(
                f"TACTFUL_ENGINES: no engine {name!r}; known: {', '.join(ENGINES)}"
            )
        if not ENGINES[name].available():
            raise pytest.UsageError(f"TACTFUL_ENGINES: engine {name!r} is not available here")
        chosen.append(ENGINES[name]())
    return chosen


selected_engines = _selected()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "engine" in metafunc.fixturenames:
        metafunc.parametrize("engine", selected_engines, ids=[e.name for e in selected_engines])
