"""One table of keys: the loader reads it, `tactful config keys` prints it, and
docs/operations/configuration.md shows every key in it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tactful.app.config_file import KEYS, load_settings, names_in
from tactful.app.settings import ConfigError
from tactful.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "operations" / "configuration.md"
TABLES = ("table", "array of tables")
LEAVES = [k for k in KEYS if k.type not in TABLES]
READ_HERE = [k for k in KEYS if k.read is not None]


def documented() -> set[tuple[str, str]]:
    """(table, key) for every key set in a TOML example of docs/operations/configuration.md."""
    found: set[tuple[str, str]] = set()
    for block in re.findall(r"```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL):
        found |= _keys_in(tomllib.loads(block), "")
    return found


def _keys_in(table: dict[str, Any], place: str) -> set[tuple[str, str]]:
    """(table, key) for every key of `table` and of the tables in it ([console.oidc])."""
    found: set[tuple[str, str]] = set()
    for name, value in table.items():
        entries = value if isinstance(value, list) else [value]
        if entries and all(isinstance(e, dict) for e in entries):
            inner = f"{place}.{name}" if place else name
            found |= {k for entry in entries for k in _keys_in(entry, inner)}
        else:
            found.add((place, name))
    return found


def test_the_configuration_page_shows_every_key_and_no_other() -> None:
    listed = {(k.table, k.name) for k in LEAVES}
    shown = documented()
    assert sorted(listed - shown) == [], "keys docs/operations/configuration.md does not show"
    assert sorted(shown - listed) == [], (
        "keys docs/operations/configuration.md shows that do not exist"
    )


def test_config_keys_lists_every_key_with_its_type_default_and_meaning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["config", "keys"]) == 0
    out = capsys.readouterr().out
    sections = dict(re.findall(r"^(\S.*)\n((?:  .*\n)+)", out, re.MULTILINE))
    for key in LEAVES:
        table = next((k for k in KEYS if k.place == key.table and k.type in TABLES), None)
        header = (
            "top level"
            if table is None
            else (f"[[{table.place}]]" if table.type == "array of tables" else f"[{table.place}]")
        )
        (line,) = [ln for ln in sections[header].splitlines() if ln.split()[0] == key.name]
        assert f"  {key.type} " in line and f"default {key.default}: {key.meaning}" in line


@pytest.mark.parametrize("key", READ_HERE, ids=[k.place for k in READ_HERE])
def test_the_loader_reads_each_key_of_the_table(tmp_path: Path, key: Any) -> None:
    """A value of the wrong kind for any key the table reads is refused, naming it."""
    config = tmp_path / "tactful.toml"
    wrong = "[1, 2]" if key.type in TABLES else "{ x = 1 }"
    if key.table:
        config.write_text(f"[{key.table}]\n{key.name} = {wrong}\n")
    else:
        config.write_text(f"{key.name} = {wrong}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, {})
    assert key.place in str(caught.value) or key.name in str(caught.value)


def test_a_key_the_table_lacks_is_refused_and_points_at_config_keys(tmp_path: Path) -> None:
    config = tmp_path / "tactful.toml"
    config.write_text('[log]\nformat = "json"\nlevels = "info"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(config, {})
    assert str(caught.value) == (
        f"{config}: log.levels: unknown key; did you mean 'level'?"
        " (`tactful config keys` lists every key)"
    )
    assert names_in("log") == {"format", "level", "file"}


def test_the_new_tables_are_read(tmp_path: Path) -> None:
    config = tmp_path / "tactful.toml"
    config.write_text(
        '[metrics]\nlisten = "127.0.0.1:0"\n[log]\nformat = "json"\nlevel = "warning"\n'
        'file = "logs/calls.jsonl"\n[tracing]\nenabled = true\nendpoint = "http://otel:4317"\n'
    )
    settings = load_settings(config, {})
    assert settings.metrics_listen == "127.0.0.1:0"
    assert (settings.log_format, settings.log_level) == ("json", "warning")
    assert settings.log_file == tmp_path / "logs" / "calls.jsonl"
    assert settings.tracing_enabled and settings.tracing_endpoint == "http://otel:4317"
    config.write_text('[metrics]\nlisten = "9464"\n')
    with pytest.raises(ConfigError, match="metrics.listen: '9464' is not HOST:PORT"):
        load_settings(config, {})
    config.write_text('[log]\nformat = "xml"\n')
    with pytest.raises(ConfigError, match='log.format must be "text" or "json"'):
        load_settings(config, {})
