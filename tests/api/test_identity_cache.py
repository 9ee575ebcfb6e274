"""What a caller is, found once per principal and way of presenting itself, never
stands in for checking the token or the certificate of the call at hand."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import pytest

from tactful.api.identity import CallerAuthenticator, Certificate
from tactful.app.auth import Authenticator, Unauthenticated, hash_token
from tactful.app.settings import PrincipalConfig

BOTH = PrincipalConfig("agent_desk", hash_token("desk-token"), frozenset({"support"}),
                       frozenset({"support_triage"}), tls_subject="spiffe://t/agent_desk",
                       require=frozenset({"tls", "token"}))  # fmt: skip
EITHER = PrincipalConfig("web", "", frozenset({"personalization"}), frozenset({"onboarding"}),
                         tls_subject="spiffe://t/web",
                         require=frozenset())  # fmt: skip
DESK = Certificate("d" * 64, frozenset({"spiffe://t/agent_desk"}))
WEB = Certificate("w" * 64, frozenset({"spiffe://t/web"}))


class Issued:
    """Tokens issued to `web`, revoked by taking them out."""

    def __init__(self) -> None:
        self.active: dict[str, tuple[str, datetime | None]] = {}
        self.changes = 0

    def issue(self, token: str) -> None:
        self.active[hash_token(token)] = ("web", None)
        self.changes += 1

    def revoke(self, token: str) -> None:
        del self.active[hash_token(token)]
        self.changes += 1

    def active_hashes(self) -> Mapping[str, tuple[str, datetime | None]]:
        return dict(self.active)

    def version(self) -> tuple[int, ...]:
        return (self.changes,)


def bearer(token: str) -> list[tuple[str, str]]:
    return [("user-agent", "test"), ("authorization", f"Bearer {token}")]


def test_a_principal_that_must_present_both_is_refused_with_one_after_both() -> None:
    callers = CallerAuthenticator(Authenticator([BOTH, EITHER]), [BOTH, EITHER])
    for _ in range(2):
        caller = callers.authenticate(bearer("desk-token"), DESK)
        assert (caller.actor.name, caller.authenticated_by) == ("agent_desk", "certificate+token")
    with pytest.raises(Unauthenticated, match="must present its client certificate"):
        callers.authenticate(bearer("desk-token"), None)
    with pytest.raises(Unauthenticated, match="must present its bearer token"):
        callers.authenticate([], DESK)
    with pytest.raises(Unauthenticated, match="different principals"):
        callers.authenticate(bearer("desk-token"), WEB)
    assert callers.authenticate([], WEB).authenticated_by == "certificate"


def test_a_revoked_token_is_refused_on_the_next_call() -> None:
    issued = Issued()
    callers = CallerAuthenticator(Authenticator([BOTH, EITHER], issued), [BOTH, EITHER])
    issued.issue("web-1")
    issued.issue("web-2")
    for token in ("web-1", "web-2", "web-1"):
        assert callers.authenticate(bearer(token), None).authenticated_by == "token"
    assert callers.authenticate(bearer("web-1"), WEB).authenticated_by == "certificate+token"
    issued.revoke("web-1")
    for certificate in (None, WEB):
        with pytest.raises(Unauthenticated, match="unknown or revoked token"):
            callers.authenticate(bearer("web-1"), certificate)
    assert callers.authenticate(bearer("web-2"), None).actor.name == "web"
    with pytest.raises(Unauthenticated, match="unknown or revoked token"):
        callers.authenticate(bearer("never-issued"), None)
