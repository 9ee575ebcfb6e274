"""GetSegments throughput: Tactful beside a bare grpc.aio echo server, same client, same load.

The echo server answers each request with its own bytes: no protobuf, no auth, no
storage. It is what a Python gRPC server costs at all on this machine; Tactful's
GetSegments (authenticate, decide, pseudonymize, consent and activity reads from
SQLite, segment rule) is measured against it. Target: Tactful QPS / echo QPS >= 0.5.

Before the timed run, every subject consents to `onboarding` (it rests on consent)
and gets two page views a few minutes old, so each call finds real rows.

    .venv/bin/python bench/segments.py [--seconds 10] [--concurrency 32] [--tls]
        [--observability] [--json]

With --tls, both servers are measured again serving TLS (a development PKI made for
the run), in the same run, and the TLS figures are printed beside the plaintext ones.

With --observability, Tactful is measured again with metrics served and a JSON log
line per call written to a file, in the same run: the extra server CPU per call and
the QPS ratio, on beside off (target: at most 5 % fewer calls).

Each server runs alone, in a child process; this process only generates load.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a file, bench/ heads sys.path and this file would shadow the `segments` package.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402

from bench._harness import (  # noqa: E402
    CALL_TIMEOUT_S,
    ECHO_METHOD,
    GET_SEGMENTS,
    PURPOSE,
    Load,
    Served,
    bearer,
    drive,
    grant_consent,
    page_views,
    print_profile,
    record,
    serving,
)
from bench._report import (  # noqa: E402
    describe_machine,
    figures,
    machine,
    print_loads,
    progress,
    verdict,
)
from tactful.app._x509 import write_development_pki  # noqa: E402
from tactful.app.auth import new_token  # noqa: E402
from tactful.app.domain import utc_now  # noqa: E402
from tactful.v1 import common_pb2, personalization_pb2  # noqa: E402

TARGET_RATIO = 0.5
BATCH = 500


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    token = new_token()
    emails = [f"segments-bench-{i:06d}@example.com" for i in range(args.subjects)]
    requests = [
        personalization_pb2.GetSegmentsRequest(
            subject=common_pb2.SubjectRef(namespace="email", id=address), purpose=PURPOSE
        ).SerializeToString()
        for address in emails
    ]
    echo, tactful = _measure(args, token, emails, requests, tls=None)
    secured: tuple[Load, Load] | None = None
    if args.tls:
        with tempfile.TemporaryDirectory(prefix="tactful-bench-pki-") as pki:
            write_development_pki(Path(pki), [], now=datetime.now(UTC))
            secured = _measure(args, token, emails, requests, tls=Path(pki))
    observed = _observed(args, token, emails, requests) if args.observability else None
    ratio = tactful.per_second / echo.per_second if echo.per_second else 0.0
    if args.json:
        print(
            json.dumps(
                {
                    "benchmark": "segments",
                    "concurrency": args.concurrency,
                    "seconds": args.seconds,
                    "echo": figures(echo),
                    "tactful": figures(tactful),
                    "ratio": round(ratio, 3),
                    "cpu_cost_ratio": _round(_cost_ratio(echo, tactful)),
                    **(_tls_figures(echo, tactful, *secured) if secured else {}),
                    **(_observability_figures(tactful, observed) if observed else {}),
                    "target_ratio": TARGET_RATIO,
                    "met": ratio >= TARGET_RATIO,
                    "machine": machine(),
                }
            )
        )
    else:
        _print_table(args, echo, tactful, ratio)
        if secured:
            _print_tls(tactful, *secured)
        if observed:
            _print_observability(tactful, observed)
    if args.profile and not args.json:
        print_profile(args.profile)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per server (default 10)")
    parser.add_argument("--concurrency", type=int, default=32, help="calls in flight (32)")
    parser.add_argument("--subjects", type=int, default=1000, help="preloaded subjects (1000)")
    parser.add_argument(
        "--tls", action="store_true", help="measure both servers again over TLS, in this run"
    )
    parser.add_argument(
        "--observability",
        action="store_true",
        help="measure Tactful again with metrics and a JSON log line per call, in this run",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line instead")
    parser.add_argument("--profile", type=Path, help="cProfile the Tactful server to this file")
    return parser


def _measure(
    args: argparse.Namespace,
    token: str,
    emails: Sequence[str],
    requests: Sequence[bytes],
    *,
    tls: Path | None,
) -> tuple[Load, Load]:
    """The echo server, then Tactful (consented and preloaded), under the same load."""
    load = {"concurrency": args.concurrency, "seconds": args.seconds}
    over = " over TLS" if tls else ""
    progress(f"echo{over}: {args.seconds:g} s at concurrency {args.concurrency} ...")
    with serving("echo", tls=tls) as server:
        echo = asyncio.run(drive(server, ECHO_METHOD, requests, bearer(token), **load))

    with serving("tactful", token=token, profile=args.profile, tls=tls) as server:
        asyncio.run(grant_consent(server, token, emails, concurrency=args.concurrency))
        stored = asyncio.run(record(server, token, _preload(emails)))
        sample = asyncio.run(_segments_of(server, token, requests[0]))
        progress(
            f"tactful{over}: {len(emails)} subjects consented and preloaded ({stored} events); "
            f"{emails[0]} is in {sample}"
        )
        progress(f"tactful{over}: {args.seconds:g} s at concurrency {args.concurrency} ...")
        tactful = asyncio.run(drive(server, GET_SEGMENTS, requests, bearer(token), **load))
    return echo, tactful


def _observed(
    args: argparse.Namespace, token: str, emails: Sequence[str], requests: Sequence[bytes]
) -> Load:
    """Tactful again, with metrics and the JSON call log on, under the same load."""
    load = {"concurrency": args.concurrency, "seconds": args.seconds}
    with serving("tactful", token=token, observability=True) as server:
        asyncio.run(grant_consent(server, token, emails, concurrency=args.concurrency))
        asyncio.run(record(server, token, _preload(emails)))
        progress(f"tactful, metrics and JSON log on: {args.seconds:g} s ...")
        return asyncio.run(drive(server, GET_SEGMENTS, requests, bearer(token), **load))


def _observability_figures(off: Load, on: Load) -> dict[str, object]:
    return {
        "observability": {
            "tactful": figures(on),
            "on_over_off_qps": round(on.per_second / off.per_second, 3) if off.per_second else 0.0,
            "server_cpu_us_per_call": _round(_extra_us(off, on)),
        }
    }


def _print_observability(off: Load, on: Load) -> None:
    print_loads([("Tactful, metrics + JSON log on", on)], unit="QPS")
    if off.per_second:
        share = 1 - on.per_second / off.per_second
        print(f"metrics + JSON log on / off QPS: {on.per_second / off.per_second:.3f} "
              f"({share:+.1%} fewer calls; target at most 5 %)")  # fmt: skip
    extra = _extra_us(off, on)
    if extra is not None:
        print(f"metrics + JSON log cost Tactful {extra:.0f} µs of server CPU per call")


def _tls_figures(echo: Load, tactful: Load, echo_tls: Load, tactful_tls: Load) -> dict[str, object]:
    return {
        "tls": {
            "echo": figures(echo_tls),
            "tactful": figures(tactful_tls),
            "ratio": round(tactful_tls.per_second / echo_tls.per_second, 3)
            if echo_tls.per_second
            else 0.0,
            "tactful_tls_over_plaintext_qps": round(tactful_tls.per_second / tactful.per_second, 3)
            if tactful.per_second
            else 0.0,
            "tls_server_cpu_us_per_call": _round(_extra_us(tactful, tactful_tls)),
        }
    }


def _print_tls(tactful: Load, echo_tls: Load, tactful_tls: Load) -> None:
    print_loads(
        [("echo over TLS", echo_tls), ("Tactful GetSegments over TLS", tactful_tls)], unit="QPS"
    )
    ratio = tactful_tls.per_second / echo_tls.per_second if echo_tls.per_second else 0.0
    print(f"over TLS, ratio Tactful / echo QPS: {ratio:.2f}")
    if tactful.per_second:
        print(
            f"Tactful over TLS / plaintext QPS: {tactful_tls.per_second / tactful.per_second:.2f}"
        )
    extra = _extra_us(tactful, tactful_tls)
    if extra is not None:
        print(f"TLS costs Tactful {extra:.0f} µs of server CPU per call")


def _extra_us(plain: Load, secured: Load) -> float | None:
    a, b = plain.server_cpu_us_per_call, secured.server_cpu_us_per_call
    return b - a if a and b else None


def _preload(emails: Sequence[str]) -> list[bytes]:
    """Two page views per subject, a few minutes old, in RecordEvents batches."""
    now = utc_now()
    events = [(a, now - timedelta(minutes=m)) for a in emails for m in (4, 1)]
    return [
        page_views(events[i : i + BATCH]).SerializeToString() for i in range(0, len(events), BATCH)
    ]


async def _segments_of(server: Served, token: str, request: bytes) -> list[str]:
    async with server.channel() as channel:
        stub = channel.unary_unary(
            GET_SEGMENTS, response_deserializer=personalization_pb2.GetSegmentsResponse.FromString
        )
        reply = await stub(request, metadata=bearer(token), timeout=CALL_TIMEOUT_S)
    return list(reply.segments)


def _print_table(args: argparse.Namespace, echo: Load, tactful: Load, ratio: float) -> None:
    print(
        f"GetSegments beside a bare echo server: concurrency {args.concurrency}, "
        f"{args.seconds:g} s each"
    )
    print(f"machine: {describe_machine()}")
    print_loads([("bare grpc.aio echo", echo), ("Tactful GetSegments", tactful)], unit="QPS")
    print(
        f"ratio Tactful / echo QPS: {ratio:.2f} "
        f"(target >= {TARGET_RATIO}: {verdict(ratio >= TARGET_RATIO)})"
    )
    cost = _cost_ratio(echo, tactful)
    if cost is not None:
        print(
            f"server CPU per call, echo / Tactful: {cost:.2f} (the ratio if both servers "
            "were CPU-bound)"
        )


def _cost_ratio(echo: Load, tactful: Load) -> float | None:
    echo_us, tactful_us = echo.server_cpu_us_per_call, tactful.server_cpu_us_per_call
    return echo_us / tactful_us if echo_us and tactful_us else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


if __name__ == "__main__":
    sys.exit(main())
