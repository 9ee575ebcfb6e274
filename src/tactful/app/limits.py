"""Failed calls are limited per peer and in all, so the access log cannot be filled
from outside.

Every call costs one durable access record. A caller without a valid token, or one
refused again and again, could otherwise write records as fast as it can send:
at 738 calls/s that is about 45 GB a day, a full disk, and a fail-closed outage.

Each peer (the caller's address, without its port) has a bucket of failed calls
(UNAUTHENTICATED, PERMISSION_DENIED): `burst` of them, refilled at `per_minute`;
and every peer together draws from one more bucket, `global_burst` refilled at
`global_per_minute`, so a flood that rotates its source address (or a peer the
table has forgotten) still meets a cap. A failure that finds either bucket empty is
answered RESOURCE_EXHAUSTED and is not recorded on its own; instead it is counted,
and one summary record per `summary_s` window says how many calls were refused,
from how many sources, by method, principal and status. So nothing goes unrecorded,
and a flood writes at most `global_per_minute` records a minute and one summary a
window. Calls that succeed are never limited, nor counted.
"""

from __future__ import annotations

import json
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

MAX_PEERS = 10_000  # buckets kept; the least recently failing peer is forgotten first
LISTED_PEERS = 20  # a summary names the sources refused most; it counts all of them


@dataclass(frozen=True)
class FailureLimits:
    per_minute: float = 120.0  # failed calls a peer may make per minute, sustained
    burst: int = 60  # and at once
    summary_s: float = 60.0  # refused calls are summed up in one record per window
    global_per_minute: float = 600.0  # failed calls recorded per minute from every peer
    global_burst: int = 600  # and at once


@dataclass
class _Bucket:
    tokens: float
    updated: float  # seconds

    def refill(self, now_s: float, per_minute: float, burst: int) -> None:
        gained = max(now_s - self.updated, 0.0) * per_minute / 60.0
        self.tokens, self.updated = min(float(burst), self.tokens + gained), now_s


@dataclass
class RefusedWindow:
    """The calls refused within one window, from every peer, as counts (no client text).

    Sources are counted one by one up to MAX_PEERS; calls from further sources are
    counted together (`untracked`), so a window's memory stays bounded."""

    started_us: int
    refused: int = 0
    peers: Counter[str] = field(default_factory=Counter)
    untracked: int = 0  # refused calls from sources beyond the first MAX_PEERS
    methods: Counter[str] = field(default_factory=Counter)
    principals: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)

    def count(self, peer: str, method: str, principal: str, status: str) -> None:
        self.refused += 1
        if peer in self.peers or len(self.peers) < MAX_PEERS:
            self.peers[peer] += 1
        else:
            self.untracked += 1
        self.methods[method] += 1
        self.principals[principal] += 1
        self.statuses[status] += 1

    def reason(self, until_us: int) -> str:
        return json.dumps(
            {
                "rate_limited": {
                    "refused": self.refused,
                    "sources": len(self.peers),
                    "from_untracked_sources": self.untracked,
                    "top_sources": dict(self.peers.most_common(LISTED_PEERS)),
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
        self._everyone: _Bucket | None = None
        self._window: RefusedWindow | None = None

    def admit_failure(self, peer: str, *, now_s: float) -> bool:
        """Whether `peer` may have one more failed call recorded (and takes it from its
        own bucket and from everyone's)."""
        limits = self.limits
        bucket = self._buckets.pop(peer, None) or _Bucket(float(limits.burst), now_s)
        bucket.refill(now_s, limits.per_minute, limits.burst)
        self._buckets[peer] = bucket  # most recent last
        while len(self._buckets) > MAX_PEERS:
            self._buckets.popitem(last=False)
        everyone = self._everyone or _Bucket(float(limits.global_burst), now_s)
        everyone.refill(now_s, limits.global_per_minute, limits.global_burst)
        self._everyone = everyone
        if bucket.tokens < 1.0 or everyone.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        everyone.tokens -= 1.0
        return True

    def refuse(self, peer: str, method: str, principal: str, status: str, *, now_us: int) -> bool:
        """Count a refused call; True if it opens a new window (the caller then
        arranges for `close_window` at the window's end)."""
        opened = self._window is None
        if self._window is None:
            self._window = RefusedWindow(now_us)
        self._window.count(peer, method, principal, status)
        return opened

    def close_window(self) -> RefusedWindow | None:
        window, self._window = self._window, None
        return window


def peer_host(peer: str) -> str:
    """The caller's address without its port: "ipv4:10.0.0.7:51234" -> "ipv4:10.0.0.7"."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6" and rest.startswith("["):
        return f"ipv6:{rest[: rest.find(']') + 1]}"
    if kind == "ipv4":
        return f"ipv4:{rest.rpartition(':')[0]}"
    return peer or "unknown"
