"""What the edge's observer costs per call, alone: metrics, the JSON log line, both.

    .venv/bin/python bench/observer.py [--calls 20000]

CPU time (time.process_time) of `--calls` calls of each observer, median of five
rounds; the JSON line goes to a file in a temporary folder, as `[log] file` does.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a file, bench/ heads sys.path and this file would shadow the `segments` package.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from tactful.api import logs  # noqa: E402
from tactful.api.metrics import Metrics  # noqa: E402
from tactful.api.observability import CallOutcome, Observer, fan_out  # noqa: E402

OUTCOME = CallOutcome(
    1_800_000_000_000_000,
    "tactful.v1.Personalization/GetSegments",
    "web_frontend",
    "onboarding",
    "OK",
    "allowed",
    "0123456789abcdef0123456789abcdef",
    0.0012,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tactful-bench-") as tmp:
        setup = logs.configure("json", "info", Path(tmp) / "calls.jsonl")
        metrics = Metrics()
        try:
            for name, observer in (
                ("metrics", metrics.observe),
                ("JSON log line", logs.log_call),
                ("both", fan_out([logs.log_call, metrics.observe])),
            ):
                print(f"{name}: {_median_us(observer, args.calls):.1f} µs of CPU per call")
        finally:
            setup.close()
    return 0


def _median_us(observer: Observer, calls: int) -> float:
    rounds = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(calls):
            observer(OUTCOME)
        rounds.append((time.process_time() - started) / calls * 1e6)
    return statistics.median(rounds)


if __name__ == "__main__":
    sys.exit(main())
