"""Evaluate the text classifier on the held-out messages of the repository.

    python -m tactful.language.intent_eval --text        # accuracy per intent, out-of-scope recall
    python -m tactful.language.intent_eval --text --write  # and record data/text/accuracy.json
    python -m tactful.language.intent_eval --text --data DIR  # another folder's test.jsonl

The held-out messages (data/text/test.jsonl: Banking77's test set, CLINC150's test and
oos_test, every fourth hand-written message) were never trained on, nor used to choose
the threshold. Each goes through `derive_labels`, as a caller's would (its language
identified first). In-scope accuracy counts the messages of the seven intents answered
with their intent (an `unknown` is wrong); out-of-scope recall counts CLINC150's
out-of-scope messages answered `unknown`. The recorded figures are what the tests hold
the model to (tests/language/test_intent_eval.py: no more than 2 points below).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tactful.language.intent_model import UNKNOWN, load_intent_model
from tactful.language.labels import derive_labels

DATA = Path(__file__).resolve().parents[3] / "data" / "text"
FIGURES = "accuracy.json"
OUT_OF_SCOPE = "oos"  # CLINC150's label for its out-of-scope messages


@dataclass(frozen=True)
class Message:
    text: str
    intent: str
    source: str
    label: str  # the source's own label


@dataclass(frozen=True)
class Accuracy:
    label: str
    total: int
    correct: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


@dataclass(frozen=True)
class Evaluation:
    per_intent: tuple[Accuracy, ...]  # each intent's messages answered with it
    in_scope: Accuracy  # the seven intents' messages answered with their intent
    out_of_scope: Accuracy  # CLINC150's out-of-scope messages answered `unknown`
    threshold: float
    version: str

    def figures(self) -> dict[str, object]:
        return {
            "version": self.version,
            "threshold": self.threshold,
            "in_scope_accuracy": round(self.in_scope.accuracy, 4),
            "out_of_scope_recall": round(self.out_of_scope.accuracy, 4),
            "per_intent": {a.label: round(a.accuracy, 4) for a in self.per_intent},
        }


def load_messages(path: Path) -> list[Message]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Message(**json.loads(line)) for line in lines]


def evaluate(messages: Sequence[Message]) -> Evaluation:
    answers = [derive_labels(m.text).intent for m in messages]
    pairs = list(zip(messages, answers, strict=True))
    per_intent = []
    for intent in sorted({m.intent for m in messages}):
        mine = [a == intent for m, a in pairs if m.intent == intent]
        per_intent.append(Accuracy(intent, len(mine), sum(mine)))
    in_scope = [a == m.intent for m, a in pairs if m.intent != UNKNOWN]
    oos = [a == UNKNOWN for m, a in pairs if m.label == OUT_OF_SCOPE]
    model = load_intent_model()
    return Evaluation(
        tuple(per_intent),
        Accuracy("in-scope", len(in_scope), sum(in_scope)),
        Accuracy("out-of-scope", len(oos), sum(oos)),
        model.threshold,
        model.version,
    )


def report(evaluation: Evaluation) -> str:
    lines = [f"{'intent':<16} {'held-out':>8} {'correct':>8} {'accuracy':>9}"]
    rows = [*evaluation.per_intent, evaluation.in_scope, evaluation.out_of_scope]
    lines += [f"{r.label:<16} {r.total:>8} {r.correct:>8} {r.accuracy:>9.3f}" for r in rows]
    lines.append(
        f"model {evaluation.version}, unknown below {evaluation.threshold:.2f} confidence; "
        "out-of-scope: CLINC150's oos_test answered unknown"
    )
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    folder = DATA
    if "--data" in argv:
        where = argv[argv.index("--data") + 1 :]
        if not where:
            print("--data needs a folder holding test.jsonl", file=sys.stderr)
            return 2
        folder = Path(where[0])
    if not (folder / "test.jsonl").is_file():
        print(
            f"no held-out messages at {folder / 'test.jsonl'}: run from a checkout", file=sys.stderr
        )
        return 2
    evaluation = evaluate(load_messages(folder / "test.jsonl"))
    print(report(evaluation))
    if "--write" in argv:
        text = json.dumps(evaluation.figures(), indent=2) + "\n"
        (folder / FIGURES).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
