"""Where a server's CPU goes: a profile of its threads, each function mapped to a phase.

`WindowProfiler` runs cProfile in every Python thread of the server process, timed by
the thread's own CPU clock (`time.thread_time`), so a thread blocked in `epoll` or
waiting for the GIL costs nothing; `begin` and `end` mark the window measured and
`end` returns its raw entries with each thread's CPU from `/proc`.

`attribute` maps each function's own time (tottime: every µs counted once) to a
phase by its module path (`PHASE_RULES`, first match wins). A function of no phase
of its own (the standard library, protobuf, sqlite3, psycopg, builtins) takes the
phase of whoever called it, in proportion to the time each caller spent in it; the
profile keeps one level of callers, so past that the split follows the callers'
own callers by their total time. What no rule and no caller claims is `other`.

Time the profiler cannot see is `native`: threads with no Python profile (gRPC
core's own threads) and Python threads that spent their CPU in compiled code with no
Python frame to charge it to (gRPC's completion-queue poller).
"""

from __future__ import annotations

import cProfile
import fnmatch
import functools
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import grpc

Key = tuple[str, int, str]  # (file, first line, function), as pstats names a function
MEASURING = "measuring"  # the benchmark's own code in the server: counted nowhere

PHASES: tuple[tuple[str, str], ...] = (
    ("decode", "request bytes to a message (api/decoding.py, protobuf parsing)"),
    ("authenticate", "token, identity, lockout and rate limits"),
    ("decide", "privacy decisions, consent, segment rules, journeys: the domain"),
    ("pseudonymize", "HMAC pseudonyms, normalization, keyring, vault"),
    ("read/write", "the stores (storage/*, the writer threads), sqlite3 or psycopg"),
    ("record", "the access log: entries, chain, pending records, sinks"),
    ("observe", "metrics, the log line, the span"),
    ("encode", "domain to protobuf (api/convert.py) and the reply to bytes"),
    ("transport", "gRPC's Python side, the event loop, thread hand-offs"),
    ("native", "CPU no Python frame accounts for: gRPC core's threads and poller"),
    ("other", "the rest: the edge, servicers, wiring"),
)
PHASE_NAMES = tuple(name for name, _ in PHASES)

# (pattern over "file:function", phase); first match wins. No match: the callers' phase.
PHASE_RULES: tuple[tuple[str, str], ...] = (
    ("*/tactful/api/decoding.py:*", "decode"),
    ("*/bench/_phases.py:encode_reply", "encode"),
    ("*/bench/_phases.py:*", MEASURING),
    ("*/bench/cpu_budget.py:*", MEASURING),
    ("*/tactful/api/convert.py:*", "encode"),
    ("*/tactful/api/scorecard_convert.py:*", "encode"),
    ("*/tactful/api/identity.py:*", "authenticate"),
    ("*/tactful/app/auth.py:*", "authenticate"),
    ("*/tactful/app/tokens.py:*", "authenticate"),
    ("*/tactful/app/lockout.py:*", "authenticate"),
    ("*/tactful/app/limits.py:*", "authenticate"),
    ("*/tactful/storage/tokens.py:*", "authenticate"),
    ("*/tactful/storage/*/tokens.py:*", "authenticate"),
    ("*/tactful/privacy/pseudonym.py:*", "pseudonymize"),
    ("*/tactful/privacy/_crypto.py:*", "pseudonymize"),
    ("*/tactful/privacy/_precis.py:*", "pseudonymize"),
    ("*/tactful/privacy/keyring.py:*", "pseudonymize"),
    ("*/tactful/privacy/vault.py:*", "pseudonymize"),
    ("*/tactful/storage/*/vault.py:*", "pseudonymize"),
    ("*/tactful/storage/*/subjects.py:*", "pseudonymize"),
    ("*/tactful/privacy/access_log*.py:*", "record"),
    ("*/tactful/privacy/pending_records.py:*", "record"),
    ("*/tactful/storage/*/access_log*.py:*", "record"),
    ("*/tactful/storage/*/pending_records.py:*", "record"),
    ("*/tactful/app/log_sinks.py:*", "record"),
    ("*/tactful/api/metrics.py:*", "observe"),
    ("*/tactful/api/logs.py:*", "observe"),
    ("*/tactful/api/tracing.py:*", "observe"),
    ("*/tactful/api/telemetry.py:*", "observe"),
    ("*/tactful/api/observability.py:*", "observe"),
    ("*/prometheus_client/*", "observe"),
    ("*/opentelemetry/*", "observe"),
    ("*/tactful/storage/*", "read/write"),
    ("*/tactful/app/write_threads.py:*", "read/write"),
    ("*/tactful/privacy/*", "decide"),
    ("*/tactful/segments/*", "decide"),
    ("*/tactful/journeys/*", "decide"),
    ("*/tactful/language/*", "decide"),
    ("*/tactful/*", "other"),
    ("*/bench/*", "other"),
    ("*/grpc/*", "transport"),
    ("*/asyncio/*", "transport"),
    ("*/selectors.py:*", "transport"),
    ("*/concurrent/futures/*", "transport"),
    # The writer threads wait for work here, called by a loop that never returns (and a
    # profile names only callers that returned): the hand-off's own cost.
    ("~:<method 'get' of '_queue.SimpleQueue' objects>", "transport"),
    # PostgreSQL's listening thread (storage/postgres/notify.py), likewise a loop.
    ("*/psycopg/connection.py:notifies", "read/write"),
    # A thread's run() has no own time unless its target is compiled code (the poller).
    ("*/threading.py:run", "native"),
)


