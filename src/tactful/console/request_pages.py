"""The console's data-subject request pages (lifecycle/request_workflow.py): privacy
operations receive a request, a second person approves or rejects an erasure, the
console executes it and shows its receipt; an export is downloaded once by the person
who received it. Compliance officers see the list and each request, read-only.

Each step is recorded by the workflow before its effect, as
`tactful.console/subject-request.<step>` (received, approved, rejected, executed,
failed, downloaded), naming the person by pseudonym; a step refused (four eyes, a
missing note, a second download) is recorded as denied. The identifier is typed once,
in a POST, and neither kept nor shown back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tactful.console.app import PRIVACY_OPS, ROLE, ROLES, Console, View
from tactful.console.filters import when
from tactful.console.security import Session
from tactful.lifecycle.request_workflow import (
    RequestKind,
    RequestRefused,
    RequestState,
    RequestWorkflow,
    SubjectRequest,
)
from tactful.privacy.access_log import AccessLogUnavailable, Decided
from tactful.privacy.decisions import Actor
from tactful.privacy.errors import InvalidRequest, PrivacyError

UNRECORDED = (
    "The access log cannot be written, so nothing was done. Try again shortly; if it "
    "persists, tell the operator."
)
SHOWN = 200  # requests listed, newest first
STEP = "subject-request"  # the records' method: tactful.console/subject-request.<step>
OPS = frozenset({PRIVACY_OPS})


def routes(console: Console) -> list[Route]:
    pages = RequestPages(console)
    page = console.page
    return [
        Route("/subject-requests", page("subject-requests", pages.listing, roles=ROLES),
              methods=["GET"]),
        Route("/subject-requests", page("subject-requests.receive", pages.receive, post=True,
              roles=OPS), methods=["POST"]),
        Route("/subject-requests/{id:int}", page("subject-request", pages.one, roles=ROLES),
              methods=["GET"]),
        Route("/subject-requests/{id:int}/{step:str}", page("subject-request.step", pages.step,
              post=True, roles=OPS), methods=["POST"]),
    ]  # fmt: skip


class RequestPages:
    def __init__(self, console: Console) -> None:
        self._console = console

    def _workflow(self, session: Session) -> RequestWorkflow:
        console = self._console

        def record(step: str, request: SubjectRequest, extra: Mapping[str, Any]) -> int:
            return self._record(session, step, request, extra, Decided.ALLOWED)

        return console.sources.subject_requests(record)

    def _record(
        self, session: Session, step: str, request: SubjectRequest, extra: Mapping[str, Any],
        decided: Decided,
    ) -> int:  # fmt: skip
        """The step's access record, written now (on the console's store thread)."""
        reason = {"request": request.id or None, "kind": request.kind.value, **extra}
        entry = self._console.entry(
            f"{STEP}.{step}",
            session.principal,
            role=PRIVACY_OPS,
            subjects=request.pseudonyms,
            reason=json.dumps(reason, sort_keys=True),
            decision=decided,
            status="OK"
            if decided is Decided.ALLOWED and step != "failed"
            else "FAILED_PRECONDITION",
        )
        return self._console.sources.append(entry, now_us=entry.time_us).sequence

    # -- the list, and receiving a request ----------------------------------------------------

    async def listing(self, request: Request, session: Session) -> View:
        return await self._listing(session, problems=[], status=200)

    async def _listing(self, session: Session, *, problems: list[str], status: int) -> View:
        found = await self._console.run(lambda: self._workflow(session).newest(SHOWN))
        context = {
            "requests": [_shown(r) for r in found],
            "problems": problems,
            "may_act": PRIVACY_OPS in session.roles,
            "kinds": [k.value for k in RequestKind],
        }
        reason = json.dumps({"shown": len(found)})
        return View("request_list.html", context, reason=reason, status=status)

    async def receive(self, request: Request, session: Session) -> View:
        form = await request.form()
        kind, namespace = str(form.get("kind", "")), str(form.get("namespace", "")).strip()
        identifier = str(form.get("identifier", ""))
        problems = [] if kind in set(RequestKind) else ["kind: choose export or erasure"]
        try:
            pseudonyms = await self._console.run(
                self._console.sources.subject_pseudonyms, namespace, identifier
            )
        except InvalidRequest as exc:
            problems.extend(f"{v.field}: {v.description}" for v in exc.violations)
        if problems:  # nothing kept, nothing recorded: no request was made
            view = await self._listing(session, problems=problems, status=400)
            view.record = False
            return view
        try:
            received = await self._console.run(
                lambda: self._workflow(session).receive(
                    RequestKind(kind), namespace, pseudonyms,
                    suppress=form.get("suppress") == "on", principal=session.principal,
                    now=self._console.clock(),
                )
            )  # fmt: skip
        except AccessLogUnavailable:
            return View("refused.html", {"message": UNRECORDED}, status=503, record=False)
        return View(response=_to(received.id), record=False)

    # -- one request, and its steps ----------------------------------------------------------

    async def one(self, request: Request, session: Session) -> View:
        request_id = int(request.path_params["id"])
        try:
            found = await self._console.run(lambda: self._workflow(session).get(request_id))
        except RequestRefused as exc:
            return View("refused.html", {"message": str(exc)}, status=404,
                        reason=json.dumps({"request": request_id, "found": False}))  # fmt: skip
        return View(
            "request.html",
            _context(found, session),
            subjects=found.pseudonyms,
            reason=json.dumps({"request": found.id, "state": found.state.value}),
        )

    async def step(self, request: Request, session: Session) -> View:
        request_id, step = int(request.path_params["id"]), str(request.path_params["step"])
        form = await request.form()
        note = str(form.get("note", ""))
        actor = Actor(session.principal, frozenset(session.roles), frozenset())
        now = self._console.clock()

        def run() -> Any:
            workflow = self._workflow(session)
            if step == "approve":
                return workflow.approve(request_id, actor=actor, note=note, now=now)
            if step == "reject":
                return workflow.reject(request_id, principal=actor.name, note=note, now=now)
            if step == "execute":
                return workflow.execute(request_id, actor=actor, now=now)
            if step == "download":
                return workflow.download(request_id, actor=actor, now=now)
            raise RequestRefused(f"no step {step!r}")

        try:
            done = await self._console.run(run)
        except RequestRefused as exc:
            return await self._refused(session, request_id, step, str(exc))
        except AccessLogUnavailable:
            return View("refused.html", {"message": UNRECORDED}, status=503, record=False)
        except PrivacyError:  # a store failed: the request's page says what was kept
            return View(response=_to(request_id), record=False)
        if isinstance(done, tuple):  # an export: its document, or its failure
            exported, document = done
            if exported.state is RequestState.DOWNLOADED:
                return View(response=_attachment(exported, document), record=False)
            done = exported
        return View(response=_to(done.id), record=False)

    async def _refused(self, session: Session, request_id: int, step: str, why: str) -> View:
        """The request's page with why the step was refused; the refusal recorded."""
        workflow = self._workflow(session)
        try:
            found = await self._console.run(workflow.get, request_id)
        except RequestRefused:
            return View("refused.html", {"message": why}, status=404, record=False)
        attempted = {"approve": "approved", "reject": "rejected", "execute": "executed",
                     "download": "downloaded"}.get(step, step)  # fmt: skip
        await self._console.run(
            self._record, session, attempted, found, {"refused": why}, Decided.DENIED
        )
        context = {**_context(found, session), "problem": why}
        return View("request.html", context, status=409, record=False)


