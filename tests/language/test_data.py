"""The committed training data follow the mapping table and the hand-written messages:
edit data/text/mapping.toml or handwritten.toml without rebuilding, and this fails."""

from __future__ import annotations

import importlib.util
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tactful.segments.intent import Intent

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "text"
SPLITS = ("train", "validation", "test")


def script() -> Any:
    spec = importlib.util.spec_from_file_location(
        "build_text_data", ROOT / "scripts" / "build_text_data.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def rows(split: str) -> list[dict[str, str]]:
    lines = (DATA / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_the_mapping_names_only_intents_or_drop() -> None:
    mapping = tomllib.loads((DATA / "mapping.toml").read_text(encoding="utf-8"))
    allowed = {str(i) for i in Intent} | {"drop"}
    assert set(mapping) == {"banking77", "clinc150"}
    for table in mapping.values():
        assert set(table.values()) <= allowed
    assert tuple(script().INTENTS) == tuple(str(i) for i in Intent)


@pytest.mark.parametrize("split", SPLITS)
def test_every_dataset_message_carries_its_labels_intent(split: str) -> None:
    mapping = script().load_mapping()
    for row in rows(split):
        if row["source"] != "handwritten":
            assert row["intent"] == mapping[row["source"]][row["label"]] != "drop", row


def test_the_hand_written_messages_are_those_of_handwritten_toml() -> None:
    train, test = script().handwritten()
    assert [r for r in rows("train") if r["source"] == "handwritten"] == train
    assert [r for r in rows("test") if r["source"] == "handwritten"] == test
    assert not {r["text"] for r in train} & {r["text"] for r in test}


def test_every_intent_is_trained_and_held_out() -> None:
    intents = {str(i) for i in Intent}
    assert {r["intent"] for r in rows("train")} == intents
    assert {r["intent"] for r in rows("test")} == intents
    assert any(r["label"] == "oos" for r in rows("test"))
