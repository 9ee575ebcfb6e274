"""The rules of a set of segments and the signals they read are worked out once per set
asked, never handed to another set, and kept for a bounded number of sets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from tactful.app.settings import EXAMPLE_CONTRACT
from tactful.privacy.contract import load_contract
from tactful.privacy.rules import signals_of
from tactful.segments import reader as reader_module
from tactful.segments.reader import Reader
from tactful.segments.store import Activity, SignalQuery
from tests.conftest import T0

CONTRACT = load_contract(EXAMPLE_CONTRACT)
RULED = sorted(name for name, segment in CONTRACT.segments.items() if segment.rule)


class Asked:
    """A behavior store that knows nothing and remembers which signals it was asked."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def signal_values(
        self, candidates: Sequence[str], purpose: str, queries: Sequence[SignalQuery]
    ) -> list[Any]:
        self.asked.append([q.name for q in queries])
        return [None] * len(queries)

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"rule_members should not call {name}")


def read_by(segments: frozenset[str]) -> list[str]:
    """The store-read signals the rules of `segments` read, as rule_members asks them."""
    wanted = set().union(*(signals_of(r) for n in segments if (r := CONTRACT.segments[n].rule)))
    kinds = {"first_seen", "last_seen"}
    return sorted(n for n in wanted if str(CONTRACT.signals[n].kind) not in kinds)


def test_each_set_of_segments_reads_its_own_rules_signals() -> None:
    store = Asked()
    reader = Reader(CONTRACT, store)  # type: ignore[arg-type]
    activity = Activity(0, 0, 1)
    sets = [frozenset(RULED[:1]), frozenset(RULED[1:3]), frozenset(RULED[:1]), frozenset(RULED)]
    for segments in sets:
        reader.rule_members(("p",), "account_retention", activity, T0, segments)
    assert store.asked == [read_by(s) for s in sets]
    assert len({tuple(a) for a in store.asked}) == 3


def test_the_sets_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader_module, "MAX_PLANS", 2)
    store = Asked()
    reader = Reader(CONTRACT, store)  # type: ignore[arg-type]
    sets = [frozenset({name}) for name in RULED]
    for segments in sets * 2:
        reader.rule_members(("p",), "account_retention", Activity(0, 0, 1), T0, segments)
        assert len(reader._plans) <= 2
    assert store.asked == [read_by(s) for s in sets * 2]
