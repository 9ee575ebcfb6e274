"""Signing in to the console with an OpenID Connect provider, end to end: a provider of
the test's own on 127.0.0.1 (tests/console/oidc_provider.py), a real HTTP client that
follows every redirect, and the access log read back through the gRPC API.

A member of the compliance group gets a session like a token's; every spoiled answer
(an unmapped group, a bad signature, another audience, an expired token, a replayed or
foreign state, a wrong nonce, an algorithm that is not an asymmetric one) is refused
and recorded, and counts toward the sign-in lockout."""

from __future__ import annotations

import doctest
import hashlib
import hmac
import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import httpx
import pytest

import tactful.console.oidc
from tactful.app.lockout import LockoutPolicy
from tactful.app.settings import OidcSettings
from tactful.cli.console import RunningConsole, start_in_thread, with_listen
from tactful.v1 import access_log_pb2
from tests.conftest import Tactful
from tests.console.conftest import Filled, csrf_of, signed_in
from tests.console.oidc_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    SUBJECT,
    USERNAME,
    OidcProvider,
    b64url,
    new_key,
)

SIGN_IN = "tactful.console/sign-in"


@dataclass
class OidcConsole(Filled):
    provider: OidcProvider

    @property
    def principal(self) -> str:
        return f"oidc:{self.provider.issuer.removeprefix('http://')}:{SUBJECT}"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, follow_redirects=True)

    def sign_ins(self) -> list[access_log_pb2.AccessRecord]:
        return [r for r in self.query() if r.method == SIGN_IN]


@pytest.fixture
def start_oidc(start_tactful: Callable[..., Tactful]) -> Iterator[Callable[..., OidcConsole]]:
    running: list[tuple[RunningConsole, OidcProvider]] = []

    def start(key_type: str = "RSA", host: str = "127.0.0.1", **overrides: Any) -> OidcConsole:
        tactful = start_tactful(**overrides)
        provider = OidcProvider(tactful.clock, key_type=key_type, host=host).start()
        port = free_port()
        oidc = OidcSettings(
            issuer=provider.issuer,
            client_id=CLIENT_ID,
            redirect_url=f"http://127.0.0.1:{port}/sign-in/oidc/callback",
            client_secret=CLIENT_SECRET,
            provider_name="Example SSO",
            compliance_groups=frozenset({"tactful-compliance"}),
            privacy_ops_groups=frozenset({"tactful-privacy-ops"}),
        )
        settings = replace(tactful.settings, console=replace(tactful.settings.console, oidc=oidc))
        console = start_in_thread(with_listen(settings, f"127.0.0.1:{port}"), clock=tactful.clock)
        running.append((console, provider))
        return OidcConsole(tactful, console, provider)

    yield start
    for console, provider in running:
        console.stop()
        provider.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_a_compliance_officer_signs_in_with_the_provider_and_out_again(
    start_oidc: Callable[..., OidcConsole],
) -> None:
    console = start_oidc()
    with console.client() as client:
        form = client.get("/sign-in")
        assert '<a href="/sign-in/oidc">Sign in with Example SSO</a>' in form.text
        arrived = client.get("/sign-in/oidc")
        assert arrived.status_code == 200 and "Continue to the access log" in arrived.text
        hops = [str(r.url).split("?")[0] for r in arrived.history]
        assert hops == [f"{console.url}/sign-in/oidc", f"{console.provider.issuer}/authorize"]
        page = client.get("/access-log")
        assert page.status_code == 200 and console.principal in page.text
        (call,) = console.provider.token_calls  # the PKCE verifier went with the code
        assert call["code_verifier"] and call["grant_type"] == "authorization_code"
        out = client.post("/sign-out", data={"csrf": csrf_of(page.text)})
        assert out.url.path == "/sign-in"
        assert client.get("/access-log").url.path == "/sign-in"  # the session is over
    (record,) = console.sign_ins()
    assert (record.principal, record.role, record.decision) == (
        console.principal,
        "compliance",
        "allowed",
    )
    assert record.authenticated_by == "oidc"
    assert "signed in with OpenID Connect (127.0.0.1:" in record.reason
    assert f"as {USERNAME} until" in record.reason
    views = [r for r in console.query() if r.principal == console.principal]
    assert [r.method for r in views] == [
        SIGN_IN,
        "tactful.console/access-log",
        "tactful.console/sign-out",
    ]
    assert {r.authenticated_by for r in views} == {"oidc"}
    assert "olivia@example.com" not in json.dumps([r.reason for r in console.query()])


