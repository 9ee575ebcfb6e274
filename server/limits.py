"""Failed calls are limited per peer, so the access log cannot be filled from outside.

Every call costs one durable access record. A caller without a valid token, or one
refused again and again, could otherwise write records as fast as it can send:
at 738 calls/s that is about 45 GB a day, a full disk, and a fail-closed outage.

Each peer (the caller's address, without its port) has a bucket of failed calls
(UNAUTHENTICATED, PERMISSION_DENIED): `burst` of them, refilled at
`per_minute`. A failure that finds the bucket empty is answered
RESOURCE_EXHAUSTED and is not recorded on its own; instead each peer's refused
calls are counted and written as one summary record per `summary_s` window. So
nothing goes unrecorded, and a flood writes one record a window. Calls that
succeed are never limited, nor counted.
"""

from __future__ import annotations

import json
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

MAX_PEERS = 10_000  # buckets kept; the least recently failing peer is forgotten first


@dataclass(frozen=True)
class FailureLimits:
    per_minute: float = 120.0  # failed calls a peer may make per minute, sustained
    burst: int = 60  # and at once
    summary_s: float = 60.0  # refused calls are summed up in one record per peer and window


@dataclass
class _Bucket:
    tokens: float
    updated: float  # monotonic seconds


@dataclass
class RefusedWindow:
    """A peer's calls refused within one window, as counts (no client text)."""

    peer: str
    started_us: int
    refused: int = 0
    methods: Counter[str] = field(default_factory=Counter)
    principals: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)

    def reason(self, until_us: int) -> str:
        return json.dumps(
            {
                "rate_limited": {
                    "peer": self.peer,
                    "refused": self.refused,
                    "from_us": self.started_us,
                    "until_us": until_us,
                    "methods": dict(sorted(self.methods.items())),
                    "principals": dict(sorted(self.principals.items())),
                    "would_have_been": dict(sorted(self.statuses.items())),
                }
            },
            sort_keys=True,
        )


class FailureLimiter:
    def __init__(self, limits: FailureLimits) -> None:
        self.limits = limits
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._windows: dict[str, RefusedWindow] = {}

    def admit_failure(self, peer: str, *, now_s: float) -> bool:
        """Whether `peer` may have one more failed call recorded (and takes it)."""
        bucket = self._buckets.pop(peer, None)
        burst = float(self.limits.burst)
        if bucket is None:
            bucket = _Bucket(burst, now_s)
        refill = (now_s - bucket.updated) * self.limits.per_minute / 60.0
        bucket.tokens, bucket.updated = min(burst, bucket.tokens + max(refill, 0.0)), now_s
        self._buckets[peer] = bucket  # most recent last
        while len(self._buckets) > MAX_PEERS:
            self._buckets.popitem(last=False)
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    def refuse(self, peer: str, method: str, principal: str, status: str, *, now_us: int) -> bool:
        """Count a refused call; True if it opens a new window for `peer` (the caller
        then arranges for `close_window` at the window's end)."""
        window = self._windows.get(peer)
        opened = window is None
        if window is None:
            window = self._windows[peer] = RefusedWindow(peer, now_us)
        window.refused += 1
        window.methods[method] += 1
        window.principals[principal] += 1
        window.statuses[status] += 1
        return opened

    def close_window(self, peer: str) -> RefusedWindow | None:
        return self._windows.pop(peer, None)

    def close_all(self) -> list[RefusedWindow]:
        windows, self._windows = list(self._windows.values()), {}
        return windows


def peer_host(peer: str) -> str:
    """The caller's address without its port: "ipv4:10.0.0.7:51234" -> "ipv4:10.0.0.7"."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6" and rest.startswith("["):
        return f"ipv6:{rest[: rest.find(']') + 1]}"
    if kind == "ipv4":
        return f"ipv4:{rest.rpartition(':')[0]}"
    return peer or "unknown"
