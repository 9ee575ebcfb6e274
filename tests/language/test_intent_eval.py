"""The text classifier's accuracy on the held-out messages: the targets, and no more
than 2 points below the figures recorded in data/text/accuracy.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tactful.language.intent_eval import DATA, FIGURES, evaluate, load_messages, main
from tactful.language.intent_model import load_intent_model

ALLOWED_DROP = 0.02


@pytest.fixture(scope="module")
def recorded() -> dict[str, object]:
    return json.loads((DATA / FIGURES).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def measured() -> dict[str, object]:
    return evaluate(load_messages(DATA / "test.jsonl")).figures()


def test_the_figures_are_recorded_for_the_committed_model(recorded: dict[str, object]) -> None:
    model = load_intent_model()
    assert (recorded["version"], recorded["threshold"]) == (model.version, model.threshold), (
        "run `python -m tactful.language.intent_eval --text --write`"
    )


def test_the_targets_are_met(measured: dict[str, object]) -> None:
    assert measured["in_scope_accuracy"] >= 0.90  # type: ignore[operator]
    assert measured["out_of_scope_recall"] >= 0.60  # type: ignore[operator]


@pytest.mark.parametrize("figure", ["in_scope_accuracy", "out_of_scope_recall"])
def test_no_more_than_two_points_below_the_recorded_figure(
    figure: str, recorded: dict[str, object], measured: dict[str, object]
) -> None:
    assert measured[figure] >= recorded[figure] - ALLOWED_DROP  # type: ignore[operator]


def test_every_intent_is_held_out(measured: dict[str, object]) -> None:
    per_intent = measured["per_intent"]
    assert isinstance(per_intent, dict)
    assert set(per_intent) == set(load_intent_model().labels)


def test_the_command_prints_accuracy_per_intent_and_out_of_scope_recall() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tactful.language.intent_eval", "--text"],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["intent", "held-out", "correct", "accuracy"]
    for label in ("comparing", "escalating", "in-scope", "out-of-scope"):
        assert any(line.startswith(label) for line in lines), label


def test_without_held_out_messages_it_says_where_to_run_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--text", "--data", str(tmp_path)]) == 2
    assert "checkout" in capsys.readouterr().err
