"""Sign-in sessions, CSRF tokens and the headers every response carries.

A session lives in the console's memory only: the cookie holds a random id (256
bits), never the token, and a restart signs everybody out. Each page
authenticates the session's token again (revoked or expired: signed out at once)
and the session itself expires `session_timeout` after sign-in. A session signed in
with OpenID Connect has no token: its roles are fixed at sign-in, for
`session_timeout`.

CSRF: before sign-in, a random value in an HttpOnly SameSite=Strict cookie must
come back in the form (double submit); after it, every form carries the
session's own token. Both are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

SESSION_COOKIE = "tactful_console"
CSRF_COOKIE = "tactful_console_csrf"
# No script at all, styles and images from this origin only, no framing, forms only
# to this origin: the console loads nothing from anywhere else.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
# Over TLS only (RFC 6797 has browsers ignore it on plain HTTP): a browser that has
# seen the console over HTTPS refuses to be downgraded to plaintext for a year.
HTTPS_HEADERS = (*HEADERS, (b"strict-transport-security", b"max-age=31536000"))


@dataclass
class Session:
    principal: str
    token: str = field(repr=False)  # re-checked on every page: revocation signs out
    expires_at: datetime
    csrf: str = field(repr=False)
    # How the officer signed in: "token", or "oidc" (no token: the roles its groups
    # mapped to at sign-in hold until the session ends).
    authenticated_by: str = "token"
    # The console's roles the principal holds: a token's, as of the last page
    # (console/app.py); an OpenID Connect sign-in's, as mapped at sign-in.
    roles: frozenset[str] = frozenset()
    # Subject searches of this session: an opaque handle -> (namespace, pseudonyms), so
    # that paging and downloads never carry the identifier in a URL.
    searches: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)


class Sessions:
    def __init__(self, lifetime: timedelta) -> None:
        self._lifetime = lifetime
        self._by_id: dict[str, Session] = {}  # SHA-256 of the cookie's id -> session

    def start(
        self,
        principal: str,
        token: str,
        *,
        now: datetime,
        authenticated_by: str = "token",
        roles: frozenset[str] = frozenset(),
    ) -> tuple[str, Session]:
        """A new session and the cookie value that names it."""
        self._expire(now)
        cookie = secrets.token_urlsafe(32)
        expires_at = now + self._lifetime
        csrf = secrets.token_urlsafe(32)
        session = Session(principal, token, expires_at, csrf, authenticated_by, roles)
        self._by_id[_digest(cookie)] = session
        return cookie, session

    def find(self, cookie: str | None, *, now: datetime) -> Session | None:
        if not cookie:
            return None
        session = self._by_id.get(_digest(cookie))
        if session is None or now >= session.expires_at:
            self._by_id.pop(_digest(cookie), None)
            return None
        return session

    def end(self, cookie: str | None) -> None:
        if cookie:
            self._by_id.pop(_digest(cookie), None)

    def _expire(self, now: datetime) -> None:
        for key in [k for k, s in self._by_id.items() if now >= s.expires_at]:
            del self._by_id[key]


def same(a: str | None, b: str | None) -> bool:
    """Equal, non-empty, compared in constant time."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a).encode(), str(b).encode())


def new_csrf() -> str:
    return secrets.token_urlsafe(32)


def _digest(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class SecurityHeaders:
    """ASGI middleware: the headers above on every HTTP response, errors included; HSTS
    too when the connection is HTTPS."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = HTTPS_HEADERS if scope.get("scheme") == "https" else HEADERS

        async def with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self._app(scope, receive, with_headers)
