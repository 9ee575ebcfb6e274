"""bench/text_ingest.py runs (one short round, so it cannot rot): both kinds of batch
are stored whole, and the text costs the server something."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_one_short_round_prints_both_rates_as_json() -> None:
    done = subprocess.run(
        [sys.executable, "bench/text_ingest.py", "--seconds", "0.5", "--rounds", "1",
         "--batch", "20", "--distinct-batches", "5", "--json"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=180,
    )  # fmt: skip
    report = json.loads(done.stdout)
    text, plain = report["with_text"], report["without_text"]
    assert text["errors"] == 0 and plain["errors"] == 0, report
    assert text["per_second"] > 0 and plain["per_second"] > 0
    assert abs(report["ratio"] - text["per_second"] / plain["per_second"]) < 0.01
