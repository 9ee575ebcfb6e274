"""A segment with fewer members than min_segment_size is never released."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from segments.minimum import MinimumSegmentSize
from tests.conftest import Tactful, email, page_view

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
    tactful.clock.advance(timedelta(seconds=61))  # sizes are refreshed once a minute
    assert [tactful.segments(p) for p in people] == [["new_visitor"]] * 3
    tactful.clock.advance(timedelta(days=2))  # all three are returning now; none is new
    assert tactful.segments(people[0]) == ["returning_visitor"]
