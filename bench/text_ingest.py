"""RecordEvents with a text per event beside the same batches without it, in one run.

One Tactful server (SQLite, the example contract) takes batches of `support_message`
events under purpose `support_triage` (principal `support_widget`): the same subjects,
the same times and the same `channel`, once with a `message` text attribute of
exactly 300 characters (held-out customer messages joined, data/text/test.jsonl) and
once without it. Each text is classified in memory at ingest and only its labels are
kept (docs/guide/text.md). The two kinds of batch alternate, `--rounds` times each,
so the machine's drift falls on both alike; the figure is the median round.
**Target: with text ≥ 0.5 of the events/s without it.**

    .venv/bin/python bench/text_ingest.py [--seconds 4] [--rounds 3] [--batch 100] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a file, bench/ heads sys.path, where bench/segments.py would shadow `segments`.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
from datetime import datetime, timedelta  # noqa: E402

from bench._harness import RECORD_EVENTS, Load, bearer, drive, serving  # noqa: E402
from bench._report import describe_machine, figures, machine, progress, verdict  # noqa: E402
from bench.classify import HELD_OUT, of_length  # noqa: E402
from tactful.app.auth import new_token  # noqa: E402
from tactful.app.domain import utc_now  # noqa: E402
from tactful.timestamps import to_us  # noqa: E402
from tactful.v1 import common_pb2, personalization_pb2  # noqa: E402

PURPOSE = "support_triage"
PRINCIPAL = "support_widget"
TARGET_RATIO = 0.5
LENGTH = 300


def main() -> int:
    args = _parser().parse_args()
    texts = of_length([json.loads(line)["text"] for line in HELD_OUT.open()], LENGTH)
    with_text, without = _batches(texts, args.batch, args.distinct_batches, now=utc_now())
    token = new_token()
    rounds: list[tuple[Load, Load]] = []
    with serving("tactful", token=token, principal=PRINCIPAL) as server:
        for i in range(args.rounds):
            progress(f"round {i + 1} of {args.rounds}: {args.seconds:g} s with text, then without")
            loads = {}
            for name, requests in (("text", with_text), ("plain", without)):
                loads[name] = asyncio.run(
                    drive(server, RECORD_EVENTS, requests, bearer(token),
                          concurrency=args.concurrency, seconds=args.seconds, warmup=0)
                )  # fmt: skip
            rounds.append((loads["text"], loads["plain"]))
    ratios = [t.per_second / p.per_second if p.per_second else 0.0 for t, p in rounds]
    ratio = statistics.median(ratios)
    middle = rounds[ratios.index(ratio)] if ratio in ratios else rounds[len(rounds) // 2]
    met = ratio >= TARGET_RATIO
    if args.json:
        print(json.dumps({
            "benchmark": "text_ingest",
            "batch": args.batch,
            "text_characters": LENGTH,
            "seconds": args.seconds,
            "rounds": [round(r, 3) for r in ratios],
            "with_text": figures(middle[0], items_per_call=args.batch),
            "without_text": figures(middle[1], items_per_call=args.batch),
            "ratio": round(ratio, 3),
            "target_ratio": TARGET_RATIO,
            "met": met,
            "machine": machine(),
        }))  # fmt: skip
        return 0
    print(f"RecordEvents, {args.batch} support_message events a call, {args.concurrency} "
          f"clients, {args.seconds:g} s each, {args.rounds} rounds")  # fmt: skip
    print(f"machine: {describe_machine()}")
    for (text, plain), r in zip(rounds, ratios, strict=True):
        print(f"  with a {LENGTH}-character text {text.per_second * args.batch:8,.0f} events/s "
              f"({_cpu(text, args.batch)}), without {plain.per_second * args.batch:8,.0f} "
              f"events/s ({_cpu(plain, args.batch)}): {r:.3f}")  # fmt: skip
    print(f"median with text / without: {ratio:.3f} (target >= {TARGET_RATIO}: {verdict(met)})")
    return 0


def _cpu(load: Load, batch: int) -> str:
    per_call = load.server_cpu_us_per_call
    return "server CPU n/a" if per_call is None else f"{per_call / batch:,.0f} µs/event"


def _batches(
    texts: list[str], size: int, count: int, *, now: datetime
) -> tuple[list[bytes], list[bytes]]:
    """`count` batches with a text per event and the same batches without it."""
    rng = random.Random(23)
    emails = [f"text-bench-{i:05d}@example.com" for i in range(2000)]
    with_text, without = [], []
    for i in range(count):
        events = [(rng.choice(emails), now - timedelta(seconds=rng.randrange(3600)),
                   texts[(i * size + j) % len(texts)]) for j in range(size)]  # fmt: skip
        with_text.append(_request(events, text=True).SerializeToString())
        without.append(_request(events, text=False).SerializeToString())
    return with_text, without


def _request(
    events: list[tuple[str, datetime, str]], *, text: bool
) -> personalization_pb2.RecordEventsRequest:
    request = personalization_pb2.RecordEventsRequest(purpose=PURPOSE)
    for address, at, message in events:
        event = request.events.add(
            subject=common_pb2.SubjectRef(namespace="email", id=address), type="support_message"
        )
        event.occurred_at.FromMicroseconds(to_us(at))
        event.attributes["channel"].string_value = "chat"
        if text:
            event.attributes["message"].string_value = message
    return request


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="per kind per round (4)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both kinds (3)")
    parser.add_argument("--batch", type=int, default=100, help="events per RecordEvents (100)")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent clients (4)")
    parser.add_argument("--distinct-batches", type=int, default=50,
                        help="pre-built batches of each kind, sent in rotation (50)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON line instead")
    return parser


if __name__ == "__main__":
    sys.exit(main())
