"""A segment with fewer members than min_segment_size is never released."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

import pytest

from tactful.segments.minimum import MinimumSegmentSize
from tests.conftest import Tactful, email, eventually, page_view

SECOND_US = 1_000_000


class CountingSizes:
    def __init__(self, sizes: dict[str, int]) -> None:
        self.sizes = sizes
        self.reads = 0

    def segment_counts(self, purpose: str, now_us: int) -> dict[str, int]:
        self.reads += 1
        return dict(self.sizes)


def test_small_segments_are_named_and_refreshed_once_a_minute() -> None:
    sizes = CountingSizes({"new_visitor": 2, "returning_visitor": 40})
    minimum = MinimumSegmentSize(sizes, 3)
    assert minimum.too_small("support_triage", 0) == {"new_visitor"}
    sizes.sizes["new_visitor"] = 3
    assert minimum.too_small("support_triage", 59 * SECOND_US) == {"new_visitor"}  # cached
    assert minimum.too_small("support_triage", 60 * SECOND_US) == frozenset()
    assert minimum.too_small("support_triage", 30 * SECOND_US) == frozenset()  # clock went back
    assert sizes.reads == 3
    assert minimum.too_small("onboarding", 60 * SECOND_US) == frozenset()  # per purpose
    assert sizes.reads == 4


def test_in_the_background_a_stale_count_answers_while_one_recount_runs() -> None:
    sizes = CountingSizes({"new_visitor": 2, "returning_visitor": 40})
    minimum = MinimumSegmentSize(sizes, 3)
    queued: list[Callable[[], None]] = []
    minimum.in_background(queued.append)
    assert minimum.too_small("support_triage", 0) == {"new_visitor"}  # first: on the spot
    assert (sizes.reads, queued) == (1, [])

    sizes.sizes["new_visitor"] = 3
    assert minimum.too_small("support_triage", 61 * SECOND_US) == {"new_visitor"}  # stale
    assert minimum.too_small("support_triage", 62 * SECOND_US) == {"new_visitor"}
    assert (sizes.reads, len(queued)) == (1, 1)  # one recount queued, none run here
    queued.pop()()
    assert sizes.reads == 2
    assert minimum.too_small("support_triage", 63 * SECOND_US) == frozenset()  # fresh now
    assert minimum.too_small("support_triage", 200 * SECOND_US) == frozenset()
    assert len(queued) == 1  # stale again: the next recount is queued


def test_a_recount_that_fails_is_logged_and_tried_again_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Failing(CountingSizes):
        def segment_counts(self, purpose: str, now_us: int) -> dict[str, int]:
            if self.reads:
                self.reads += 1
                raise RuntimeError("store unavailable")
            return super().segment_counts(purpose, now_us)

    sizes = Failing({"new_visitor": 2})
    minimum = MinimumSegmentSize(sizes, 3)
    queued: list[Callable[[], None]] = []
    minimum.in_background(queued.append)
    minimum.too_small("support_triage", 0)
    minimum.too_small("support_triage", 61 * SECOND_US)
    with caplog.at_level(logging.ERROR, logger="tactful.segments"), pytest.raises(RuntimeError):
        queued.pop()()
    assert "recounting segment sizes of purpose support_triage failed" in caplog.text
    assert minimum.too_small("support_triage", 62 * SECOND_US) == {"new_visitor"}
    assert len(queued) == 1  # not stuck as "counting"


def test_a_minimum_of_one_never_counts() -> None:
    sizes = CountingSizes({"new_visitor": 0})
    assert MinimumSegmentSize(sizes, 1).too_small("support_triage", 0) == frozenset()
    assert sizes.reads == 0


def test_a_segment_is_released_only_once_it_has_enough_members(
    start_tactful: Callable[..., Tactful],
) -> None:
    tactful = start_tactful(min_segment_size=3)
    people = [email(f"person{i}@example.com") for i in range(3)]
    tactful.record("support_triage", page_view(people[0]), page_view(people[1]))
    assert tactful.segments(people[0]) == []  # two new visitors could be told apart
    tactful.record("support_triage", page_view(people[2]))
    tactful.clock.advance(timedelta(seconds=61))  # sizes are recounted once a minute,
    assert tactful.segments(people[0]) == []  # on the census thread: the old count answers
    eventually(lambda: tactful.segments(people[0]) == ["new_visitor"])
    assert [tactful.segments(p) for p in people] == [["new_visitor"]] * 3
    tactful.clock.advance(timedelta(days=2))  # all three are returning now; none is new
    eventually(lambda: tactful.segments(people[0]) == ["returning_visitor"])
