"""Build the text classifier's labelled messages from the public datasets, offline.

    python scripts/build_text_data.py --banking77 DIR --clinc150 DIR

DIR is a checkout or a bare git repository of PolyAI-LDN/task-specific-datasets
(Banking77) and of clinc/oos-eval (CLINC150); a bare repository is read at HEAD. Each
source label becomes a Tactful intent by data/text/mapping.toml (or is dropped); the
hand-written messages of data/text/handwritten.toml are added. Writes
data/text/{train,validation,test}.jsonl, one message a line, in a fixed order:

- train: Banking77 train.csv less its validation part, CLINC150 train and oos_train, the
  hand-written messages less every fourth;
- validation (choosing the unknown threshold, never the weights): every fifth Banking77
  train message of each label, CLINC150 val and oos_val;
- test (held out, never trained on nor used to choose anything): Banking77 test.csv,
  CLINC150 test and oos_test, every fourth hand-written message.

The files are committed, so `make model` needs neither the network nor these sources.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "text"
INTENTS = (
    "researching",
    "comparing",
    "purchasing",
    "renewing",
    "canceling",
    "reporting_issue",
    "escalating",
    "unknown",
)
BANKING77_VALIDATION_EVERY = 5
HANDWRITTEN_TEST_EVERY = 4

Row = dict[str, str]


def read_source(where: Path, path: str) -> str:
    """A file of a checkout, or of a bare repository at HEAD."""
    if (where / path).is_file():
        return (where / path).read_text(encoding="utf-8")
    shown = subprocess.run(
        ["git", "-C", str(where), "show", f"HEAD:{path}"],
        check=True,
        capture_output=True,
    )
    return shown.stdout.decode("utf-8")


def load_mapping(path: Path = DATA / "mapping.toml") -> dict[str, dict[str, str]]:
    mapping = tomllib.loads(path.read_text(encoding="utf-8"))
    for source, labels in mapping.items():
        unknown = {v for v in labels.values() if v != "drop" and v not in INTENTS}
        if unknown:
            raise SystemExit(f"{source}: not an intent: {sorted(unknown)}")
    return mapping


def mapped(rows: Iterable[tuple[str, str]], source: str, table: dict[str, str]) -> Iterator[Row]:
    for text, label in rows:
        if label not in table:
            raise SystemExit(f"{source}: label {label!r} is not in mapping.toml")
        if table[label] != "drop":
            yield {"text": text, "intent": table[label], "source": source, "label": label}


def banking77(where: Path, table: dict[str, str]) -> tuple[list[Row], list[Row], list[Row]]:
    def rows(name: str) -> list[tuple[str, str]]:
        reader = csv.DictReader(io.StringIO(read_source(where, f"banking_data/{name}")))
        return [(r["text"], r["category"]) for r in reader]

    train: list[Row] = []
    validation: list[Row] = []
    seen: dict[str, int] = {}
    for row in mapped(rows("train.csv"), "banking77", table):
        seen[row["label"]] = seen.get(row["label"], 0) + 1
        every = BANKING77_VALIDATION_EVERY
        (validation if seen[row["label"]] % every == 0 else train).append(row)
    return train, validation, list(mapped(rows("test.csv"), "banking77", table))


def clinc150(where: Path, table: dict[str, str]) -> tuple[list[Row], list[Row], list[Row]]:
    full = json.loads(read_source(where, "data/data_full.json"))

    def rows(*parts: str) -> list[Row]:
        return [r for part in parts for r in mapped(full[part], "clinc150", table)]

    return rows("train", "oos_train"), rows("val", "oos_val"), rows("test", "oos_test")


def handwritten(path: Path = DATA / "handwritten.toml") -> tuple[list[Row], list[Row]]:
    train: list[Row] = []
    test: list[Row] = []
    for intent, messages in tomllib.loads(path.read_text(encoding="utf-8")).items():
        for n, text in enumerate(messages, start=1):
            row = {"text": text, "intent": intent, "source": "handwritten", "label": intent}
            (test if n % HANDWRITTEN_TEST_EVERY == 0 else train).append(row)
    return train, test


def write(rows: list[Row], path: Path) -> None:
    lines = [json.dumps(r, ensure_ascii=False, sort_keys=True) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--banking77", type=Path, required=True)
    parser.add_argument("--clinc150", type=Path, required=True)
    args = parser.parse_args()
    mapping = load_mapping()
    b_train, b_validation, b_test = banking77(args.banking77, mapping["banking77"])
    c_train, c_validation, c_test = clinc150(args.clinc150, mapping["clinc150"])
    h_train, h_test = handwritten()
    write(b_train + c_train + h_train, DATA / "train.jsonl")
    write(b_validation + c_validation, DATA / "validation.jsonl")
    write(b_test + c_test + h_test, DATA / "test.jsonl")


if __name__ == "__main__":
    main()
