"""Signing officers in with the company's OpenID Connect provider ([console.oidc]).

The Authorization Code flow with PKCE (S256), a `state` bound to the browser that
started it (a cookie of its own, its SHA-256 kept here) and used once, and a `nonce`
the ID token must carry. The provider is found by discovery
(`{issuer}/.well-known/openid-configuration`, whose `issuer` must be ours). The ID
token is verified with joserfc, the JOSE library of the Authlib project: its
signature by a key of the provider's JWKS, with an asymmetric algorithm only (`none`
and HS* are refused, so a public key can never be used as an HMAC secret), then
iss, aud (and azp), exp, iat and nonce here, against the console's clock.

The officer's principal is `oidc:<issuer host>:<principal_claim>` (the `sub` by
default: stable, and not an e-mail address), the roles are those its groups map to.
Tokens and codes are never logged nor recorded: a refusal's reason says what was
wrong, not what was sent.

    OidcError                 why a sign-in with the provider did not succeed
    ├── ProviderUnavailable   the provider cannot be reached or answers nonsense
    └── SignInRefused         the provider, the callback or the ID token says no
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import ssl
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from tactful.app.settings import OidcSettings, is_loopback

# Asymmetric signatures only: never "none", never a shared secret (HS*).
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
LEEWAY_S = 60  # clock skew allowed between the provider and the console
PENDING_S = 600  # a sign-in started at the provider must come back within this
MAX_PENDING = 10_000  # sign-ins started and not back; the oldest are dropped past it
METADATA_S = 3600  # discovery and the JWKS are read again after this
JWKS_RETRY_S = 30  # an unknown key id reads the JWKS again, at most this often
TIMEOUT_S = 10


class OidcError(Exception):
    """Why a sign-in with the provider did not succeed; `reason` goes in the record."""

    def __init__(self, reason: str, principal: str = "", roles: frozenset[str] = frozenset()):
        super().__init__(reason)
        self.reason = reason
        self.principal = principal  # "" until the ID token is verified
        self.roles = roles


class ProviderUnavailable(OidcError):
    pass


class SignInRefused(OidcError):
    pass


@dataclass(frozen=True)
class Pending:
    """A sign-in sent to the provider, waiting for its callback."""

    state: str
    nonce: str
    verifier: str  # PKCE code_verifier; the provider saw only its S256 challenge
    browser: str  # SHA-256 of the browser's binding cookie
    expires_s: float


@dataclass(frozen=True)
class Officer:
    principal: str
    roles: frozenset[str]
    known_as: str  # preferred_username (or name), for the sign-in record's reason only


class PendingSignIns:
    """Sign-ins started and not yet back, each taken once, by its state and browser."""

    def __init__(self) -> None:
        self._by_state: dict[str, Pending] = {}

    def start(self, browser_cookie: str, *, now_s: float) -> Pending:
        self._expire(now_s)
        while len(self._by_state) >= MAX_PENDING:
            del self._by_state[next(iter(self._by_state))]
        pending = Pending(
            secrets.token_urlsafe(32),
            secrets.token_urlsafe(32),
            secrets.token_urlsafe(48),
            _sha256(browser_cookie),
            now_s + PENDING_S,
        )
        self._by_state[pending.state] = pending
        return pending

    def take(self, state: str, browser_cookie: str | None, *, now_s: float) -> Pending:
        """The pending sign-in `state` names, started by this browser; SignInRefused if
        there is none (unknown, expired, already used, or another browser's)."""
        pending = self._by_state.pop(state, None) if state else None
        if pending is None or now_s >= pending.expires_s:
            raise SignInRefused("refused: OIDC state unknown, expired or already used")
        if not browser_cookie or not hmac.compare_digest(pending.browser, _sha256(browser_cookie)):
            raise SignInRefused("refused: OIDC state was started by another browser")
        return pending

    def _expire(self, now_s: float) -> None:
        for state in [s for s, p in self._by_state.items() if now_s >= p.expires_s]:
            del self._by_state[state]


class Provider:
    """The configured provider: where to send the officer, and what its answer means."""

    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        # The system's trust store (where a company CA is installed), not certifi's.
        self._verify = ssl.create_default_context(
            cafile=str(settings.ca_file) if settings.ca_file else None
        )
        self._metadata: dict[str, Any] = {}
        self._metadata_s = 0.0  # monotonic time it was read
        self._keys: KeySet | None = None
        self._keys_s = 0.0

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.settings.issuer).netloc

    async def authorization_url(self, pending: Pending) -> str:
        metadata = await self._discovered()
        query = {
            "response_type": "code",
            "client_id": self.settings.client_id,
            "redirect_uri": self.settings.redirect_url,
            "scope": " ".join(self.settings.scopes),
            "state": pending.state,
            "nonce": pending.nonce,
            "code_challenge": _s256(pending.verifier),
            "code_challenge_method": "S256",
        }
        endpoint = metadata["authorization_endpoint"]
        joiner = "&" if urllib.parse.urlsplit(endpoint).query else "?"
        return f"{endpoint}{joiner}{urllib.parse.urlencode(query)}"

    async def sign_in(
        self, callback: Mapping[str, str], pending: Pending, *, now: datetime
    ) -> Officer:
        """The officer the provider's callback signs in; SignInRefused or
        ProviderUnavailable if it does not."""
        if callback.get("error"):
            raise SignInRefused(f"refused: the provider answered {_code(callback['error'])}")
        code = callback.get("code", "")
        if not code:
            raise SignInRefused("refused: the provider's answer has no code")
        id_token = await self._exchange(code, pending)
        claims = await self._verified(id_token, pending, now_s=now.timestamp())
        return self._officer(claims)

    # -- the provider's endpoints ------------------------------------------------------------

    async def _discovered(self) -> dict[str, Any]:
        if self._metadata and time.monotonic() - self._metadata_s < METADATA_S:
            return self._metadata
        url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
        metadata = await self._get_json(url, "discovery")
        if metadata.get("issuer") != self.settings.issuer:
            raise ProviderUnavailable("unavailable: the provider's discovery names another issuer")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(metadata.get(key), str) or not _secure(metadata[key]):
                raise ProviderUnavailable(
                    f"unavailable: the provider's discovery has no https {key}"
                )
        self._metadata, self._metadata_s = metadata, time.monotonic()
        return metadata

    async def _exchange(self, code: str, pending: Pending) -> str:
        """The ID token the token endpoint gives for `code` and the PKCE verifier."""
        metadata = await self._discovered()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.settings.redirect_url,
            "code_verifier": pending.verifier,
            "client_id": self.settings.client_id,
        }
        headers: dict[str, str] = {}
        secret = self.settings.client_secret
        if secret and "client_secret_basic" in metadata.get(
            "token_endpoint_auth_methods_supported", ["client_secret_basic"]
        ):
            headers["authorization"] = _basic(self.settings.client_id, secret)
        elif secret:
            form["client_secret"] = secret
        try:
            async with self._client() as client:
                reply = await client.post(metadata["token_endpoint"], data=form, headers=headers)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"unavailable: the token endpoint cannot be reached ({type(exc).__name__})"
            ) from None
        body = _json_or_empty(reply)
        if reply.status_code != 200:
            error = _code(str(body.get("error", f"HTTP {reply.status_code}")))
            raise SignInRefused(f"refused: the token endpoint refused the code ({error})")
        id_token = body.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise SignInRefused("refused: the token endpoint gave no ID token")
        return id_token

    async def _key_set(self, kid: str | None) -> KeySet:
        stale = time.monotonic() - self._keys_s >= METADATA_S
        unknown = kid is not None and self._keys is not None and kid not in _kids(self._keys)
        retry = unknown and time.monotonic() - self._keys_s >= JWKS_RETRY_S  # rotated keys
        if self._keys is None or stale or retry:
            metadata = await self._discovered()
            jwks = await self._get_json(metadata["jwks_uri"], "JWKS")
            keys = jwks.get("keys")
            public = [k for k in keys if isinstance(k, dict) and k.get("kty") in ("RSA", "EC")] \
                if isinstance(keys, list) else []  # fmt: skip
            try:
                self._keys = KeySet.import_key_set({"keys": public})
            except (JoseError, ValueError, TypeError) as exc:
                raise ProviderUnavailable(
                    f"unavailable: the provider's JWKS has no usable key ({type(exc).__name__})"
                ) from None
            self._keys_s = time.monotonic()
        return self._keys

    # -- the ID token ------------------------------------------------------------------------

    async def _verified(self, id_token: str, pending: Pending, *, now_s: float) -> dict[str, Any]:
        """The ID token's claims, once its signature and claims are right."""
        kid = _header(id_token).get("kid")
        keys = await self._key_set(kid if isinstance(kid, str) else None)
        try:
            token = jwt.decode(id_token, keys, algorithms=list(ALGORITHMS))
        except (JoseError, ValueError, TypeError) as exc:
            raise SignInRefused(
                f"refused: the ID token's signature does not verify ({_error_name(exc)})"
            ) from None
        claims: dict[str, Any] = token.claims
        problem = self._claims_problem(claims, pending, now_s)
        if problem:
            raise SignInRefused(f"refused: the ID token {problem}")
        return claims

    def _claims_problem(self, claims: dict[str, Any], pending: Pending, now_s: float) -> str:
        """What is wrong with the verified token's claims ("" if nothing)."""
        client_id = self.settings.client_id
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        exp, iat = _seconds(claims.get("exp")), _seconds(claims.get("iat"))
        if claims.get("iss") != self.settings.issuer:
            return "is from another issuer"
        if client_id not in audiences:
            return "is for another audience"
        if claims.get("azp", client_id) != client_id or (
            len(audiences) > 1 and "azp" not in claims
        ):
            return "was issued to another party (azp)"
        if exp is None or now_s >= exp + LEEWAY_S:
            return "has expired"
        if iat is None or iat > now_s + LEEWAY_S:
            return "is issued in the future"
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not hmac.compare_digest(
            nonce.encode(), pending.nonce.encode()
        ):
            return "has the wrong nonce"
        return ""

    def _officer(self, claims: dict[str, Any]) -> Officer:
        name_claim = self.settings.principal_claim
        name = claims.get(name_claim)
        if not isinstance(name, str) or not _PRINTABLE.fullmatch(name):
            raise SignInRefused(f"refused: the ID token has no usable {_code(name_claim)} claim")
        principal = f"oidc:{self.host}:{name}"
        groups_claim = claims.get(self.settings.groups_claim, [])
        groups = frozenset(g for g in groups_claim if isinstance(g, str)) \
            if isinstance(groups_claim, list) else frozenset()  # fmt: skip
        roles = self.settings.roles_of(groups)
        if not roles:
            raise SignInRefused(
                "refused: no group of the officer maps to a console role", principal
            )
        known_as = claims.get("preferred_username") or claims.get("name") or ""
        known = known_as if isinstance(known_as, str) and _PRINTABLE.fullmatch(known_as) else ""
        return Officer(principal, roles, known)

    # -- HTTP --------------------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False, verify=self._verify)

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            async with self._client() as client:
                reply = await client.get(url, headers={"accept": "application/json"})
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"unavailable: the provider's {what} cannot be read ({type(exc).__name__})"
            ) from None
        body = _json_or_empty(reply)
        if reply.status_code != 200 or not body:
            raise ProviderUnavailable(
                f"unavailable: the provider's {what} answered HTTP {reply.status_code}"
            )
        return body


