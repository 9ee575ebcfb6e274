"""Bearer-token authentication. Only SHA-256 hashes of tokens are ever kept.

A token is either configured (`token_sha256` of a principal in the config) or
issued into the token file by `tactful tokens issue`. The authenticator reads
the token file again whenever it has changed (one `stat` per call), so a
revocation takes effect on the next call, without a restart.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from typing import Protocol

from privacy.decisions import Actor
from server.config import PrincipalConfig

TOKEN_PREFIX = "tf_"


class Unauthenticated(Exception):
    """No credential, or one that matches no principal."""


class IssuedTokens(Protocol):
    def active_hashes(self) -> dict[str, str]: ...

    def version(self) -> tuple[int, ...]:
        """Changes whenever the stored tokens change."""
        ...


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random bearer token (256 bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class Authenticator:
    def __init__(
        self, principals: Iterable[PrincipalConfig], issued: IssuedTokens | None = None
    ) -> None:
        self._actors = {p.name: Actor(p.name, p.roles, p.purposes) for p in principals}
        self._configured = {
            p.token_sha256: self._actors[p.name] for p in principals if p.token_sha256
        }
        self._issued = issued
        self._issued_actors: Mapping[str, Actor] = {}
        self._seen_version: tuple[int, ...] = (-1,)

    def authenticate(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> Actor:
        """The principal whose token is in the `authorization` metadata."""
        for key, value in metadata or ():
            if key == "authorization":
                scheme, _, token = str(value).partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    raise Unauthenticated("authorization must be `Bearer <token>`")
                digest = hash_token(token.strip())
                actor = self._configured.get(digest) or self._issued_tokens().get(digest)
                if actor is None:
                    raise Unauthenticated("unknown or revoked token")
                return actor
        raise Unauthenticated("missing `authorization: Bearer <token>` metadata")

    def _issued_tokens(self) -> Mapping[str, Actor]:
        if self._issued is None:
            return {}
        version = self._issued.version()
        if version != self._seen_version:
            self._seen_version = version
            self._issued_actors = {
                digest: self._actors[name]
                for digest, name in self._issued.active_hashes().items()
                if name in self._actors
            }
        return self._issued_actors