def test_an_es256_provider_signs_in_too_and_tokens_still_work_beside_it(
    start_oidc: Callable[..., OidcConsole],
) -> None:
    console = start_oidc("EC")
    with console.client() as client:
        assert "Continue" in client.get("/sign-in/oidc").text
        assert client.get("/access-log").status_code == 200
    with signed_in(console.url) as client:
        assert client.get("/access-log").status_code == 200
    assert [(r.principal, r.decision) for r in console.sign_ins()] == [
        (console.principal, "allowed"),
        ("compliance_officer", "allowed"),
    ]


def test_a_privacy_ops_officer_signs_in_to_the_request_workflow_only(
    start_oidc: Callable[..., OidcConsole],
) -> None:
    console = start_oidc("RSA")
    console.provider.groups = ["tactful-privacy-ops"]
    with console.client() as client:
        arrived = client.get("/sign-in/oidc")
        assert "Continue to the request workflow" in arrived.text
        assert client.get("/subject-requests").status_code == 200
        assert client.get("/access-log").url.path == "/subject-requests"
    (record,) = console.sign_ins()
    assert (record.role, record.decision) == ("privacy_ops", "allowed")


def hs256_with_the_public_key(provider: OidcProvider) -> Callable[[dict[str, Any]], str]:
    """An ID token "signed" with HMAC, the provider's public key as the secret: the old
    algorithm-confusion attack."""

    def make(claims: dict[str, Any]) -> str:
        header = b64url(json.dumps({"alg": "HS256", "kid": "k1"}).encode())
        body = b64url(json.dumps(claims).encode())
        secret = provider.key.as_pem(private=False)
        mac = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
        return f"{header}.{body}.{b64url(mac)}"

    return make


def unsigned(claims: dict[str, Any]) -> str:
    header = b64url(json.dumps({"alg": "none"}).encode())
    return f"{header}.{b64url(json.dumps(claims).encode())}."


# (how the provider's answer is spoiled, the record's principal, what its reason says)
SPOILED: list[tuple[str, Callable[[OidcProvider], None], bool, str]] = [
    (
        "an unmapped group",
        lambda p: setattr(p, "groups", ["staff", "sales"]),
        True,
        "refused: no group of the officer maps to a console role",
    ),
    (
        "a key the JWKS does not hold",
        lambda p: setattr(p, "signing_key", new_key(p.key_type, "k1")),
        False,
        "refused: the ID token's signature does not verify (bad_signature)",
    ),
    (
        "another audience",
        lambda p: p.claims.update(aud="another-client"),
        False,
        "refused: the ID token is for another audience",
    ),
    (
        "another issuer",
        lambda p: p.claims.update(iss="https://evil.example.com"),
        False,
        "refused: the ID token is from another issuer",
    ),
    (
        "an expired token",
        lambda p: p.claims.update(
            iat=int(p.clock().timestamp()) - 3600, exp=int(p.clock().timestamp()) - 120
        ),
        False,
        "refused: the ID token has expired",
    ),
    (
        "a wrong nonce",
        lambda p: p.claims.update(nonce="not-the-one-we-sent"),
        False,
        "refused: the ID token has the wrong nonce",
    ),
    (
        "the officer declining at the provider",
        lambda p: setattr(p, "denies", True),
        False,
        "refused: the provider answered access_denied",
    ),
    (
        "the token endpoint refusing the client",
        lambda p: setattr(p, "client_secret", "rotated-at-the-provider"),
        False,
        "refused: the token endpoint refused the code (invalid_client)",
    ),
    (
        "HS256 with the public key as secret",
        lambda p: setattr(p, "raw_id_token", hs256_with_the_public_key(p)),
        False,
        "refused: the ID token's signature does not verify",
    ),
    (
        "alg none",
        lambda p: setattr(p, "raw_id_token", unsigned),
        False,
        "refused: the ID token's signature does not verify",
    ),
]


@pytest.mark.parametrize(
    ("spoil", "known", "reason"), [s[1:] for s in SPOILED], ids=[s[0] for s in SPOILED]
)
def test_a_spoiled_answer_is_refused_and_recorded(
    start_oidc: Callable[..., OidcConsole],
    spoil: Callable[[OidcProvider], None],
    known: bool,
    reason: str,
) -> None:
    console = start_oidc()
    spoil(console.provider)
    with console.client() as client:
        refused = client.get("/sign-in/oidc")
        assert refused.status_code == 403 and refused.url.path == "/sign-in/oidc/callback"
        assert 'role="alert"' in refused.text
        assert client.get("/access-log").url.path == "/sign-in"  # no session
    (record,) = console.sign_ins()
    assert record.decision == "denied" and record.reason.startswith(reason)
    assert record.reason.endswith(f"(OpenID Connect, {console.provider.issuer[7:]})")
    if known:
        assert (record.principal, record.status) == (console.principal, "PERMISSION_DENIED")
        assert record.authenticated_by == "oidc"
    else:
        assert (record.principal, record.status) == ("anonymous", "UNAUTHENTICATED")


