"""Invariant: one person is one subject however their identifier is written, and two
people are never one: what is recorded under one spelling is exported and erased
under the other only when tests/vectors/identifier_pairs.json says they are one
person; a spelling the rules refuse (x², ﬁ, a no-break space) reaches nobody and is
refused by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tactful.privacy.errors import InvalidRequest
from tactful.segments.ingest import EventInput, SubjectInput
from tactful.timestamps import to_us
from tests.conftest import T0
from tests.storage.engines import Engine, Stores

PAIRS: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "vectors" / "identifier_pairs.json").read_text("utf-8")
)
T0_US = to_us(T0)


def record(stores: Stores, namespace: str, identifier: str, path: str) -> int:
    event = EventInput(SubjectInput(namespace, identifier), "page_viewed", T0_US, {"path": path})
    actor = stores.actor("support_widget")
    return stores.recorder().record(actor, "support_triage", [event], now=T0).stored


def paths(stores: Stores, namespace: str, identifier: str) -> list[str]:
    actor = stores.actor("privacy_ops")
    document = stores.domain.subjects.export(actor, namespace, identifier, now=T0).document
    return sorted(e["attributes"]["path"] for e in document["events"])


def erase(stores: Stores, namespace: str, identifier: str) -> dict[str, int]:
    actor = stores.actor("privacy_ops")
    return dict(
        stores.domain.subjects.erase(actor, namespace, identifier, suppress=False, now=T0).deleted
    )


def refusal(caught: pytest.ExceptionInfo[InvalidRequest]) -> str:
    [violation] = caught.value.violations
    return violation.description


def test_one_person_however_written(engine: Engine, tmp_path: Path) -> None:
    stores = engine.open(engine.settings(tmp_path / "data"))
    try:
        for pair in PAIRS["one_person"]:
            namespace, a, b = pair["namespace"], pair["a"], pair["b"]
            assert record(stores, namespace, a, "/a") == 1
            assert paths(stores, namespace, b) == ["/a"], pair["comment"]
            deleted = erase(stores, namespace, b)
            assert deleted["behavior.events"] == 1, pair["comment"]
            assert deleted["vault.identities"] == 1, pair["comment"]
            assert paths(stores, namespace, a) == [], pair["comment"]
    finally:
        stores.close()


def test_two_people_stay_two(engine: Engine, tmp_path: Path) -> None:
    stores = engine.open(engine.settings(tmp_path / "data"))
    try:
        for pair in PAIRS["two_people"]:
            namespace, a, b = pair["namespace"], pair["a"], pair["b"]
            assert record(stores, namespace, b, "/b") == 1
            if pair["refused"] is None:
                assert record(stores, namespace, a, "/a") == 1
                assert paths(stores, namespace, a) == ["/a"], pair["comment"]
                assert erase(stores, namespace, a)["behavior.events"] == 1, pair["comment"]
            else:
                for request in (record, paths, erase):
                    with pytest.raises(InvalidRequest) as caught:
                        request(stores, namespace, a, *(["/a"] if request is record else []))
                    assert refusal(caught).startswith(f"{pair['refused']} is not allowed")
            # The other person's event is untouched: not exported, not erased by them.
            assert paths(stores, namespace, b) == ["/b"], pair["comment"]
            assert erase(stores, namespace, b)["behavior.events"] == 1, pair["comment"]
    finally:
        stores.close()


def test_a_refused_identifier_stores_nothing(engine: Engine, tmp_path: Path) -> None:
    stores = engine.open(engine.settings(tmp_path / "data"))
    try:
        for case in PAIRS["refused"]:
            with pytest.raises(InvalidRequest) as caught:
                record(stores, case["namespace"], case["input"], "/x")
            assert refusal(caught).startswith(f"{case['character']} is not allowed")
        assert stores.domain.vault.outdated(limit=10) == []
        assert stores.domain.vault.created_before(T0.replace(year=T0.year + 1)) == []
    finally:
        stores.close()
