"""The compliance console: a Starlette application over the console's Sources.

What every page shares is declared once, in `Console.page`: the signed-in session
(else a redirect to the sign-in form), the CSRF check of a POST, the page's own
access record (written before anything is shown: if it cannot be written the page
is refused with 503 and shows nothing), then the template. Store calls run on one
thread of their own, so a long verification never stalls the event loop and one
SQLite connection is never used by two threads at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from tactful.app.auth import Unauthenticated
from tactful.app.limits import FailureLimiter, RefusedWindow
from tactful.app.lockout import Lockouts
from tactful.app.settings import Settings
from tactful.console.security import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Session,
    Sessions,
    new_csrf,
    same,
)
from tactful.console.sources import Sources
from tactful.privacy.access_log import ANONYMOUS, AccessEntry, AccessLogUnavailable, Decided
from tactful.privacy.contract import parse_duration
from tactful.privacy.errors import StoreUnavailable
from tactful.privacy.pending_records import PendingRecord
from tactful.timestamps import to_us

HERE = Path(__file__).resolve().parent
ROLE = "compliance"
PRIVACY_OPS = "privacy_ops"  # admitted to the data-subject request pages only
ROLES = frozenset({ROLE, PRIVACY_OPS})  # the roles the console admits at sign-in
SIGN_IN_LIMITED = "sign-in.rate-limited"  # the summary of refused sign-ins not recorded alone
T = TypeVar("T")


@dataclass
class View:
    """What a page handler returns: a template and its values, or a finished response
    (a download), and what its access record says."""

    template: str = ""
    context: dict[str, Any] = field(default_factory=dict)
    subjects: tuple[str, ...] = ()
    reason: str = ""
    response: Response | None = None
    status: int = 200
    recorded: int = 0  # the sequence of the page's access record, once written
    purpose: str = ""  # what a release it made was under (a scorecard: its journey's)
    decided: Decided = Decided.ALLOWED  # DENIED: what the page asked for was refused
    outcome: str = "OK"  # the record's status, as the RPC's would say it
    # The page's record made in advance and kept with a write (a scorecard's debit)
    # until it is durable (privacy/pending_records.py): written as it is, then dropped.
    owed: PendingRecord | None = None
    # False: the handler wrote the records of what it did itself, each before its
    # effect (a data-subject request's steps); the page adds none.
    record: bool = True


Handler = Callable[[Request, Session], Awaitable[View]]


def method_of(page: str) -> str:
    return f"tactful.console/{page}"


def role_for(roles: frozenset[str]) -> str:
    """The role a record of the console names: compliance where it is held."""
    return ROLE if ROLE in roles else ",".join(sorted(ROLES & roles))


def admits(roles: frozenset[str]) -> bool:
    """Whether a principal with `roles` may sign in to the console."""
    return bool(ROLES & roles)


class Console:
    def __init__(
        self,
        settings: Settings,
        sources: Sources,
        *,
        clock: Callable[[], datetime],
        secure: bool,
    ) -> None:
        self.settings = settings
        self.sources = sources
        self.clock = clock
        self.secure = secure  # served over TLS: cookies are Secure
        self.sessions = Sessions(parse_duration(settings.console.session_timeout))
        self.refused = FailureLimiter(settings.failure_limits)  # refused sign-ins recorded
        self.lockouts = Lockouts(settings.signin_lockout)
        self.tasks: set[asyncio.Task[Any]] = set()  # summaries being written
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tactful-console")
        self._templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.last_check: Any = None  # the latest CheckedLog, from "verify now"

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn` on the console's one store thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        window = self.refused.close_window()
        if window is not None:
            with contextlib.suppress(AccessLogUnavailable):  # logged by the access log
                summary = self.refused_summary(window)
                self.sources.append(summary, now_us=summary.time_us)
        with contextlib.suppress(AccessLogUnavailable):  # the next writer signs it
            self.sources.sign_head(now_us=to_us(self.clock()))
        self.sources.close()

    # -- sessions ---------------------------------------------------------------------------

    async def session_of(self, request: Request) -> Session | None:
        """The request's session if it is live and its token still one of a role the
        console admits (the session's roles are brought up to date); signed in with
        OpenID Connect: if its roles, mapped at sign-in, still are."""
        cookie = request.cookies.get(SESSION_COOKIE)
        now = self.clock()
        session = self.sessions.find(cookie, now=now)
        if session is None:
            return None
        if session.authenticated_by == "oidc":
            return session if admits(session.roles) else None
        try:
            actor = await self.run(
                self.sources.authenticator.authenticate,
                [("authorization", f"Bearer {session.token}")],
                now=now,
            )
        except Unauthenticated:
            actor = None
        if actor is None or not admits(actor.roles):
            self.sessions.end(cookie)
            return None
        session.roles = frozenset(ROLES & actor.roles)
        return session

    @staticmethod
    def role_of(session: Session) -> str:
        """The role a session's records name: compliance where it holds it."""
        return role_for(session.roles)

    @staticmethod
    def home(session: Session) -> str:
        """The first page for the session's roles."""
        return "/access-log" if ROLE in session.roles else "/subject-requests"

    # -- records ------------------------------------------------------------------------------

    def entry(
        self,
        page: str,
        principal: str,
        *,
        role: str = ROLE,
        subjects: tuple[str, ...] = (),
        reason: str = "",
        decision: Decided = Decided.ALLOWED,
        status: str = "OK",
        purpose: str = "",
        authenticated_by: str = "token",
    ) -> AccessEntry:
        return AccessEntry(
            time_us=to_us(self.clock()),
            principal=principal,
            role=role,
            method=method_of(page),
            purpose=purpose,
            subjects=subjects,
            requested=(),
            released=(),
            decision=decision,
            status=status,
            reason=reason,
            request_id=uuid.uuid4().hex,
            latency_us=0,
            authenticated_by=authenticated_by if principal != "anonymous" else "",
        )

    def refused_summary(self, window: RefusedWindow) -> AccessEntry:
        """The one record of the sign-ins refused in `window` without a record each."""
        reason = window.reason(to_us(self.clock()))
        return self.entry(
            SIGN_IN_LIMITED,
            ANONYMOUS,
            role="",
            reason=reason,
            decision=Decided.DENIED,
            status="RESOURCE_EXHAUSTED",
        )

    async def record(self, entry: AccessEntry) -> int:
        """Write `entry`; its sequence. AccessLogUnavailable if it cannot be written."""
        written = await self.run(self.sources.append, entry, now_us=entry.time_us)
        return written.sequence

    # -- pages --------------------------------------------------------------------------------

    def render(
        self, request: Request, template: str, context: dict[str, Any], *, status: int = 200
    ) -> HTMLResponse:
        html = self._templates.get_template(template).render(
            request=request, console=self.settings.console, **context
        )
        return HTMLResponse(html, status_code=status)

    def page(
        self, name: str, handler: Handler, *, post: bool = False,
        roles: frozenset[str] = frozenset({ROLE}),
    ) -> Callable[..., Any]:  # fmt: skip
        """`handler` behind sign-in (and CSRF for a POST), recorded as `name`, for
        principals of any of `roles` (others: sent to their own first page)."""

        async def endpoint(request: Request) -> Response:
            session = await self.session_of(request)
            if session is None:
                if post:
                    return self.render(
                        request, "refused.html", _refusal("Sign in first."), status=403
                    )
                return RedirectResponse("/sign-in", status_code=303)
            if not roles & session.roles:
                if post:
                    return self.render(
                        request, "refused.html", _refusal("Your role may not do this."),
                        status=403,
                    )  # fmt: skip
                return RedirectResponse(self.home(session), status_code=303)
            if post:
                form = await request.form()
                if not same(str(form.get("csrf", "")), session.csrf):
                    return self.render(
                        request,
                        "refused.html",
                        _refusal("The form expired; reload the page."),
                        status=403,
                    )
            view = await handler(request, session)
            if not view.record:
                return view.response or self.render(
                    request, view.template, {"session": session, "page": name, **view.context},
                    status=view.status,
                )  # fmt: skip
            try:
                entry = view.owed.entry if view.owed else None
                view.recorded = await self.record(
                    entry
                    or self.entry(
                        name,
                        session.principal,
                        role=self.role_of(session),
                        subjects=view.subjects,
                        reason=view.reason,
                        decision=view.decided,
                        status=view.outcome,
                        purpose=view.purpose,
                        authenticated_by=session.authenticated_by,
                    )
                )
                if view.owed is not None:  # else the next recovery round drops it
                    with contextlib.suppress(StoreUnavailable):
                        await self.run(self.sources.recorded, view.owed)
            except AccessLogUnavailable:
                return self.render(
                    request,
                    "refused.html",
                    _refusal(
                        "The access log cannot be written, so this page shows nothing. "
                        "Try again shortly; if it persists, tell the operator."
                    ),
                    status=503,
                )
            if view.response is not None:
                return view.response
            context = {"session": session, "page": name, **view.context}
            return self.render(request, view.template, context, status=view.status)

        return endpoint


def _refusal(message: str) -> dict[str, Any]:
    return {"message": message, "session": None, "page": "refused"}


__all__ = ["CSRF_COOKIE", "HERE", "Console", "View", "new_csrf"]
