"""Invariant: a data-subject request (lifecycle/request_workflow.py) reads back as it
was kept, every field, and of several people stepping it from one state at once,
through several connections (two consoles), exactly one wins."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

from tactful.app import stores
from tactful.lifecycle.request_workflow import RequestKind, RequestState, SubjectRequest
from tests.storage.engines import Engine

RECEIVED = SubjectRequest(
    0, RequestKind.ERASURE, "email", ("hmac-sha256:v2:aa", "hmac-sha256:v1:bb"),
    suppress=True, received_by="privacy_ops", received_at_us=1_000, received_record=7,
)  # fmt: skip


def test_a_request_reads_back_as_kept_through_each_step(engine: Engine, tmp_path: Path) -> None:
    requests = stores.open_subject_requests(engine.settings(tmp_path / "data"))
    try:
        kept = requests.add(RECEIVED)
        assert kept == replace(RECEIVED, id=kept.id) and kept.id > 0
        done = replace(
            kept, state=RequestState.EXECUTED, decided_by="approver", decided_at_us=2_000,
            note="ticket 4411 — checked", done_at_us=3_000,
            deleted={"vault.identities": 1, "behavior.events": 3}, record=42,
        )  # fmt: skip
        assert requests.update(done, was=RequestState.RECEIVED)
        assert requests.get(kept.id) == done
        second = requests.add(replace(RECEIVED, kind=RequestKind.EXPORT, suppress=False))
        assert [r.id for r in requests.newest(10)] == [second.id, kept.id]
        assert requests.newest(1) == [second] and requests.get(second.id + 1) is None
    finally:
        requests.close()


def test_of_two_consoles_stepping_one_request_at_once_exactly_one_wins(
    engine: Engine, tmp_path: Path
) -> None:
    settings = engine.settings(tmp_path / "data")
    consoles = [stores.open_subject_requests(settings) for _ in range(4)]
    try:
        kept = consoles[0].add(RECEIVED)
        won: list[str] = []
        start = threading.Barrier(len(consoles))

        def step(n: int) -> None:
            decided = replace(kept, state=RequestState.APPROVED, decided_by=f"approver{n}")
            start.wait()
            if consoles[n].update(decided, was=RequestState.RECEIVED):
                won.append(f"approver{n}")

        threads = [threading.Thread(target=step, args=(n,)) for n in range(len(consoles))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert len(won) == 1
        found = consoles[0].get(kept.id)
        assert found is not None and found.decided_by == won[0]
        assert not consoles[0].update(replace(found, note="late"), was=RequestState.RECEIVED)
    finally:
        for c in consoles:
            c.close()