@functools.cache
def phase_of(key: Key) -> str | None:
    """The phase a function belongs to by its own module, or None to take its callers'."""
    filename, _, name = key
    label = f"{filename.replace(os.sep, '/')}:{name}"
    for pattern, phase in PHASE_RULES:
        if fnmatch.fnmatchcase(label, pattern):
            return phase
    return None


@dataclass
class Entry:
    """One function's own time in a window and its calls, and what each caller caused."""

    key: Key
    inline_s: float = 0.0
    calls: int = 0
    # caller -> [own time of this function, its total time, calls] when called from there
    callers: dict[Key, list[float]] = field(default_factory=dict)

    def add(self, other: Entry, sign: float = 1.0) -> None:
        self.inline_s += sign * other.inline_s
        self.calls += int(sign * other.calls)
        for caller, figures in other.callers.items():
            had = self.callers.setdefault(caller, [0.0, 0.0, 0.0])
            for i, value in enumerate(figures):
                had[i] += sign * value


@dataclass(frozen=True)
class Window:
    """What the server's threads did between `begin` and `end`."""

    entries: tuple[Entry, ...]
    thread_cpu_s: Mapping[int, float]  # native thread id -> CPU in the window (/proc)
    profiled_s: Mapping[int, float]  # native thread id -> own time its profile recorded

    @property
    def cpu_s(self) -> float:
        return sum(self.thread_cpu_s.values())

    @property
    def native_s(self) -> float:
        """CPU of threads the profile did not account for (less than half of it seen)."""
        return sum(
            cpu for tid, cpu in self.thread_cpu_s.items() if self.profiled_s.get(tid, 0.0) < cpu / 2
        )

    @property
    def calls(self) -> int:
        return sum(entry.calls for entry in self.entries)


def attribute(
    entries: Iterable[Entry], *, cost_per_call_s: float = 0.0
) -> tuple[dict[str, float], dict[Key, float]]:
    """Seconds of own time per phase, and per function of `other` (to name the largest).

    `cost_per_call_s`, the profiler's own cost per call it saw, is taken off each
    function's own time for each of its calls (never below zero): the profile of a
    function called often is inflated the most.
    """
    by_key: dict[Key, Entry] = {}
    for entry in entries:
        by_key.setdefault(entry.key, Entry(entry.key)).add(entry)
    shares = _Shares(by_key)
    phases: dict[str, float] = defaultdict(float)
    others: dict[Key, float] = defaultdict(float)

    def net(seconds: float, calls: float) -> float:
        return max(0.0, seconds - cost_per_call_s * calls)

    for key, entry in by_key.items():
        parts: list[tuple[Mapping[Key, float], float]] = []
        if phase_of(key) is not None:
            parts.append(({key: 1.0}, net(entry.inline_s, entry.calls)))
        else:
            seconds, calls = entry.inline_s, float(entry.calls)
            for caller, (inline, _, count) in entry.callers.items():
                parts.append((shares.origins(caller), net(inline, count)))
                seconds, calls = seconds - inline, calls - count
            parts.append(({key: 1.0}, net(seconds, calls)))  # called from no frame it knows
        for origins, seconds in parts:
            if seconds <= 0:
                continue
            for origin, share in origins.items():
                phase = phase_of(origin) or "other"
                phases[phase] += seconds * share
                if phase == "other":
                    others[origin] += seconds * share
    phases.pop(MEASURING, None)
    return dict(phases), dict(others)


