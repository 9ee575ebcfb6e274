"""A small OpenID Connect provider for the console's tests, served on 127.0.0.1: discovery,
a JWKS, an authorization endpoint that signs the officer in at once and redirects back
with a code, and a token endpoint that checks the code, the PKCE verifier and the
client's secret and answers an ID token signed with a key generated here.

What it issues can be spoiled one way per test (`claims` merged into the ID token, a
`signing_key` the JWKS does not hold, a `header` of another algorithm), so that each
refusal is the console's own doing."""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import uvicorn
from joserfc import jwt
from joserfc.jwk import ECKey, Key, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID = "tactful-console"
CLIENT_SECRET = "test-client-secret"
SUBJECT = "248289761001"
USERNAME = "olivia.officer"


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    nonce: str
    challenge: str


@dataclass
class OidcProvider:
    clock: Callable[[], datetime]
    key_type: str = "RSA"  # or "EC": RS256 or ES256
    groups: list[str] = field(default_factory=lambda: ["tactful-compliance", "staff"])
    claims: dict[str, Any] = field(default_factory=dict)  # merged into the next ID tokens
    header: dict[str, Any] = field(default_factory=dict)  # merged into their JOSE header
    signing_key: Key | None = None  # None: the key the JWKS publishes
    raw_id_token: Callable[[dict[str, Any]], str] | None = None  # hand-made tokens
    host: str = "127.0.0.1"  # as the issuer names it ("localhost": another site)
    login_page: bool = False  # the officer submits a form here (else signed in at once)
    denies: bool = False  # the officer says no (or the provider does): error=access_denied
    client_secret: str = CLIENT_SECRET  # what the token endpoint expects
    issuer: str = ""
    token_calls: list[dict[str, str]] = field(default_factory=list)
    _grants: dict[str, Grant] = field(default_factory=dict)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.key: Key = new_key(self.key_type, "k1")

    @property
    def alg(self) -> str:
        return "RS256" if self.key_type == "RSA" else "ES256"

    # -- endpoints ------------------------------------------------------------------------

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": [self.alg],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            }
        )

    async def jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    def rotate(self) -> None:
        """A new signing key, "k2", the only one the JWKS publishes from now on."""
        self.key = new_key(self.key_type, "k2")

    async def authorize(self, request: Request) -> Response:
        """Signs the officer in at once (as a provider with a live session would), or
        after they submit its login page: the browser then comes back from this site."""
        q = request.query_params
        assert q["response_type"] == "code" and q["code_challenge_method"] == "S256"
        assert "openid" in q["scope"].split()
        if self.login_page and request.method == "GET":
            return HTMLResponse(
                '<!doctype html><html lang="en"><title>Example SSO</title><main>'
                f'<form method="post" action="/authorize?{html.escape(str(q))}">'
                '<button type="submit">Log in</button></form></main></html>'
            )
        if self.denies:
            back = {"error": "access_denied", "state": q["state"]}
            return RedirectResponse(f"{q['redirect_uri']}?{urllib.parse.urlencode(back)}", 303)
        code = secrets.token_urlsafe(16)
        self._grants[code] = Grant(
            q["client_id"], q["redirect_uri"], q["nonce"], q["code_challenge"]
        )
        back = {"code": code, "state": q["state"]}
        return RedirectResponse(f"{q['redirect_uri']}?{urllib.parse.urlencode(back)}", 303)

    async def token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.token_calls.append(form)
        grant = self._grants.pop(form.get("code", ""), None)
        if grant is None or form.get("grant_type") != "authorization_code":
            return JSONResponse({"error": "invalid_grant"}, 400)
        if request.headers.get("authorization") != basic(CLIENT_ID, self.client_secret):
            return JSONResponse({"error": "invalid_client"}, 401)
        if s256(form.get("code_verifier", "")) != grant.challenge:
            return JSONResponse({"error": "invalid_grant"}, 400)
        if form.get("redirect_uri") != grant.redirect_uri:
            return JSONResponse({"error": "invalid_grant"}, 400)
        return JSONResponse({"access_token": "at-unused", "token_type": "Bearer",
                             "id_token": self.id_token(grant)})  # fmt: skip

    def id_token(self, grant: Grant) -> str:
        now = int(self.clock().timestamp())
        claims = {
            "iss": self.issuer,
            "aud": grant.client_id,
            "sub": SUBJECT,
            "preferred_username": USERNAME,
            "email": "olivia@example.com",
            "groups": self.groups,
            "nonce": grant.nonce,
            "iat": now,
            "exp": now + 300,
            **self.claims,
        }
        if self.raw_id_token is not None:
            return self.raw_id_token(claims)
        header = {"alg": self.alg, "kid": self.key.kid, **self.header}
        return jwt.encode(header, claims, self.signing_key or self.key, algorithms=[header["alg"]])

    # -- serving --------------------------------------------------------------------------

    def start(self) -> OidcProvider:
        app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize, methods=["GET", "POST"]),
                Route("/token", self.token, methods=["POST"]),
            ]
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                access_log=False, lifespan="off")  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="oidc-provider", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            assert self._thread.is_alive() and time.monotonic() < deadline, "no provider"
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.issuer = f"http://{self.host}:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=30)


def new_key(key_type: str, kid: str) -> Key:
    parameters: Any = {"kid": kid, "use": "sig"}
    if key_type == "RSA":
        return RSAKey.generate_key(2048, parameters=parameters)
    return ECKey.generate_key("P-256", parameters=parameters)


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
