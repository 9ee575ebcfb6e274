"""Sign-in with a compliance principal's token, and sign-out.

Every sign-in is an access record: allowed (the principal, when its session ends),
or denied (the principal if the token is known but not a compliance one,
`anonymous` otherwise). Refused attempts are limited per peer, as the gRPC edge
limits failed calls, so nobody can fill the access log from a sign-in form.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from console.app import ROLE, Console
from console.security import CSRF_COOKIE, SESSION_COOKIE, new_csrf, same
from privacy.access_log import ANONYMOUS, AccessLogUnavailable, Decided
from server.auth import Unauthenticated

Endpoint = Callable[[Request], Awaitable[Response]]


def form(console: Console) -> Endpoint:
    async def show(request: Request) -> Response:
        if await console.session_of(request) is not None:
            return RedirectResponse("/access-log", status_code=303)
        return _form(console, request, "")

    return show


def _form(console: Console, request: Request, error: str, *, status: int = 200) -> Response:
    csrf = request.cookies.get(CSRF_COOKIE) or new_csrf()
    response = console.render(
        request,
        "sign_in.html",
        {"csrf": csrf, "error": error, "session": None, "page": "sign-in"},
        status=status,
    )
    response.set_cookie(
        CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=console.secure, path="/"
    )
    return response


def sign_in(console: Console) -> Endpoint:
    async def submit(request: Request) -> Response:
        submitted = await request.form()
        if not same(str(submitted.get("csrf", "")), request.cookies.get(CSRF_COOKIE)):
            return _form(console, request, "The form expired; try again.", status=403)
        token = str(submitted.get("token", "")).strip()
        now = console.clock()
        try:
            actor = await console.run(
                console.sources.authenticator.authenticate,
                [("authorization", f"Bearer {token}")],
                now=now,
            )
        except Unauthenticated:
            actor = None
        if actor is None or ROLE not in actor.roles:
            return await _refuse(console, request, actor.name if actor else ANONYMOUS, actor)
        cookie, session = console.sessions.start(actor.name, token, now=now)
        reason = f"signed in until {session.expires_at.isoformat()}"
        try:
            await console.record(console.entry("sign-in", actor.name, reason=reason))
        except AccessLogUnavailable:
            console.sessions.end(cookie)
            return _form(
                console, request, "The access log cannot be written; try later.", status=503
            )
        response = RedirectResponse("/access-log", status_code=303)
        lifetime = int((session.expires_at - now).total_seconds())
        response.set_cookie(
            SESSION_COOKIE,
            cookie,
            max_age=lifetime,
            httponly=True,
            samesite="strict",
            secure=console.secure,
            path="/",
        )
        response.delete_cookie(CSRF_COOKIE, path="/")
        return response

    return submit


async def _refuse(console: Console, request: Request, principal: str, actor: object) -> Response:
    known = actor is not None
    message = "This token's principal is not a compliance officer." if known else "Unknown token."
    peer = request.client.host if request.client else "unknown"
    if console.refused.admit_failure(peer, now_s=console.clock().timestamp()):
        roles = ",".join(sorted(getattr(actor, "roles", ()))) if known else ""
        entry = console.entry(
            "sign-in",
            principal,
            role=roles,
            reason=f"refused: {'role is not compliance' if known else 'unknown or revoked token'}",
            decision=Decided.DENIED,
            status="PERMISSION_DENIED" if known else "UNAUTHENTICATED",
        )
        with contextlib.suppress(AccessLogUnavailable):  # refused either way
            await console.record(entry)
        return _form(console, request, message, status=403)
    return _form(console, request, "Too many refused sign-ins; wait a minute.", status=429)


def sign_out(console: Console) -> Endpoint:
    async def submit(request: Request) -> Response:
        session = await console.session_of(request)
        submitted = await request.form()
        if session is not None:
            if not same(str(submitted.get("csrf", "")), session.csrf):
                page = {"message": "The form expired; reload the page.", "session": None}
                return console.render(request, "refused.html", {**page, "page": ""}, status=403)
            console.sessions.end(request.cookies.get(SESSION_COOKIE))
            with contextlib.suppress(AccessLogUnavailable):  # the session is over either way
                await console.record(console.entry("sign-out", session.principal))
        response = RedirectResponse("/sign-in", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return submit
