"""The minimum segment size: a segment too small to hide anyone in is not released.

A coarse segment is only coarse if many people share it: "returning visitor" said
of one of three people singles that person out. Sizes are counted per purpose
and refreshed at most every `refresh`, so the hot path pays a dictionary lookup.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

REFRESH = timedelta(seconds=60)


class SegmentCounts(Protocol):
    def segment_counts(self, purpose: str, now_us: int) -> dict[str, int]:
        """Members of each segment among the subjects with data under `purpose`."""
        ...


class MinimumSegmentSize:
    def __init__(
        self, counts: SegmentCounts, min_size: int, *, refresh: timedelta = REFRESH
    ) -> None:
        self._counts = counts
        self._min_size = min_size
        self._refresh_us = int(refresh.total_seconds() * 1_000_000)
        self._too_small: dict[str, tuple[int, frozenset[str]]] = {}

    def too_small(self, purpose: str, now_us: int) -> frozenset[str]:
        """The segments of `purpose` with fewer than `min_size` members."""
        if self._min_size <= 1:
            return frozenset()
        counted = self._too_small.get(purpose)
        if counted is None or not 0 <= now_us - counted[0] < self._refresh_us:
            sizes = self._counts.segment_counts(purpose, now_us)
            small = frozenset(s for s, n in sizes.items() if n < self._min_size)
            counted = self._too_small[purpose] = (now_us, small)
        return counted[1]
