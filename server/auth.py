"""Bearer-token authentication. Only SHA-256 hashes of tokens are ever kept."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from server.config import PrincipalConfig

TOKEN_PREFIX = "tf_"


class Unauthenticated(Exception):
    """No credential, or one that matches no principal."""


@dataclass(frozen=True)
class Principal:
    name: str
    roles: frozenset[str]
    purposes: frozenset[str]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random bearer token (256 bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class Authenticator:
    def __init__(self, principals: Iterable[PrincipalConfig]) -> None:
        self._by_hash = {p.token_sha256: Principal(p.name, p.roles, p.purposes) for p in principals}

    def authenticate(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> Principal:
        """The principal whose token is in the `authorization` metadata."""
        for key, value in metadata or ():
            if key == "authorization":
                scheme, _, token = str(value).partition(" ")
                if scheme.lower() != "bearer" or not token:
                    raise Unauthenticated("authorization must be `Bearer <token>`")
                principal = self._by_hash.get(hash_token(token.strip()))
                if principal is None:
                    raise Unauthenticated("unknown or revoked token")
                return principal
        raise Unauthenticated("missing `authorization: Bearer <token>` metadata")
