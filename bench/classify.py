"""The text classifier per message: p50 and p99 of derive_labels, and of each of its parts.

Every held-out message of data/text/test.jsonl (7,324 customer messages, median 41
characters, 99 % under 160) is classified once per round, in a fixed order, each timed alone with
perf_counter_ns (wall clock) and thread_time_ns (the CPU time this thread spent); then
the same for texts of exactly 300 characters (held-out messages joined until 300), whole
and part by part: what a text per event adds to RecordEvents.
Target: p99 < 1 ms for a whole classification (intent, sentiment, language). The verdict
reads the CPU time of the median round: on a machine shared with other work, the wall
clock's p99 measures the scheduler's time slices (a message preempted waits
milliseconds), the CPU time what the classifier costs. Both are printed.

    .venv/bin/python bench/classify.py [--rounds 3] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402

from tactful.language.identify import identify_language, load_language_profiles  # noqa: E402
from tactful.language.intent_model import load_intent_model  # noqa: E402
from tactful.language.labels import derive_labels  # noqa: E402
from tactful.language.sentiment import load_lexicon, sentiment  # noqa: E402

HELD_OUT = Path(__file__).resolve().parents[1] / "data" / "text" / "test.jsonl"
TARGET_P99_MS = 1.0
LENGTH = 300


def percentiles(times_ns: Sequence[int]) -> dict[str, float]:
    ordered = sorted(times_ns)

    def at(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))] / 1e6, 4)

    return {"p50_ms": at(0.50), "p99_ms": at(0.99), "max_ms": round(ordered[-1] / 1e6, 4)}


def timed(call: Callable[[str], object], texts: Sequence[str]) -> tuple[list[int], list[int]]:
    """Each call's wall-clock time and the CPU time this thread spent in it (ns)."""
    wall, cpu = [], []
    for text in texts:
        start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
        call(text)
        cpu.append(time.thread_time_ns() - start_cpu)
        wall.append(time.perf_counter_ns() - start)
    return wall, cpu


def of_length(texts: Sequence[str], length: int) -> list[str]:
    """Held-out messages joined into texts of exactly `length` characters."""
    out, current = [], ""
    for text in texts:
        current = f"{current} {text}".strip()
        if len(current) >= length:
            out.append(current[:length])
            current = ""
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    model, profiles, lexicon = load_intent_model(), load_language_profiles(), load_lexicon()
    load_s = time.perf_counter() - start
    texts = [json.loads(line)["text"] for line in HELD_OUT.read_text().splitlines()]
    long_texts = of_length(texts, LENGTH)
    parts: dict[str, tuple[Callable[[str], object], Sequence[str]]] = {
        "derive_labels": (derive_labels, texts),
        "intent": (model.classify, texts),
        "sentiment": (lambda t: sentiment(t, lexicon), texts),
        "language": (lambda t: identify_language(t, profiles), texts),
        f"derive_labels, {LENGTH} characters": (derive_labels, long_texts),
        f"intent, {LENGTH} characters": (model.classify, long_texts),
        f"sentiment, {LENGTH} characters": (lambda t: sentiment(t, lexicon), long_texts),
        f"language, {LENGTH} characters": (lambda t: identify_language(t, profiles), long_texts),
    }
    for call, some in parts.values():  # warm up
        timed(call, some[:200])
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in parts}
    for _ in range(args.rounds):
        for name, (call, some) in parts.items():
            wall, cpu = timed(call, some)
            cpu_figures = {f"cpu_{k}": v for k, v in percentiles(cpu).items()}
            rounds[name].append({**percentiles(wall), **cpu_figures})
    median = {
        name: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        for name, runs in rounds.items()
    }
    met = median["derive_labels"]["cpu_p99_ms"] < TARGET_P99_MS
    if args.json:
        print(json.dumps({"load_s": round(load_s, 3), "median": median, "rounds": rounds}))
        return
    print(
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; load average "
        f"{load_before:.2f} before the run; models loaded in {load_s:.2f} s; "
        f"{len(texts)} held-out messages, {len(long_texts)} of {LENGTH} characters"
    )
    head = ("p50 ms", "p99 ms", "max ms", "cpu p50", "cpu p99", "cpu max")
    print(f"{'part':<34} {'round':>5} " + " ".join(f"{h:>8}" for h in head))
    keys = ("p50_ms", "p99_ms", "max_ms", "cpu_p50_ms", "cpu_p99_ms", "cpu_max_ms")
    for name, runs in rounds.items():
        for n, r in enumerate(runs, start=1):
            print(f"{name:<34} {n:>5} " + " ".join(f"{r[k]:>8.3f}" for k in keys))
    whole = median["derive_labels"]
    print(
        f"derive_labels per message, median round: CPU p50 {whole['cpu_p50_ms']:.3f} ms, "
        f"p99 {whole['cpu_p99_ms']:.3f} ms (target p99 < {TARGET_P99_MS} ms: "
        f"{'met' if met else 'MISSED'}); wall clock p50 {whole['p50_ms']:.3f} ms, "
        f"p99 {whole['p99_ms']:.3f} ms"
    )
    long = median[f"derive_labels, {LENGTH} characters"]
    print(
        f"derive_labels for {LENGTH} characters, median round: CPU p50 "
        f"{long['cpu_p50_ms'] * 1000:.0f} µs, p99 {long['cpu_p99_ms'] * 1000:.0f} µs"
    )


if __name__ == "__main__":
    main()
