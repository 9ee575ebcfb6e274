"""Who is calling: a bearer token, a mutual-TLS client certificate, or both.

A principal is bound to a certificate by `tls_subject`, matched exactly against
the certificate's URI and DNS subject alternative names (the development
certificates carry `spiffe://tactful.local/<principal>`). What a principal must
present is its `require`: `["token"]` (the default without `tls_subject`),
`["tls"]` (its certificate alone), or `["tls", "token"]` (both; the default with
`tls_subject`). A token from a connection whose certificate belongs to another
principal is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from tactful.app._x509 import certificate_identity
from tactful.app.auth import Authenticator, Unauthenticated
from tactful.app.settings import PrincipalConfig
from tactful.privacy.decisions import Actor


@dataclass(frozen=True)
class Certificate:
    """A client certificate the TLS handshake verified against `client_ca`."""

    sha256: str
    names: frozenset[str]


@dataclass(frozen=True)
class Caller:
    actor: Actor
    authenticated_by: str  # "token", "certificate" or "certificate+token"


class CallerAuthenticator:
    def __init__(self, tokens: Authenticator, principals: Iterable[PrincipalConfig]) -> None:
        self._tokens = tokens
        principals = tuple(principals)
        self._actors = {p.name: Actor(p.name, p.roles, p.purposes) for p in principals}
        self._by_subject = {p.tls_subject: p.name for p in principals if p.tls_subject}
        self._require = {p.name: p.require for p in principals}
        # What a principal that presented a certificate, a token or both is, each found
        # once: the principals and what they must present are fixed for the process.
        self._callers: dict[tuple[Actor, bool, bool], Caller] = {}

    def certificate_of(self, auth_context: Mapping[str, Any]) -> Certificate | None:
        pems = auth_context.get("x509_pem_cert") or ()
        return _certificate(bytes(pems[0])) if pems else None

    def authenticate(
        self,
        metadata: Iterable[tuple[str, str | bytes]] | None,
        certificate: Certificate | None,
    ) -> Caller:
        authorization = next((v for k, v in metadata or () if k == "authorization"), None)
        by_token = (
            None if authorization is None else self._tokens.authenticate_header(authorization)
        )
        by_certificate = self._principal_of(certificate)
        if by_token and by_certificate and by_token.name != by_certificate.name:
            raise Unauthenticated("the token and the client certificate name different principals")
        actor = by_token or by_certificate
        if actor is None:
            raise Unauthenticated(
                "missing `authorization: Bearer <token>` metadata"
                if certificate is None
                else "the client certificate is bound to no principal, and no token was sent"
            )
        key = (actor, by_certificate is not None, by_token is not None)
        caller = self._callers.get(key)
        if caller is None:  # once per principal and way of presenting itself
            caller = self._callers[key] = self._caller(*key)
        return caller

    def _caller(self, actor: Actor, by_certificate: bool, by_token: bool) -> Caller:
        require = self._require.get(actor.name, frozenset({"token"}))
        if "tls" in require and not by_certificate:
            raise Unauthenticated(f"principal {actor.name} must present its client certificate")
        if "token" in require and not by_token:
            raise Unauthenticated(f"principal {actor.name} must present its bearer token")
        how = "+".join(
            part for part, used in (("certificate", by_certificate), ("token", by_token)) if used
        )
        return Caller(actor, how)

    def _principal_of(self, certificate: Certificate | None) -> Actor | None:
        if certificate is None:
            return None
        bound = [self._by_subject[n] for n in certificate.names if n in self._by_subject]
        return self._actors[bound[0]] if len(set(bound)) == 1 else None


@lru_cache(maxsize=1024)
def _certificate(pem: bytes) -> Certificate:
    sha256, names = certificate_identity(pem)
    return Certificate(sha256, names)
