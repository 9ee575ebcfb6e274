"""Issued bearer tokens, kept only as SHA-256 hashes in a file (mode 0600).

`tactful tokens issue PRINCIPAL` prints a token once and stores its hash;
`tactful tokens revoke ID` marks it revoked. The running server notices the
file changing and applies issues and revocations on the next call.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from server.auth import hash_token, new_token

FORMAT = "tactful-tokens/1"


class TokenError(Exception):
    """The token file cannot be used, or the request names no token."""


@dataclass(frozen=True)
class IssuedToken:
    id: str
    principal: str
    sha256: str
    issued_at: str
    revoked_at: str | None = None


class TokenStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def issue(self, principal: str, *, now: datetime) -> tuple[IssuedToken, str]:
        """A new token for `principal`: the record kept, and the token (shown once)."""
        token = new_token()
        issued = IssuedToken(
            f"tok_{secrets.token_hex(4)}", principal, hash_token(token), now.isoformat()
        )
        self._write([*self.all(), issued])
        return issued, token

    def revoke(
        self, *, token_id: str | None = None, principal: str | None = None, now: datetime
    ) -> list[IssuedToken]:
        """Revoke one token by id, or every active token of a principal."""
        if not token_id and not principal:
            raise TokenError("name a token id or --principal")
        tokens = self.all()
        hit = [
            t
            for t in tokens
            if t.revoked_at is None and (t.id == token_id or t.principal == principal)
        ]
        if not hit:
            raise TokenError(f"no active token matches {token_id or principal!r}")
        revoked = {t.id for t in hit}
        self._write(
            [
                IssuedToken(**{**asdict(t), "revoked_at": now.isoformat()})
                if t.id in revoked
                else t
                for t in tokens
            ]
        )
        return hit

    def all(self) -> list[IssuedToken]:
        try:
            document = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise TokenError(f"{self.path}: cannot read: {exc}") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise TokenError(f"{self.path}: not a {FORMAT} file")
        try:
            return [IssuedToken(**entry) for entry in document.get("tokens", [])]
        except TypeError:
            raise TokenError(f"{self.path}: malformed token entry") from None

    def active_hashes(self) -> dict[str, str]:
        """SHA-256 of every active token -> principal name."""
        return {t.sha256: t.principal for t in self.all() if t.revoked_at is None}

    def version(self) -> tuple[int, ...]:
        """Inode, size and mtime: a rewrite (always a new inode) changes it."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return (0,)
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _write(self, tokens: list[IssuedToken]) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"format": FORMAT, "tokens": [asdict(t) for t in tokens]}, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
