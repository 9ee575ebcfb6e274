"""Sign-in with a compliance (or privacy_ops) principal's token, and sign-out.

Every sign-in is an access record: allowed (the principal, when its session ends),
or denied (the principal if the token is known but not a compliance one,
`anonymous` otherwise). Refused sign-ins are recorded as the gRPC edge records
failed calls: one record each while the address's and every address's buckets last
([rate_limit]), past them counted into one summary record per window
(`tactful.console/sign-in.rate-limited`), so none goes without trace and nobody can
fill the access log from a sign-in form.

Too many refused sign-ins lock sign-in out, with backoff (app/lockout.py): for
the address, for a known principal, or for everyone during a flood from many
addresses. A locked-out sign-in is refused (429) whatever its token, and is itself
recorded or counted; each lockout's start is recorded
(`tactful.console/sign-in.lockout`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tactful.app.auth import Unauthenticated
from tactful.app.lockout import EVERYONE, Lockout, address_key, principal_key
from tactful.console.app import Console, admits, method_of, role_for
from tactful.console.security import CSRF_COOKIE, SESSION_COOKIE, new_csrf, same
from tactful.privacy.access_log import ANONYMOUS, AccessEntry, AccessLogUnavailable, Decided
from tactful.privacy.decisions import Actor
from tactful.timestamps import to_us

log = logging.getLogger("tactful.console")
SIGN_IN = "sign-in"
LOCKOUT = "sign-in.lockout"  # the record of a lockout's start
_WHOSE = {"address": "this address", "principal": "this principal", EVERYONE: "every address"}

Endpoint = Callable[[Request], Awaitable[Response]]


def form(console: Console) -> Endpoint:
    async def show(request: Request) -> Response:
        if await console.session_of(request) is not None:
            return RedirectResponse("/access-log", status_code=303)
        return sign_in_form(console, request, "")

    return show


def sign_in_form(console: Console, request: Request, error: str, *, status: int = 200) -> Response:
    """The sign-in form: a token, or the OpenID Connect provider's link."""
    csrf = request.cookies.get(CSRF_COOKIE) or new_csrf()
    oidc = console.settings.console.oidc
    response = console.render(
        request,
        "sign_in.html",
        {
            "csrf": csrf,
            "error": error,
            "session": None,
            "page": "sign-in",
            "provider": oidc.provider_name if oidc else "",
        },
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
            return sign_in_form(console, request, "The form expired; try again.", status=403)
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
        refused = await _refused(console, request, actor, now)
        if refused is not None:
            return refused
        assert actor is not None
        cookie, session = console.sessions.start(actor.name, token, now=now)
        reason = f"signed in until {session.expires_at.isoformat()}"
        return await begin_session(
            console,
            request,
            cookie,
            console.entry(SIGN_IN, actor.name, role=role_for(actor.roles), reason=reason),
            RedirectResponse("/access-log", status_code=303),
        )

    return submit


async def begin_session(
    console: Console, request: Request, cookie: str, record: AccessEntry, then: Response
) -> Response:
    """`then`, setting the session `cookie` names, once its sign-in `record` is written;
    if it cannot be, the session ends unused and the form says so."""
    try:
        await console.record(record)
    except AccessLogUnavailable:
        console.sessions.end(cookie)
        return sign_in_form(
            console, request, "The access log cannot be written; try later.", status=503
        )
    now = console.clock()
    session = console.sessions.find(cookie, now=now)
    lifetime = int((session.expires_at - now).total_seconds()) if session else 0
    then.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=lifetime,
        httponly=True,
        samesite="strict",
        secure=console.secure,
        path="/",
    )
    then.delete_cookie(CSRF_COOKIE, path="/")
    return then


async def _refused(
    console: Console, request: Request, actor: Actor | None, now: datetime
) -> Response | None:
    """The refusal of a sign-in that is locked out, or whose token is no compliance
    principal's (which may start a lockout); None if the sign-in may go on."""
    address = request.client.host if request.client else "unknown"
    keys = lockout_keys(address, actor.name if actor else "")
    locked = console.lockouts.locked(keys, now_s=now.timestamp())
    if locked is not None:
        return await refuse(console, request, address, _locked_out(actor, locked))
    if actor is None or not admits(actor.roles):
        response = await refuse(console, request, address, _wrong_token(actor))
        for lockout in console.lockouts.fail(keys, now_s=now.timestamp()):
            await record_lockout(console, lockout)
        return response
    console.lockouts.succeed(keys, now_s=now.timestamp())
    return None


