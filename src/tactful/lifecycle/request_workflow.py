"""Data-subject requests received in the console and decided by four eyes.

Privacy operations receive a request: an export or an erasure of one person. The
identifier is typed once, pseudonymized at once, and never kept: a request holds the
person's pseudonyms under every live key version, as the access log does. The one
readable copy of who the request is about stays in the identity vault, sealed under
the person's own data key; executing a request reads it back from there and calls the
same lifecycle code as `tactful subjects erase|export`. So an erasure's
crypto-shredding also removes the last way to read whom its request named, which a
second sealed copy kept with the request would survive.

An erasure waits for a second, different person to approve it (a note required), or
to reject it (a note required); then it is executed and its receipt (the counts
deleted, the sequence of the access record) kept with it. An export needs no second
person: the person who received it downloads its document once; the document is
computed at that moment and never stored.

    received ──approve (another person, note)──▶ approved ──▶ executed | failed
        │  └─reject (another person, note)──▶ rejected
        └──(export) download by its receiver──▶ downloaded | failed

Every step is an access record written before its effect (the caller's `Recorder`).

Errors: `RequestRefused` (a LifecycleError): the step is not allowed; the message says
why, naming no subject.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from tactful.lifecycle.errors import LifecycleError
from tactful.lifecycle.subject_requests import SubjectRequests
from tactful.privacy.decisions import Actor
from tactful.timestamps import to_us

NOTE_LIMIT = 2000  # characters of an approval's or rejection's note


class RequestRefused(LifecycleError):
    """A step of a request that is not allowed now (wrong person, state or note)."""


class RequestKind(StrEnum):
    EXPORT = "export"
    ERASURE = "erasure"


class RequestState(StrEnum):
    RECEIVED = "received"
    APPROVED = "approved"  # an erasure, approved and being executed
    REJECTED = "rejected"
    EXECUTED = "executed"
    FAILED = "failed"
    DOWNLOADED = "downloaded"  # an export, executed and handed to its receiver


FINAL = frozenset({RequestState.REJECTED, RequestState.EXECUTED, RequestState.FAILED,
                   RequestState.DOWNLOADED})  # fmt: skip


@dataclass(frozen=True)
class SubjectRequest:
    """One request, as stored: pseudonyms, never the identifier."""

    id: int
    kind: RequestKind
    namespace: str
    pseudonyms: tuple[str, ...]
    suppress: bool  # an erasure that also blocks collecting the person again
    received_by: str
    received_at_us: int
    state: RequestState = RequestState.RECEIVED
    decided_by: str = ""  # who approved or rejected it
    decided_at_us: int = 0
    note: str = ""  # the approval's or rejection's
    done_at_us: int = 0
    deleted: Mapping[str, int] = field(default_factory=dict)  # an erasure's receipt
    record: int = 0  # the sequence of the executed (or failed) step's access record
    failure: str = ""  # why it failed; with state approved or received: the last try's
    received_record: int = 0  # the sequence of the received step's access record

    @property
    def subject(self) -> str:
        """The pseudonym under the primary key version (the one records name first)."""
        return self.pseudonyms[0]


class RequestStore(Protocol):
    def add(self, request: SubjectRequest) -> SubjectRequest:
        """Keep a new request (its `id` ignored); the request with its id."""
        ...

    def get(self, request_id: int) -> SubjectRequest | None: ...

    def newest(self, limit: int) -> list[SubjectRequest]:
        """The newest `limit` requests, newest first."""
        ...

    def update(self, request: SubjectRequest, *, was: RequestState) -> bool:
        """Write `request`'s state and outcome if it is still in state `was` (one step
        wins when two people act at once); whether it was written."""
        ...


# Writes the access record of one step (e.g. "approved") of a request, with extra
# reason fields; its sequence. Raises (AccessLogUnavailable) if it cannot: the step
# then has no effect.
Recorder = Callable[[str, SubjectRequest, Mapping[str, Any]], int]


class RequestWorkflow:
    """The steps of a request, each recorded before its effect."""

    def __init__(
        self,
        store: RequestStore,
        record: Recorder,
        subjects: Callable[[], SubjectRequests],
        closed: Callable[[], None] = lambda: None,
    ) -> None:
        """`subjects`: the lifecycle's SubjectRequests, opened for one execution and
        `closed` after it (the console keeps no behavior store or vault open)."""
        self._store = store
        self._record = record
        self._subjects = subjects
        self._closed = closed

    def receive(
        self, kind: RequestKind, namespace: str, pseudonyms: tuple[str, ...], *,
        suppress: bool, principal: str, now: datetime,
    ) -> SubjectRequest:  # fmt: skip
        request = SubjectRequest(
            0, kind, namespace, pseudonyms, suppress and kind is RequestKind.ERASURE,
            principal, to_us(now),
        )  # fmt: skip
        # The record comes first; the store gives the id, so the request keeps the
        # record's sequence instead.
        sequence = self._record("received", request, {"suppress": request.suppress})
        return self._store.add(replace(request, received_record=sequence))

    def get(self, request_id: int) -> SubjectRequest:
        found = self._store.get(request_id)
        if found is None:
            raise RequestRefused(f"no request {request_id}")
        return found

    def newest(self, limit: int) -> list[SubjectRequest]:
        return self._store.newest(limit)

    def reject(
        self, request_id: int, *, principal: str, note: str, now: datetime
    ) -> SubjectRequest:
        request = self.get(request_id)
        decided = _decided(request, principal, note, RequestState.REJECTED, now)
        self._record("rejected", request, {})
        return self._step(decided, was=RequestState.RECEIVED)

    def approve(self, request_id: int, *, actor: Actor, note: str, now: datetime) -> SubjectRequest:
        """Approve an erasure and execute it: the receipt, or the failure, kept with it."""
        request = self.get(request_id)
        approved = _decided(request, actor.name, note, RequestState.APPROVED, now)
        self._record("approved", request, {})
        self._step(approved, was=RequestState.RECEIVED)
        return self.execute(request_id, actor=actor, now=now)

    def execute(self, request_id: int, *, actor: Actor, now: datetime) -> SubjectRequest:
        """Execute an approved erasure (again, if an earlier execution was cut short:
        every step of an erasure repeats harmlessly)."""
        request = self.get(request_id)
        if request.state is not RequestState.APPROVED:
            raise RequestRefused(f"request {request.id} is {request.state}, not approved")
        if actor.name == request.received_by:
            raise RequestRefused("the person who received a request cannot execute it")
        subjects = self._subjects()
        try:
            identity = subjects.identity_of(request.pseudonyms)
            if identity is None:
                return self._fail(request, _UNKNOWN, final=True, now=now)
            sequence = self._record("executed", request, {"approved_by": request.decided_by})
            erasure = subjects.erase(
                actor, identity.namespace, identity.identifier, suppress=request.suppress, now=now
            )
        except Exception as exc:
            # Whatever the erasure began is finished by the next start (the outbox), and
            # it repeats harmlessly: the request stays approved, to be executed again.
            self._fail(request, f"the erasure failed ({type(exc).__name__}); execute it again",
                       final=False, now=now)  # fmt: skip
            raise
        finally:
            self._closed()
        done = replace(
            request, state=RequestState.EXECUTED, done_at_us=to_us(now),
            deleted=erasure.deleted, record=sequence, failure="",
        )  # fmt: skip
        return self._step(done, was=RequestState.APPROVED)

    def download(
        self, request_id: int, *, actor: Actor, now: datetime
    ) -> tuple[SubjectRequest, dict[str, Any]]:
        """Execute an export for the person who received it, once: the request and the
        document, which is never stored."""
        request = self.get(request_id)
        if request.kind is not RequestKind.EXPORT:
            raise RequestRefused(f"request {request.id} is an erasure: nothing to download")
        if actor.name != request.received_by:
            raise RequestRefused("only the person who received an export may download it")
        if request.state is not RequestState.RECEIVED:
            raise RequestRefused(f"request {request.id} is {request.state}: downloaded once only")
        subjects = self._subjects()
        try:
            identity = subjects.identity_of(request.pseudonyms)
            if identity is None:
                return self._fail(request, _UNKNOWN, final=True, now=now), {}
            export = subjects.export(actor, identity.namespace, identity.identifier, now=now)
        except Exception as exc:
            # Nothing was released: the request stays received, to be downloaded again.
            self._fail(request, f"the export failed ({type(exc).__name__}); try again",
                       final=False, now=now)  # fmt: skip
            raise
        finally:
            self._closed()
        sequence = self._record("downloaded", request, {"events": len(export.document["events"])})
        done = replace(request, state=RequestState.DOWNLOADED, done_at_us=to_us(now),
                       record=sequence, failure="")  # fmt: skip
        return self._step(done, was=RequestState.RECEIVED), export.document

    def _fail(
        self, request: SubjectRequest, why: str, *, final: bool, now: datetime
    ) -> SubjectRequest:
        """Record the failure; `final`: the request ends failed, else it keeps its state
        (and the failure, until the next try)."""
        sequence = self._record("failed", request, {"failure": why})
        if not final:
            return self._step(replace(request, failure=why), was=request.state)
        failed = replace(
            request, state=RequestState.FAILED, done_at_us=to_us(now), failure=why,
            record=sequence,
        )  # fmt: skip
        return self._step(failed, was=request.state)

    def _step(self, request: SubjectRequest, *, was: RequestState) -> SubjectRequest:
        if not self._store.update(request, was=was):
            raise RequestRefused(f"request {request.id} changed meanwhile; reload it")
        return request


_UNKNOWN = (
    "unknown subject: the vault holds nobody under this request's pseudonyms (never"
    " recorded, already erased, or re-keyed since it was received); nothing was done"
)


def _decided(
    request: SubjectRequest, principal: str, note: str, state: RequestState, now: datetime
) -> SubjectRequest:
    """`request` approved or rejected by `principal`, if the four-eyes rules allow."""
    if request.kind is not RequestKind.ERASURE:
        raise RequestRefused(f"request {request.id} is an export: it needs no approval")
    if request.state is not RequestState.RECEIVED:
        raise RequestRefused(f"request {request.id} is already {request.state}")
    if principal == request.received_by:
        raise RequestRefused("four eyes: the person who received a request cannot decide it")
    note = note.strip()
    if not note:
        raise RequestRefused("a note is required: say why")
    if len(note) > NOTE_LIMIT:
        raise RequestRefused(f"the note is longer than {NOTE_LIMIT} characters")
    return replace(request, state=state, decided_by=principal, decided_at_us=to_us(now), note=note)