class _Shares:
    """For a function, which phased functions (by share) its time belongs to."""

    def __init__(self, by_key: Mapping[Key, Entry]) -> None:
        self._by_key = by_key
        self._memo: dict[Key, dict[Key, float]] = {}
        self._visiting: set[Key] = set()

    def origins(self, key: Key) -> Mapping[Key, float]:
        if phase_of(key) is not None:
            return {key: 1.0}
        if key in self._memo:
            return self._memo[key]
        entry = self._by_key.get(key)
        callers = entry.callers if entry else {}
        weight = sum(total for _, total, _ in callers.values())
        if key in self._visiting or weight <= 0:
            return {key: 1.0}  # recursion, or called from no frame: its own (unphased) name
        self._visiting.add(key)
        result: dict[Key, float] = defaultdict(float)
        for caller, (_, total, _) in callers.items():
            for origin, share in self.origins(caller).items():
                result[origin] += share * total / weight
        self._visiting.discard(key)
        self._memo[key] = dict(result)
        return self._memo[key]


# --- in the server process -----------------------------------------------------------------


class WindowProfiler:
    """cProfile, on each thread's CPU clock, in this thread and every thread started later.

    Install it before the server starts its threads. `begin` takes a snapshot of every
    profile and `end` returns what was added since: the calls in progress keep their
    callers (clearing a profile would lose them).
    """

    def __init__(self) -> None:
        self._profiles: list[tuple[int, cProfile.Profile]] = []  # a thread id may be reused
        self._lock = threading.Lock()
        self._before: list[dict[Key, Entry]] = []
        self._cpu_before: dict[int, float] = {}
        threading.setprofile(self._start_in_thread)
        self._enable_here()

    def _start_in_thread(self, frame: FrameType, event: str, arg: Any) -> None:
        self._enable_here()  # replaces this hook in this thread from now on

    def _enable_here(self) -> None:
        profile = cProfile.Profile(time.thread_time)
        with self._lock:
            self._profiles.append((threading.get_native_id(), profile))
        profile.enable()

    def begin(self) -> None:
        with self._lock:
            profiles = list(self._profiles)
        self._before = [_entries(profile) for _, profile in profiles]
        self._cpu_before = thread_cpu_seconds()

    def end(self) -> Window:
        cpu = thread_cpu_seconds()
        with self._lock:
            profiles = list(self._profiles)
        entries: list[Entry] = []
        profiled: dict[int, float] = defaultdict(float)
        for i, (tid, profile) in enumerate(profiles):
            before = self._before[i] if i < len(self._before) else {}
            for key, entry in _entries(profile).items():
                if key in before:
                    entry.add(before[key], -1.0)
                if entry.calls or entry.inline_s > 0:
                    entries.append(entry)
                    profiled[tid] += entry.inline_s
        spent = {tid: cpu[tid] - self._cpu_before.get(tid, 0.0) for tid in cpu}
        return Window(tuple(entries), spent, dict(profiled))


def thread_cpu_seconds() -> dict[int, float]:
    """CPU time (user + system) of each thread of this process so far; Linux."""
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[int, float] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # the thread ended
        found[int(task.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def _entries(profile: cProfile.Profile) -> dict[Key, Entry]:
    """A profile's entries so far (safe while it runs in another thread: under the GIL)."""
    entries: dict[Key, Entry] = {}
    for stat in profile.getstats():
        caller = _key(stat.code)
        entry = entries.setdefault(caller, Entry(caller))
        entry.inline_s += stat.inlinetime
        entry.calls += stat.callcount
        for sub in stat.calls or ():
            callee = entries.setdefault(_key(sub.code), Entry(_key(sub.code)))
            had = callee.callers.setdefault(caller, [0.0, 0.0, 0.0])
            had[0] += sub.inlinetime
            had[1] += sub.totaltime
            had[2] += sub.callcount
    return entries


def _key(code: Any) -> Key:
    if isinstance(code, str):
        return ("~", 0, code)  # a builtin: pstats' own way of naming one
    return (code.co_filename, code.co_firstlineno, code.co_name)


def wrap_reply_serializers() -> None:
    """Register every unary method's reply serializer behind a Python function, so that
    the profile sees encoding (compiled gRPC code calls it, and no frame would show)."""
    original = grpc.unary_unary_rpc_method_handler

    def handler(
        behavior: Callable[..., Any],
        request_deserializer: Callable[[bytes], Any] | None = None,
        response_serializer: Callable[[Any], bytes] | None = None,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        serialize = response_serializer
        if serialize is None:
            return original(behavior, request_deserializer, None)

        def encode_reply(message: Any) -> bytes:
            return serialize(message)

        return original(behavior, request_deserializer, encode_reply)

    grpc.unary_unary_rpc_method_handler = handler