_PRINTABLE = re.compile(r"[^\x00-\x20\x7f]{1,200}")  # no space, no control character


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _s256(verifier: str) -> str:
    """RFC 7636's S256 challenge of `verifier`.

    >>> _s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")  # RFC 7636, appendix B
    'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'
    """
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _basic(client_id: str, secret: str) -> str:
    """HTTP Basic credentials as RFC 6749 (2.3.1) has them: each part form-encoded."""
    pair = f"{urllib.parse.quote_plus(client_id)}:{urllib.parse.quote_plus(secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


def _secure(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname or ""))


def _code(value: str) -> str:
    """An error code or claim name from outside, safe to record: at most 40 of
    [A-Za-z0-9_.-], the rest dropped."""
    return re.sub(r"[^A-Za-z0-9_.-]", "", value)[:40] or "an error"


def _header(token: str) -> dict[str, Any]:
    """The unverified JOSE header of a compact JWS (to pick the key), {} if none."""
    try:
        encoded = token.split(".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except ValueError:
        return {}
    return header if isinstance(header, dict) else {}


def _kids(keys: KeySet) -> set[str]:
    return {k.kid for k in keys if k.kid}


def _seconds(value: Any) -> float | None:
    """A NumericDate claim's seconds, None if it is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _json_or_empty(reply: httpx.Response) -> dict[str, Any]:
    try:
        body = reply.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_name(exc: Exception) -> str:
    """joserfc's error code (e.g. bad_signature), or the exception's class name."""
    error = getattr(exc, "error", "")
    return _code(error) if isinstance(error, str) and error else type(exc).__name__
