"""Bearer-token authentication. Only SHA-256 hashes of tokens are ever kept.

A token is either configured (`token_sha256` of a principal in the config) or
issued by `tactful tokens issue` (into the token file, or on PostgreSQL into the
database). The authenticator reads the issued tokens again whenever their version
has changed (one `stat` per call; on PostgreSQL, what a thread of the store keeps
in memory, so a call never waits for the database), so a revocation takes effect
on the next call, without a restart. Issued tokens that cannot be read because
their store is away keep their last state. An issued token
may carry an expiry; from then on it is refused like a revoked one. A token file
that cannot be used (others may write it) stops the server at start; while
serving, it makes every issued token refused until it is fixed.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Protocol

from tactful.app.settings import PrincipalConfig
from tactful.privacy.decisions import Actor
from tactful.privacy.errors import StoreUnavailable

TOKEN_PREFIX = "tf_"
log = logging.getLogger("tactful.auth")


class Unauthenticated(Exception):
    """No credential, or one that matches no principal."""


class IssuedTokens(Protocol):
    def active_hashes(self) -> Mapping[str, tuple[str, datetime | None]]:
        """SHA-256 of each token not revoked -> its principal and expiry (None: none);
        raises if the tokens cannot be trusted (a file others may write)."""
        ...

    def version(self) -> tuple[int, ...]:
        """Changes whenever the stored tokens change. Both are asked on the event loop:
        they must be cheap and never wait for a database."""
        ...


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random bearer token (256 bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Authenticator:
    def __init__(
        self,
        principals: Iterable[PrincipalConfig],
        issued: IssuedTokens | None = None,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        principals = tuple(principals)
        self._actors = {p.name: Actor(p.name, p.roles, p.purposes) for p in principals}
        self._configured = {
            p.token_sha256: self._actors[p.name] for p in principals if p.token_sha256
        }
        self._issued = issued
        self._clock = clock
        self._issued_actors: Mapping[str, tuple[Actor, datetime | None]] = {}
        self._seen_version: tuple[int, ...] = (-1,)
        self._away = False  # the issued tokens' store could not be read last time
        if issued is not None:  # at start, an unusable token file stops the server
            self._seen_version = issued.version()
            self._issued_actors = self._load(issued)

    def authenticate(
        self, metadata: Iterable[tuple[str, str | bytes]] | None, *, now: datetime | None = None
    ) -> Actor:
        """The principal whose token is in the `authorization` metadata, at `now`
        (default: the authenticator's clock)."""
        for key, value in metadata or ():
            if key == "authorization":
                return self.authenticate_header(value, now=now)
        raise Unauthenticated("missing `authorization: Bearer <token>` metadata")

    def authenticate_header(self, value: str | bytes, *, now: datetime | None = None) -> Actor:
        """The principal whose token an `authorization` value carries, at `now`."""
        scheme, _, token = str(value).partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("authorization must be `Bearer <token>`")
        digest = hash_token(token.strip())
        actor = self._configured.get(digest)
        if actor is not None:
            return actor
        issued = self._issued_tokens().get(digest)
        if issued is None:
            raise Unauthenticated("unknown or revoked token")
        actor, expiry = issued
        if expiry is not None and (now or self._clock()) >= expiry:
            raise Unauthenticated("expired token")
        return actor

    def _issued_tokens(self) -> Mapping[str, tuple[Actor, datetime | None]]:
        if self._issued is None:
            return {}
        version = self._issued.version()
        if version != self._seen_version:
            self._seen_version = version
            try:
                self._issued_actors = self._load(self._issued)
                self._away = False
            except StoreUnavailable as exc:  # away for now: try again on the next call
                if not self._away:  # once, not on every call while away
                    log.warning("issued tokens not reloaded (kept as they were): %s", exc)
                self._away = True
                self._seen_version = (-1,)
                return self._issued_actors
            except Exception as exc:  # a file others may write: trust none of it
                log.error("issued tokens refused until the token file is fixed: %s", exc)
                self._issued_actors = {}
        return self._issued_actors

    def _load(self, issued: IssuedTokens) -> dict[str, tuple[Actor, datetime | None]]:
        return {
            digest: (self._actors[name], expiry)
            for digest, (name, expiry) in issued.active_hashes().items()
            if name in self._actors
        }
