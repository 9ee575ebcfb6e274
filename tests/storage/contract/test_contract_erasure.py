"""Invariant: an erasure cut short between the vault and the behavior store (two
databases, no transaction spans them) is finished by the next server or command
that opens the stores, and nothing of the person is left readable meanwhile."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tactful.lifecycle.subject_requests import SubjectRequests
from tactful.privacy.errors import StoreUnavailable
from tactful.timestamps import to_us
from tests.conftest import T0
from tests.storage.engines import Engine, Stores

ADA, BOB = "ada@example.com", "bob@example.com"
T0_US = to_us(T0)


class _CutAfterTheShred:
    """The behavior store, unreachable once the vault has been shredded."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def erase(self, pseudonyms: Sequence[str]) -> dict[str, int]:
        raise StoreUnavailable("behavior database gone, as if the process died here")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _cut_short(stores: Stores, email: str, *, suppress: bool) -> None:
    d = stores.domain
    subjects = d.subjects
    broken = SubjectRequests(
        d.contract,
        d.pseudonymizer,
        _CutAfterTheShred(d.subject_data),
        d.vault,
        subjects._derived,
        subjects._access_history,
        d.tombstones,
        d.erasures,
    )
    actor = stores.actor("privacy_ops")
    with pytest.raises(StoreUnavailable):
        broken.erase(actor, "email", email, suppress=suppress, now=T0)


@pytest.mark.parametrize("suppress", [False, True], ids=["erase", "erase-suppress"])
def test_an_erasure_cut_short_is_finished_by_the_next_open(
    engine: Engine, tmp_path: Path, suppress: bool
) -> None:
    settings = engine.settings(tmp_path)
    stores = engine.open(settings)
    try:
        for who in (ADA, BOB):
            at = T0_US - 60_000_000
            kind = ("page_viewed", at, {"path": "/x"})
            assert stores.record("support_widget", "support_triage", [(who, *kind)], now=T0).stored
        _cut_short(stores, ADA, suppress=suppress)
        # Cut short after the shred: unreadable already, the behavior rows still there.
        assert stores.identity_of(ADA) is None
        assert stores.stored_events(ADA) != []
    finally:
        stores.close()
    reopened = engine.open(settings)  # a server starting, or any command
    try:
        assert reopened.stored_events(ADA) == []
        assert reopened.identity_of(ADA) is None
        assert reopened.domain.erasures.pending() == []
        assert len(reopened.stored_events(BOB)) == 1 and reopened.identity_of(BOB) is not None
        again = reopened.record(
            "support_widget", "support_triage", [(ADA, "page_viewed", T0_US, {"path": "/y"})],
            now=T0,
        )  # fmt: skip
        assert again.stored == (0 if suppress else 1)
    finally:
        reopened.close()


def test_a_whole_erasure_leaves_no_ticket(engine: Engine, tmp_path: Path) -> None:
    stores = engine.open(engine.settings(tmp_path))
    try:
        stores.record(
            "support_widget", "support_triage", [(ADA, "page_viewed", T0_US, {"path": "/x"})],
            now=T0,
        )  # fmt: skip
        stores.erase(ADA, suppress=False, now=T0)
        assert stores.domain.erasures.pending() == []
        assert stores.domain.subjects.finish_erasures() == 0
    finally:
        stores.close()
