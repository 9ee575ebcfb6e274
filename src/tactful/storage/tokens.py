"""Issued bearer tokens as every engine keeps them: the record of one token (only its
SHA-256 is ever stored) and the rows Protocol a token store is kept over.

The rules (how a token is made, which tokens a revocation names, what the server
trusts) are the server's (app/tokens.py, app/auth.py); a rows backend only
keeps records: the token file of a data folder (app/tokens.py's TokenFile), or a
PostgreSQL table shared by every server (storage/postgres/tokens.py). Nothing here
authenticates a call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class IssuedToken:
    id: str
    principal: str
    sha256: str
    issued_at: str
    revoked_at: str | None = None
    expires_at: str | None = None  # ISO 8601; None: until revoked
    development: bool = False  # issued by a development server for its own run

    def expiry(self) -> datetime | None:
        return datetime.fromisoformat(self.expires_at) if self.expires_at else None

    def state(self, now: datetime) -> str:
        """In words: active, active until …, expired …, revoked …."""
        expiry = self.expiry()
        if self.revoked_at:
            return f"revoked {self.revoked_at}"
        if expiry is not None and now >= expiry:
            return f"expired {self.expires_at}"
        return f"active until {self.expires_at}" if expiry else "active"


class TokenRows(Protocol):
    """Where issued tokens are kept."""

    def all(self) -> list[IssuedToken]:
        """Every token record, in the order issued."""
        ...

    def add(self, token: IssuedToken) -> None: ...

    def revoke(self, ids: Sequence[str], *, revoked_at: str) -> None:
        """Mark the tokens revoked (those already revoked keep their time)."""
        ...

    def remove_development(self) -> None:
        """Forget every development token."""
        ...

    def version(self) -> tuple[int, ...]:
        """Changes whenever the tokens change, from any process; cheap (asked per call)."""
        ...

    def current(self) -> list[IssuedToken]:
        """The tokens as `version()` last described them; cheap (asked on the serving
        thread when the version changes): a server's never waits for a database."""
        ...

    def close(self) -> None: ...
