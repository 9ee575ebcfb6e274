"""The request workflow's rules (lifecycle/request_workflow.py) over an in-memory store:
each step's record comes before its effect, so a record that cannot be written leaves
the request as it was; an erasure cut short stays approved and is executed again."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from tactful.lifecycle.request_workflow import (
    RequestKind,
    RequestRefused,
    RequestState,
    RequestWorkflow,
    SubjectRequest,
)
from tactful.lifecycle.subject_requests import Erasure, SubjectRequests
from tactful.privacy.access_log import AccessLogUnavailable
from tactful.privacy.decisions import Actor
from tactful.privacy.errors import StoreUnavailable
from tactful.privacy.vault import Identity
from tests.conftest import T0

REQUESTER = Actor("privacy_ops", frozenset({"privacy_ops"}), frozenset())
APPROVER = Actor("privacy_approver", frozenset({"privacy_ops"}), frozenset())
PSEUDONYMS = ("hmac-sha256:v1:ada",)


class Requests:
    def __init__(self) -> None:
        self.kept: dict[int, SubjectRequest] = {}

    def add(self, request: SubjectRequest) -> SubjectRequest:
        kept = replace(request, id=len(self.kept) + 1)
        self.kept[kept.id] = kept
        return kept

    def get(self, request_id: int) -> SubjectRequest | None:
        return self.kept.get(request_id)

    def newest(self, limit: int) -> list[SubjectRequest]:
        return sorted(self.kept.values(), key=lambda r: -r.id)[:limit]

    def update(self, request: SubjectRequest, *, was: RequestState) -> bool:
        if self.kept[request.id].state is not was:
            return False
        self.kept[request.id] = request
        return True


@dataclass
class Log:
    steps: list[str] = field(default_factory=list)
    broken: bool = False

    def __call__(self, step: str, request: SubjectRequest, extra: Mapping[str, Any]) -> int:
        if self.broken:
            raise AccessLogUnavailable("disk full")
        self.steps.append(step)
        return len(self.steps)


@dataclass
class Subjects:
    """The lifecycle's SubjectRequests as the workflow calls it; `fail` erasures fail."""

    fail: int = 0
    erased: list[str] = field(default_factory=list)

    def identity_of(self, pseudonyms: tuple[str, ...]) -> Identity | None:
        return Identity(pseudonyms[0], "email", "ada@example.com", 1)

    def erase(self, actor: Actor, namespace: str, identifier: str, **_: Any) -> Erasure:
        if self.fail:
            self.fail -= 1
            raise StoreUnavailable("behavior store unreachable")
        self.erased.append(identifier)
        return Erasure(None, PSEUDONYMS[0], {"behavior.events": 2})  # type: ignore[arg-type]


def workflow(log: Log, subjects: Subjects) -> tuple[RequestWorkflow, Requests]:
    store = Requests()
    opened: SubjectRequests = subjects  # type: ignore[assignment]
    return RequestWorkflow(store, log, lambda: opened), store


def received(flow: RequestWorkflow) -> SubjectRequest:
    return flow.receive(
        RequestKind.ERASURE, "email", PSEUDONYMS, suppress=False, principal=REQUESTER.name, now=T0
    )


def test_nothing_is_kept_or_decided_when_its_record_cannot_be_written() -> None:
    log, subjects = Log(broken=True), Subjects()
    flow, store = workflow(log, subjects)
    with pytest.raises(AccessLogUnavailable):
        received(flow)
    assert store.kept == {}
    log.broken = False
    request = received(flow)
    log.broken = True
    with pytest.raises(AccessLogUnavailable):
        flow.approve(request.id, actor=APPROVER, note="ticket 1", now=T0)
    assert store.kept[request.id].state is RequestState.RECEIVED and subjects.erased == []


def test_an_erasure_cut_short_stays_approved_and_is_executed_again() -> None:
    log, subjects = Log(), Subjects(fail=1)
    flow, store = workflow(log, subjects)
    request = received(flow)
    with pytest.raises(StoreUnavailable):
        flow.approve(request.id, actor=APPROVER, note="ticket 1", now=T0)
    cut = store.kept[request.id]
    assert cut.state is RequestState.APPROVED and "execute it again" in cut.failure
    with pytest.raises(RequestRefused, match="received"):  # still four eyes
        flow.execute(request.id, actor=REQUESTER, now=T0)
    done = flow.execute(request.id, actor=APPROVER, now=T0)
    assert done.state is RequestState.EXECUTED and done.failure == ""
    assert done.deleted == {"behavior.events": 2} and subjects.erased == ["ada@example.com"]
    assert log.steps == ["received", "approved", "executed", "failed", "executed"]
    assert done.record == 5  # the receipt names the last execution's record
