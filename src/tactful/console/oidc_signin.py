"""The console's sign-in with the OpenID Connect provider: /sign-in/oidc sends the
officer there, /sign-in/oidc/callback signs them in (console/oidc.py checks the answer).

The session is a token sign-in's (same cookie, CSRF, sign-out, expiry), with the
roles the officer's groups map to. Every callback is an access record under
`tactful.console/sign-in`, allowed or refused, and a refused one counts toward the
lockouts as a wrong token does (signin.py): for the address, for everyone, and for
the officer once the ID token names them. A provider that cannot be reached is
recorded as UNAVAILABLE and charged to nobody.

The browser is bound to its sign-in by a cookie of its own, SameSite=Lax (a Strict
one would not come back with the provider's redirect). The provider's redirect is a
cross-site navigation, so the session cookie (Strict) set by the callback would not
be sent if it redirected on: it answers a page that moves on by itself instead.
"""

from __future__ import annotations

import logging
import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from tactful.app.config_oidc import CALLBACK_PATH
from tactful.console import signin
from tactful.console.app import Console, admits
from tactful.console.oidc import (
    PENDING_S,
    Officer,
    OidcError,
    PendingSignIns,
    Provider,
    ProviderUnavailable,
)
from tactful.privacy.access_log import ANONYMOUS

log = logging.getLogger("tactful.console")
START_PATH = "/sign-in/oidc"
BROWSER_COOKIE = "tactful_console_oidc"


def routes(console: Console) -> list[BaseRoute]:
    """The two routes of OpenID Connect sign-in, none if [console.oidc] is not set."""
    settings = console.settings.console.oidc
    if settings is None:
        return []
    door = _Door(console, Provider(settings))
    return [
        Route(START_PATH, door.start, methods=["GET"]),
        Route(CALLBACK_PATH, door.callback, methods=["GET"]),
    ]


class _Door:
    def __init__(self, console: Console, provider: Provider) -> None:
        self._console = console
        self._provider = provider
        self._pending = PendingSignIns()

    async def start(self, request: Request) -> Response:
        """A redirect to the provider, with a new state, nonce and PKCE challenge."""
        console = self._console
        if await console.session_of(request) is not None:
            return RedirectResponse("/access-log", status_code=303)
        now = console.clock()
        locked = console.lockouts.locked(
            signin.lockout_keys(_address(request)), now_s=now.timestamp()
        )
        if locked is not None:  # recorded if the officer comes back from the provider
            refusal = signin.locked_out(ANONYMOUS, None, locked)
            return signin.sign_in_form(console, request, refusal.message, status=429)
        browser = request.cookies.get(BROWSER_COOKIE) or secrets.token_urlsafe(32)
        pending = self._pending.start(browser, now_s=now.timestamp())
        try:
            url = await self._provider.authorization_url(pending)
        except ProviderUnavailable as exc:
            log.error("OpenID Connect sign-in cannot start: %s", exc.reason)
            return signin.sign_in_form(console, request, _UNAVAILABLE, status=503)
        response = RedirectResponse(url, status_code=303)
        response.set_cookie(
            BROWSER_COOKIE,
            browser,
            max_age=PENDING_S,
            httponly=True,
            samesite="lax",
            secure=console.secure,
            path=START_PATH,
        )
        return response

    async def callback(self, request: Request) -> Response:
        """The provider's answer: a session for the officer, or a recorded refusal."""
        console = self._console
        address = _address(request)
        keys = signin.lockout_keys(address)
        now = console.clock()
        locked = console.lockouts.locked(keys, now_s=now.timestamp())
        if locked is not None:
            return await self._refuse(request, address, signin.locked_out(ANONYMOUS, None, locked))
        try:
            pending = self._pending.take(
                request.query_params.get("state", ""),
                request.cookies.get(BROWSER_COOKIE),
                now_s=now.timestamp(),
            )
            officer = await self._provider.sign_in(request.query_params, pending, now=now)
        except ProviderUnavailable as exc:
            log.error("OpenID Connect sign-in failed: %s", exc.reason)
            return await self._refuse(request, address, self._unavailable(exc))
        except OidcError as exc:
            refusal = self._refused(exc, exc.principal, exc.roles)
            return await self._fail(request, address, refusal, exc.principal)
        keys = signin.lockout_keys(address, officer.principal)
        locked = console.lockouts.locked(keys, now_s=now.timestamp())
        if locked is not None:
            refusal = signin.locked_out(officer.principal, officer.roles, locked, "oidc")
            return await self._refuse(request, address, refusal)
        if not admits(officer.roles):
            refusal = self._refused(
                OidcError("refused: role is neither compliance nor privacy_ops"),
                officer.principal,
                officer.roles,
            )
            return await self._fail(request, address, refusal, officer.principal)
        console.lockouts.succeed(keys, now_s=now.timestamp())
        return await self._begin(request, officer)

    async def _begin(self, request: Request, officer: Officer) -> Response:
        console = self._console
        now = console.clock()
        cookie, session = console.sessions.start(
            officer.principal, "", now=now, authenticated_by="oidc", roles=officer.roles
        )
        known_as = f" as {officer.known_as}" if officer.known_as else ""
        reason = (
            f"signed in with OpenID Connect ({self._provider.host}){known_as}"
            f" until {session.expires_at.isoformat()}"
        )
        record = console.entry(
            signin.SIGN_IN,
            officer.principal,
            role=",".join(sorted(officer.roles)),
            reason=reason,
            authenticated_by="oidc",
        )
        home = console.home(session)
        page = console.render(
            request, "signed_in.html", {"session": None, "page": "signed-in", "home": home}
        )
        response = await signin.begin_session(console, request, cookie, record, page)
        response.delete_cookie(BROWSER_COOKIE, path=START_PATH)
        return response

    async def _fail(
        self, request: Request, address: str, refusal: signin.Refusal, principal: str
    ) -> Response:
        """Refuse, and count it toward the lockouts of the address, everyone and the
        officer (if the ID token named them)."""
        response = await self._refuse(request, address, refusal)
        now_s = self._console.clock().timestamp()
        for lockout in self._console.lockouts.fail(
            signin.lockout_keys(address, principal), now_s=now_s
        ):
            await signin.record_lockout(self._console, lockout)
        return response

    async def _refuse(self, request: Request, address: str, refusal: signin.Refusal) -> Response:
        response = await signin.refuse(self._console, request, address, refusal)
        response.delete_cookie(BROWSER_COOKIE, path=START_PATH)
        return response

    def _refused(self, exc: OidcError, principal: str, roles: frozenset[str]) -> signin.Refusal:
        known = bool(principal)
        message = _NO_ROLE if known else _REFUSED
        return signin.Refusal(
            principal or ANONYMOUS,
            ",".join(sorted(roles)),
            "PERMISSION_DENIED" if known else "UNAUTHENTICATED",
            f"{exc.reason} (OpenID Connect, {self._provider.host})",
            message,
            403,
            "oidc" if known else "",
        )

    def _unavailable(self, exc: OidcError) -> signin.Refusal:
        return signin.Refusal(
            ANONYMOUS,
            "",
            "UNAVAILABLE",
            f"{exc.reason} (OpenID Connect, {self._provider.host})",
            _UNAVAILABLE,
            503,
            "",
        )


_REFUSED = "The sign-in with your identity provider was refused; try again."
_NO_ROLE = (
    "Your identity provider signed you in, but none of your groups gives you a role"
    " in this console: ask its operator."
)
_UNAVAILABLE = "The identity provider cannot be reached; try later, or sign in with a token."


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