def test_a_replayed_state_or_another_browsers_is_refused_and_recorded(
    start_oidc: Callable[..., OidcConsole],
) -> None:
    console = start_oidc()
    with console.client() as client:
        arrived = client.get("/sign-in/oidc")
        callback = str(arrived.history[-1].headers["location"])
        assert callback.startswith(f"{console.url}/sign-in/oidc/callback?code=")
        client.cookies.delete("tactful_console")  # signed out, the answer replayed
        assert client.get(callback).status_code == 403
    with console.client() as client, httpx.Client(follow_redirects=False) as other:
        started = client.get("/sign-in/oidc", follow_redirects=False)
        at_provider = other.get(started.headers["location"])  # the login is someone else's
        assert other.get(at_provider.headers["location"]).status_code == 403
    expected = [
        ("allowed", "signed in with OpenID Connect (127.0.0.1:"),
        ("denied", "refused: OIDC state unknown, expired or already used"),
        ("denied", "refused: OIDC state was started by another browser"),
    ]
    records = console.sign_ins()
    assert [r.decision for r in records] == [decision for decision, _ in expected]
    for record, (_, reason) in zip(records, expected, strict=True):
        assert record.reason.startswith(reason), record.reason


def test_a_state_older_than_ten_minutes_is_refused(
    start_oidc: Callable[..., OidcConsole],
) -> None:
    console = start_oidc()
    with console.client() as client:
        started = client.get("/sign-in/oidc", follow_redirects=False)
        at_provider = client.get(started.headers["location"], follow_redirects=False)
        console.tactful.clock.advance(timedelta(minutes=11))
        assert client.get(at_provider.headers["location"]).status_code == 403
    (record,) = console.sign_ins()
    assert record.reason.startswith("refused: OIDC state unknown, expired or already used")


def test_refused_provider_sign_ins_lock_the_address_out_like_wrong_tokens(
    start_oidc: Callable[..., OidcConsole],
) -> None:
    console = start_oidc(signin_lockout=LockoutPolicy(after=3))
    console.provider.claims["nonce"] = "wrong"
    with console.client() as client:
        assert [client.get("/sign-in/oidc").status_code for _ in range(3)] == [403] * 3
        console.provider.claims.clear()  # a right answer, during the lockout
        locked = client.get("/sign-in/oidc")
        assert locked.status_code == 429 and "locked until" in locked.text
        assert locked.url.path == "/sign-in/oidc"  # not even sent to the provider
        console.tactful.clock.advance(timedelta(seconds=61))
        assert client.get("/sign-in/oidc").status_code == 200
    records = console.query()
    assert [r.decision for r in records if r.method == SIGN_IN] == ["denied"] * 3 + ["allowed"]
    (lockout,) = [r for r in records if r.method == "tactful.console/sign-in.lockout"]
    assert lockout.reason.startswith("locked out: this address (127.0.0.1)")


def test_an_unreachable_provider_is_said_and_recorded_on_return(
    start_oidc: Callable[..., OidcConsole],
) -> None:
    console = start_oidc()
    with console.client() as client:
        started = client.get("/sign-in/oidc", follow_redirects=False)
        at_provider = client.get(started.headers["location"], follow_redirects=False)
        console.provider.stop()
        answer = client.get(at_provider.headers["location"])
        assert answer.status_code == 503 and "cannot be reached" in answer.text
    (record,) = console.sign_ins()
    assert (record.status, record.decision) == ("UNAVAILABLE", "denied")
    assert record.reason.startswith("unavailable: the token endpoint cannot be reached")


def test_a_key_the_provider_rotated_in_is_fetched(
    start_oidc: Callable[..., OidcConsole], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tactful.console.oidc, "JWKS_RETRY_S", 0)  # no 30 s wait
    console = start_oidc()
    for _ in range(2):  # the second ID token is signed by a key id the console never saw
        with console.client() as client:
            assert client.get("/sign-in/oidc").status_code == 200
        console.provider.rotate()
    assert [r.decision for r in console.sign_ins()] == ["allowed", "allowed"]


def test_the_pkce_challenge_is_rfc_7636s() -> None:
    result = doctest.testmod(tactful.console.oidc)
    assert result.attempted > 0 and result.failed == 0