def _to(request_id: int) -> Response:
    return RedirectResponse(f"/subject-requests/{request_id}", status_code=303)


def _attachment(request: SubjectRequest, document: dict[str, Any]) -> Response:
    body = json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n"
    return Response(
        body,
        media_type="application/json",
        headers={
            "content-disposition": f'attachment; filename="subject-request-{request.id}.json"'
        },
    )


def _shown(r: SubjectRequest) -> dict[str, Any]:
    return {
        "id": r.id,
        "kind": r.kind.value,
        "state": r.state.value,
        "subject": r.subject,
        "namespace": r.namespace,
        "received_by": r.received_by,
        "received_at": when(r.received_at_us),
        "decided_by": r.decided_by,
        "failure": r.failure,
    }


def _context(r: SubjectRequest, session: Session) -> dict[str, Any]:
    ops = PRIVACY_OPS in session.roles
    mine = session.principal == r.received_by
    waiting = r.state is RequestState.RECEIVED
    erasure = r.kind is RequestKind.ERASURE
    return {
        "r": {
            **_shown(r),
            "pseudonyms": r.pseudonyms,
            "suppress": r.suppress,
            "decided_at": when(r.decided_at_us) if r.decided_at_us else "",
            "note": r.note,
            "done_at": when(r.done_at_us) if r.done_at_us else "",
            "deleted": sorted(r.deleted.items()),
            "total": sum(r.deleted.values()),
            "record": r.record,
            "received_record": r.received_record,
        },
        "may_decide": ops and erasure and waiting and not mine,
        "may_execute": ops and r.state is RequestState.APPROVED and not mine,
        "may_download": ops and not erasure and waiting and mine,
        "awaits_other": ops and erasure and waiting and mine,
        "read_only": ROLE in session.roles and not ops,
        "problem": "",
    }
