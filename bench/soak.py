"""Soak: a mixed load for minutes on end, and whether throughput holds as the store grows.

16 callers share one Tactful server (the embedded default, in a child process), each
sending, over and over, one RecordEvents batch (25 events, mostly `page_viewed`,
some `signup_started` with a plan; event times are the time of sending), then two
GetSegments and two GetSignals (`pages_viewed_24h`, `signup_plan`), all under the
purpose `onboarding`, about subjects drawn from a consented set. Every call writes
an access record, so the behavior store, the access log and the vault grow for the
whole run. Bounded in time (`--minutes`, default 10) and in calls (`--max-calls`).

Printed: operations/s per minute and per 30 s, by method, with p99 latency, server
CPU (cores, and µs per operation: what an operation costs, whoever limited the
rate), the CPU other processes took (a window where they took more than 0.2 cores is
marked: not representative), server RSS and the sizes of behavior.db,
access_log.db and their WALs at the end of each window; then the last minute's rate
over the first's. Target: >= 0.9 (the last minute within 10 % of the first).

    .venv/bin/python bench/soak.py [--minutes 10] [--concurrency 16] [--subjects 2000] [--json]
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
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import timedelta  # noqa: E402

import grpc  # noqa: E402

from bench._harness import (  # noqa: E402
    CALL_TIMEOUT_S,
    GET_SEGMENTS,
    NOISY_OTHER_CPU,
    PURPOSE,
    RECORD_EVENTS,
    Served,
    bearer,
    grant_consent,
    machine_busy_seconds,
    print_profile,
    serving,
)
from bench._report import describe_machine, machine, progress, verdict  # noqa: E402
from tactful.app.auth import new_token  # noqa: E402
from tactful.app.domain import utc_now  # noqa: E402
from tactful.v1 import common_pb2, personalization_pb2  # noqa: E402

GET_SIGNALS = "/tactful.v1.Personalization/GetSignals"
TARGET_RATIO = 0.9
METHODS = ("RecordEvents", "GetSegments", "GetSignals")
# What each caller sends, in turn, for the whole run.
ROUND = ("RecordEvents", "GetSegments", "GetSignals", "GetSegments", "GetSignals")
SIGNALS = ("pages_viewed_24h", "signup_plan")
PLANS = ("free", "trial", "pro", "enterprise")
FILES = ("behavior.db", "behavior.db-wal", "access_log.db", "access_log.db-wal")
MB = 1_000_000


@dataclass(frozen=True)
class Sample:
    """CPU used so far (server, this load generator, the whole machine), RSS, file sizes."""

    server_cpu_s: float | None
    client_cpu_s: float
    machine_cpu_s: float | None
    rss_bytes: int | None
    file_bytes: dict[str, int]

    @staticmethod
    def take(server: Served, data: Path) -> Sample:
        sizes = {}
        for name in FILES:
            try:
                sizes[name] = (data / name).stat().st_size
            except OSError:
                sizes[name] = 0
        return Sample(
            server.cpu_seconds(),
            time.process_time(),
            machine_busy_seconds(),
            server.rss_bytes(),
            sizes,
        )


@dataclass
class Window:
    """What completed in one window of `--window` seconds, and the server at its end."""

    start_s: float
    seconds: float = 0.0
    calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METHODS, 0))
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    end: Sample | None = None  # the server, the files and the machine at its end

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    @property
    def per_second(self) -> float:
        return self.total / self.seconds if self.seconds else 0.0

    def percentile_ms(self, percent: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))]


@dataclass
class Soak:
    windows: list[Window]
    seconds: float
    first_error: str | None = None
    stopped_by: str = "time"  # or "calls"
    client_cpu_s: float = 0.0
    at_start: Sample | None = None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    token = new_token()
    emails = [f"soak-bench-{i:06d}@example.com" for i in range(args.subjects)]
    with tempfile.TemporaryDirectory(prefix="tactful-soak-") as home:
        data = Path(home) / "data"  # where the harness keeps Tactful's files
        with serving("tactful", token=token, profile=args.profile, data_dir=Path(home)) as server:
            started = time.perf_counter()
            asyncio.run(grant_consent(server, token, emails, concurrency=args.concurrency))
            progress(
                f"soak: {len(emails):,} subjects consented in "
                f"{time.perf_counter() - started:.1f} s (not measured); "
                f"{args.minutes:g} min of mixed load at concurrency {args.concurrency} ..."
            )
            soak = asyncio.run(_soak(server, token, emails, data, args))
    minutes = _merge(soak.windows, per=max(1, round(60 / args.window)))
    ratio = _ratio(minutes)
    ratio_30 = _ratio(soak.windows)
    if args.json:
        print(json.dumps(_report(args, soak, minutes, ratio, ratio_30)))
    else:
        _print_report(args, soak, minutes, ratio, ratio_30)
        if args.profile:
            print_profile(args.profile)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long (10)")
    parser.add_argument("--max-calls", type=int, default=2_000_000, help="at most (2,000,000)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent callers (16)")
    parser.add_argument("--subjects", type=int, default=2000, help="consented subjects (2,000)")
    parser.add_argument("--batch", type=int, default=25, help="events per RecordEvents (25)")
    parser.add_argument("--window", type=float, default=30.0, help="seconds per window (30)")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead")
    parser.add_argument("--profile", type=Path, help="cProfile the Tactful server to this file")
    return parser


async def _soak(
    server: Served, token: str, emails: Sequence[str], data: Path, args: argparse.Namespace
) -> Soak:
    rng = random.Random(12)
    metadata = bearer(token)
    reads = {
        "GetSegments": [
            personalization_pb2.GetSegmentsRequest(
                subject=common_pb2.SubjectRef(namespace="email", id=a), purpose=PURPOSE
            ).SerializeToString()
            for a in emails
        ],
        "GetSignals": [
            personalization_pb2.GetSignalsRequest(
                subject=common_pb2.SubjectRef(namespace="email", id=a),
                purpose=PURPOSE,
                names=SIGNALS,
            ).SerializeToString()
            for a in emails
        ],
    }
    windows: list[Window] = []
    errors: list[str] = []
    calls_left = args.max_calls
    at_start = Sample.take(server, data)
    start = time.perf_counter()
    deadline = start + args.minutes * 60

    def window_at(moment: float) -> Window:
        index = int((moment - start) // args.window)
        while len(windows) <= index:
            windows.append(Window(start_s=len(windows) * args.window))
        return windows[index]

    async with server.channel() as channel:
        send: dict[str, Callable[[bytes], object]] = {
            "RecordEvents": channel.unary_unary(RECORD_EVENTS),
            "GetSegments": channel.unary_unary(GET_SEGMENTS),
            "GetSignals": channel.unary_unary(GET_SIGNALS),
        }

        def request(method: str) -> bytes:
            if method == "RecordEvents":
                return _batch(rng, emails, args.batch)
            return rng.choice(reads[method])

        async def caller(offset: int) -> None:
            nonlocal calls_left
            turn = offset
            while (began := time.perf_counter()) < deadline and calls_left > 0:
                calls_left -= 1
                method = ROUND[turn % len(ROUND)]
                turn += 1
                try:
                    await send[method](  # type: ignore[misc]
                        request(method), metadata=metadata, timeout=CALL_TIMEOUT_S
                    )
                except grpc.aio.AioRpcError as error:
                    errors.append(f"{method} {error.code().name}: {error.details()}")
                    window_at(time.perf_counter()).errors += 1
                    continue
                done = time.perf_counter()
                window = window_at(done)
                window.calls[method] += 1
                window.latencies_ms.append((done - began) * 1000)

        async def sampler() -> None:
            boundary = start
            while True:
                boundary += args.window
                await asyncio.sleep(max(0.0, boundary - time.perf_counter()))
                window_at(boundary - args.window / 2).end = Sample.take(server, data)

        watching = asyncio.create_task(sampler())
        await asyncio.gather(*(caller(i) for i in range(args.concurrency)))
        end = time.perf_counter()
        watching.cancel()
    if windows and windows[-1].end is None:  # the last window, cut short
        windows[-1].end = Sample.take(server, data)
    for window in windows:
        window.seconds = min(window.start_s + args.window, end - start) - window.start_s
    # A last window of a few seconds only says how the run ended: drop it.
    if len(windows) > 1 and windows[-1].seconds < args.window / 2:
        windows.pop()
    return Soak(
        windows,
        end - start,
        errors[0] if errors else None,
        "calls" if calls_left <= 0 else "time",
        time.process_time() - at_start.client_cpu_s,
        at_start,
    )


def _batch(rng: random.Random, emails: Sequence[str], size: int) -> bytes:
    """A RecordEvents batch happening now: page views, and one sign-up start in five."""
    now = utc_now()
    events = []
    for _ in range(size):
        at = common_pb2.Event(
            subject=common_pb2.SubjectRef(namespace="email", id=rng.choice(emails))
        )
        at.occurred_at.FromDatetime(now - timedelta(milliseconds=rng.randrange(1000)))
        if rng.randrange(5):
            at.type = "page_viewed"
            at.attributes["path"].string_value = f"/docs/{rng.randrange(50)}"
        else:
            at.type = "signup_started"
            at.attributes["plan"].string_value = rng.choice(PLANS)
        events.append(at)
    return personalization_pb2.RecordEventsRequest(
        purpose=PURPOSE, events=events
    ).SerializeToString()


def _merge(windows: Sequence[Window], *, per: int) -> list[Window]:
    """Consecutive windows, `per` at a time (30 s windows into minutes)."""
    merged = []
    for i in range(0, len(windows), per):
        group = windows[i : i + per]
        whole = Window(start_s=group[0].start_s)
        for w in group:
            whole.seconds += w.seconds
            whole.errors += w.errors
            whole.latencies_ms += w.latencies_ms
            for method, n in w.calls.items():
                whole.calls[method] += n
        whole.end = group[-1].end
        merged.append(whole)
    # A last minute much shorter than the others says little: fold it into the one before.
    if len(merged) > 1 and merged[-1].seconds < merged[0].seconds / 2:
        merged.pop()
    return merged


def _ratio(windows: Sequence[Window]) -> float | None:
    if len(windows) < 2 or not windows[0].per_second:
        return None
    return windows[-1].per_second / windows[0].per_second


def _busy(
    windows: Sequence[Window], index: int, at_start: Sample | None
) -> tuple[float | None, float | None]:
    """Cores' worth of CPU the server, and everything but the server and this load
    generator, used during window `index` (from the samples at its ends)."""
    now, window = windows[index].end, windows[index]
    before = windows[index - 1].end if index else at_start
    if now is None or before is None or not window.seconds:
        return None, None
    if now.server_cpu_s is None or before.server_cpu_s is None:
        return None, None
    server = now.server_cpu_s - before.server_cpu_s
    other = None
    if now.machine_cpu_s is not None and before.machine_cpu_s is not None:
        client = now.client_cpu_s - before.client_cpu_s
        other = max(0.0, now.machine_cpu_s - before.machine_cpu_s - server - client)
    return server / window.seconds, None if other is None else other / window.seconds


def _us_per_op(window: Window, server_busy: float | None) -> float | None:
    """Server CPU per completed call: what an operation costs, whoever limited the rate."""
    if server_busy is None or not window.per_second:
        return None
    return server_busy / window.per_second * 1e6


def _mb(window: Window, name: str) -> float | None:
    return None if window.end is None else window.end.file_bytes.get(name, 0) / MB


def _rss_mb(window: Window) -> float | None:
    if window.end is None or window.end.rss_bytes is None:
        return None
    return window.end.rss_bytes / MB


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _window_figures(
    windows: Sequence[Window], batch: int, at_start: Sample | None
) -> list[dict[str, object]]:
    figures: list[dict[str, object]] = []
    for i, w in enumerate(windows):
        server, other = _busy(windows, i, at_start)
        per_s = {m: round(n / w.seconds, 1) if w.seconds else 0.0 for m, n in w.calls.items()}
        figures.append(
            {
                "start_s": round(w.start_s, 1),
                "seconds": round(w.seconds, 1),
                "ops_per_s": round(w.per_second, 1),
                "per_second": per_s,
                "events_per_s": round(per_s["RecordEvents"] * batch, 1),
                "errors": w.errors,
                "p50_ms": round(w.percentile_ms(50), 2),
                "p99_ms": round(w.percentile_ms(99), 2),
                "server_cpu": _round(server, 2),
                "server_cpu_us_per_op": _round(_us_per_op(w, server), 1),
                "other_cpu": _round(other, 2),
                "rss_mb": _round(_rss_mb(w), 1),
                "files_mb": {n: _round(_mb(w, n), 2) for n in FILES},
            }
        )
    return figures


def _report(
    args: argparse.Namespace,
    soak: Soak,
    minutes: Sequence[Window],
    ratio: float | None,
    ratio_30: float | None,
) -> dict[str, object]:
    return {
        "benchmark": "soak",
        "minutes": args.minutes,
        "seconds": round(soak.seconds, 1),
        "stopped_by": soak.stopped_by,
        "concurrency": args.concurrency,
        "subjects": args.subjects,
        "batch": args.batch,
        "calls": sum(w.total for w in soak.windows),
        "errors": sum(w.errors for w in soak.windows),
        "first_error": soak.first_error,
        "client_cpu": round(soak.client_cpu_s / soak.seconds, 2) if soak.seconds else None,
        "per_minute": _window_figures(minutes, args.batch, soak.at_start),
        "per_window": _window_figures(soak.windows, args.batch, soak.at_start),
        "window_s": args.window,
        "ratio_last_first_minute": None if ratio is None else round(ratio, 3),
        "ratio_last_first_window": None if ratio_30 is None else round(ratio_30, 3),
        "target_ratio": TARGET_RATIO,
        "met": None if ratio is None else ratio >= TARGET_RATIO,
        "machine": machine(),
    }


def _print_report(
    args: argparse.Namespace,
    soak: Soak,
    minutes: Sequence[Window],
    ratio: float | None,
    ratio_30: float | None,
) -> None:
    calls = sum(w.total for w in soak.windows)
    print(
        f"Soak: {soak.seconds / 60:.1f} min (stopped by {soak.stopped_by}), {args.concurrency} "
        f"callers, {args.subjects:,} consented subjects; each caller in turn: RecordEvents "
        f"({args.batch} events), GetSegments, GetSignals, GetSegments, GetSignals"
    )
    print(f"machine: {describe_machine()}")
    print(
        f"{calls:,} calls, {sum(w.errors for w in soak.windows)} errors; load generator "
        f"{soak.client_cpu_s / soak.seconds if soak.seconds else 0:.2f} cores"
    )
    if soak.first_error:
        print(f"  first error: {soak.first_error}")
    print("\nper minute:")
    _print_windows(minutes, args.batch, soak.at_start)
    print(f"\nper {args.window:g} s:")
    _print_windows(soak.windows, args.batch, soak.at_start)
    print()
    if ratio is None:
        print("last/first minute: - (the run is shorter than two minutes)")
    else:
        print(
            f"last/first minute: {ratio:.2f} "
            f"(target >= {TARGET_RATIO}: {verdict(ratio >= TARGET_RATIO)})"
        )
    if ratio_30 is not None:
        print(f"last/first {args.window:g} s: {ratio_30:.2f}")


def _print_windows(windows: Sequence[Window], batch: int, at_start: Sample | None) -> None:
    """One line per window; sizes are at its end. `other cpu` is everything else on the
    machine (1.00 = one core): above NOISY_OTHER_CPU, the window is not representative."""
    print(
        f"{'from s':>7}{'ops/s':>8}{'events/s':>10}{'seg/s':>7}{'sig/s':>7}{'p99 ms':>8}"
        f"{'errors':>7}{'srv cpu':>8}{'µs/op':>7}{'other':>7}{'RSS MB':>7}"
        f"{'behavior MB':>12}{'wal':>6}{'access MB':>10}{'wal':>6}"
    )
    for i, w in enumerate(windows):
        rate = {m: n / w.seconds if w.seconds else 0.0 for m, n in w.calls.items()}
        server, other = _busy(windows, i, at_start)
        noisy = " *" if other is not None and other > NOISY_OTHER_CPU else ""
        print(
            f"{w.start_s:>7.0f}{w.per_second:>8.0f}{rate['RecordEvents'] * batch:>10,.0f}"
            f"{rate['GetSegments']:>7.0f}{rate['GetSignals']:>7.0f}"
            f"{w.percentile_ms(99):>8.1f}{w.errors:>7}"
            f"{_maybe(server, '.2f'):>8}{_maybe(_us_per_op(w, server), '.0f'):>7}"
            f"{_maybe(other, '.2f'):>7}{_maybe(_rss_mb(w), '.0f'):>7}"
            f"{_maybe(_mb(w, 'behavior.db'), '.1f'):>12}"
            f"{_maybe(_mb(w, 'behavior.db-wal'), '.1f'):>6}"
            f"{_maybe(_mb(w, 'access_log.db'), '.1f'):>10}"
            f"{_maybe(_mb(w, 'access_log.db-wal'), '.1f'):>6}{noisy}"
        )
    if any(
        (o := _busy(windows, i, at_start)[1]) is not None and o > NOISY_OTHER_CPU
        for i in range(len(windows))
    ):
        print(
            f"  * other processes took more than {NOISY_OTHER_CPU} cores in this window:"
            " not representative"
        )


def _maybe(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


if __name__ == "__main__":
    sys.exit(main())