def lockout_keys(address: str, principal: str = "") -> list[str]:
    """What a sign-in from `address` as `principal` (if known) is charged to and locked by."""
    return [address_key(address), EVERYONE, *([principal_key(principal)] if principal else [])]


@dataclass(frozen=True)
class Refusal:
    principal: str
    role: str
    status: str  # named as the gRPC status the API would answer
    reason: str
    message: str  # shown on the form
    http_status: int
    authenticated_by: str = "token"  # how the principal, if known, was established


def _wrong_token(actor: Actor | None) -> Refusal:
    if actor is None:
        return Refusal(
            ANONYMOUS, "", "UNAUTHENTICATED", "refused: unknown or revoked token",
            "Unknown token.", 403,
        )  # fmt: skip
    return Refusal(
        actor.name, ",".join(sorted(actor.roles)), "PERMISSION_DENIED",
        "refused: role is neither compliance nor privacy_ops",
        "This token's principal is not a compliance officer, nor in privacy operations.", 403,
    )  # fmt: skip


def _locked_out(actor: Actor | None, lockout: Lockout) -> Refusal:
    return locked_out(actor.name if actor else ANONYMOUS, actor.roles if actor else None, lockout)


def locked_out(
    principal: str, roles: frozenset[str] | None, lockout: Lockout, authenticated_by: str = "token"
) -> Refusal:
    """The refusal of a sign-in as `principal` (ANONYMOUS if unknown) during `lockout`."""
    until = datetime.fromtimestamp(lockout.until_s, UTC).isoformat(timespec="seconds")
    whose = _WHOSE[lockout.key.partition(":")[0]]
    return Refusal(
        principal,
        ",".join(sorted(roles or ())),
        "RESOURCE_EXHAUSTED",
        f"refused: sign-in locked out for {whose} until {until}",
        f"Too many refused sign-ins: sign-in is locked until {until}.",
        429,
        authenticated_by,
    )


async def refuse(console: Console, request: Request, address: str, refusal: Refusal) -> Response:
    """Refuse a sign-in, with a record of its own while the buckets last, else counted
    into the window's summary (also when its record cannot be written)."""
    now = console.clock()
    if console.refused.admit_failure(address, now_s=now.timestamp()):
        entry = console.entry(
            SIGN_IN,
            refusal.principal,
            role=refusal.role,
            reason=refusal.reason,
            decision=Decided.DENIED,
            status=refusal.status,
            authenticated_by=refusal.authenticated_by,
        )
        with contextlib.suppress(AccessLogUnavailable):
            await console.record(entry)
            return sign_in_form(console, request, refusal.message, status=refusal.http_status)
    method = method_of(SIGN_IN)
    if console.refused.refuse(
        address, method, refusal.principal, refusal.status, now_us=to_us(now)
    ):
        summary_s = console.refused.limits.summary_s
        asyncio.get_running_loop().call_later(summary_s, _write_summary, console)
    return sign_in_form(console, request, refusal.message, status=refusal.http_status)


def _write_summary(console: Console) -> None:
    window = console.refused.close_window()
    if window is not None:
        task = asyncio.ensure_future(console.record(console.refused_summary(window)))
        console.tasks.add(task)
        task.add_done_callback(console.tasks.discard)
        task.add_done_callback(_log_summary_failure)


def _log_summary_failure(task: asyncio.Future[int]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the summary of refused sign-ins could not be recorded")


async def record_lockout(console: Console, lockout: Lockout) -> None:
    kind, _, who = lockout.key.partition(":")
    until = datetime.fromtimestamp(lockout.until_s, UTC).isoformat(timespec="seconds")
    after = console.lockouts.policy.threshold(lockout.key)
    entry = console.entry(
        LOCKOUT,
        who if kind == "principal" else ANONYMOUS,
        role="",
        reason=f"locked out: {_WHOSE[kind]}{f' ({who})' if kind == 'address' else ''}"
        f" for {lockout.seconds:g} s until {until}, after {after} refused sign-ins"
        f" (lockout {lockout.level + 1} in a row)",
        decision=Decided.DENIED,
        status="RESOURCE_EXHAUSTED",
    )
    with contextlib.suppress(AccessLogUnavailable):  # the sign-in is refused either way
        await console.record(entry)


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
                await console.record(
                    console.entry(
                        "sign-out", session.principal, authenticated_by=session.authenticated_by
                    )
                )
        response = RedirectResponse("/sign-in", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return submit
