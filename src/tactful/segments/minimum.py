"""The minimum segment size: a segment too small to hide anyone in is not released.

A coarse segment is only coarse if many people share it: "returning visitor" said
of one of three people singles that person out. Sizes are counted per purpose
and refreshed at most every `refresh`, so the hot path pays a dictionary lookup.

The first count of a purpose is taken on the spot (nothing is released on a size
not yet known). Once `in_background` is given a way to run work elsewhere (the
server's census thread), a stale count keeps answering while a fresh one is taken
there, so a census over a large store never holds up a request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

from tactful.timestamps import duration_us

REFRESH = timedelta(seconds=60)
log = logging.getLogger("tactful.segments")


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
        self._refresh_us = duration_us(refresh)
        self._too_small: dict[str, tuple[int, frozenset[str]]] = {}
        self._submit: Callable[[Callable[[], None]], object] | None = None
        self._counting: set[str] = set()
        self._lock = threading.Lock()

    def in_background(self, submit: Callable[[Callable[[], None]], object]) -> None:
        """Recount stale purposes through `submit` (e.g. an executor's), answering from
        the previous count meanwhile."""
        self._submit = submit

    def too_small(self, purpose: str, now_us: int) -> frozenset[str]:
        """The segments of `purpose` with fewer than `min_size` members."""
        if self._min_size <= 1:
            return frozenset()
        counted = self._too_small.get(purpose)
        if counted is None:
            return self._count(purpose, now_us)
        if not 0 <= now_us - counted[0] < self._refresh_us:
            if self._submit is None:
                return self._count(purpose, now_us)
            with self._lock:
                start = purpose not in self._counting
                self._counting.add(purpose)
            if start:
                self._submit(lambda: self._count_in_background(purpose, now_us))
        return counted[1]

    def counted_at(self) -> dict[str, int]:
        """When (now_us) each purpose's sizes were last counted (for metrics)."""
        return {purpose: at for purpose, (at, _) in dict(self._too_small).items()}

    def _count(self, purpose: str, now_us: int) -> frozenset[str]:
        sizes = self._counts.segment_counts(purpose, now_us)
        small = frozenset(s for s, n in sizes.items() if n < self._min_size)
        self._too_small[purpose] = (now_us, small)
        log.info("census: segment sizes of purpose %s recounted", purpose)
        return small

    def _count_in_background(self, purpose: str, now_us: int) -> None:
        try:
            self._count(purpose, now_us)
        except Exception:
            # Nobody waits on this job: say so here, keep the previous count, and try
            # again on the next stale call.
            log.exception("recounting segment sizes of purpose %s failed", purpose)
            raise
        finally:
            with self._lock:
                self._counting.discard(purpose)
