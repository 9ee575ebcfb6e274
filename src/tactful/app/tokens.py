"""Issued bearer tokens, kept only as SHA-256 hashes: in a file of the data folder
(mode 0600) on SQLite, in the database every server shares on PostgreSQL
(storage/postgres/tokens.py; tactful.app.stores.open_tokens chooses).

`tactful tokens issue PRINCIPAL [--expires-in 90d]` prints a token once and stores
its hash; `tactful tokens revoke ID` marks it revoked. The running server notices
the tokens changing and applies issues and revocations on the next call. The file
grants access, so one that group or others may read or write is refused, as the
keyring is.

The development server (`tactful serve` with no --config) keeps its tokens here
too, marked `development`, so that a revocation reaches them; they are dropped
when it stops, and at its next start if it did not stop cleanly.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from pathlib import Path

from tactful.app.auth import hash_token, new_token
from tactful.storage.tokens import IssuedToken, TokenRows

__all__ = ["IssuedToken", "TokenError", "TokenFile", "TokenStore"]

FORMAT = "tactful-tokens/1"


class TokenError(Exception):
    """The token file cannot be used, or the request names no token."""


class TokenStore:
    """The rules of issued tokens over where they are kept (a file's path, or rows)."""

    def __init__(self, rows: Path | TokenRows) -> None:
        self._rows: TokenRows = TokenFile(rows) if isinstance(rows, Path) else rows

    @property
    def path(self) -> Path | None:
        """The token file, when the tokens are kept in one."""
        return self._rows.path if isinstance(self._rows, TokenFile) else None

    def issue(
        self,
        principal: str,
        *,
        now: datetime,
        expires_in: timedelta | None = None,
        development: bool = False,
    ) -> tuple[IssuedToken, str]:
        """A new token for `principal`: the record kept, and the token (shown once)."""
        token = new_token()
        issued = IssuedToken(
            f"tok_{secrets.token_hex(4)}",
            principal,
            hash_token(token),
            now.isoformat(),
            expires_at=(now + expires_in).isoformat() if expires_in else None,
            development=development,
        )
        self._rows.add(issued)
        return issued, token

    def revoke(
        self, *, token_id: str | None = None, principal: str | None = None, now: datetime
    ) -> list[IssuedToken]:
        """Revoke one token by id, or every active token of a principal (a development
        server's included)."""
        if not token_id and not principal:
            raise TokenError("name a token id or --principal")
        hit = [
            t
            for t in self._rows.all()
            if t.revoked_at is None and (t.id == token_id or t.principal == principal)
        ]
        if not hit:
            raise TokenError(f"no active token matches {token_id or principal!r}")
        self._rows.revoke([t.id for t in hit], revoked_at=now.isoformat())
        return hit

    def drop_development(self) -> None:
        """Forget every development token (their server has stopped)."""
        self._rows.remove_development()

    def all(self) -> list[IssuedToken]:
        return self._rows.all()

    def active_hashes(self) -> dict[str, tuple[str, datetime | None]]:
        """SHA-256 of every token not revoked -> its principal and expiry (if any)."""
        tokens = self._rows.current()
        return {t.sha256: (t.principal, t.expiry()) for t in tokens if t.revoked_at is None}

    def version(self) -> tuple[int, ...]:
        return self._rows.version()

    def close(self) -> None:
        self._rows.close()


class TokenFile:
    """The tokens of one data folder, in a JSON file only its owner may read."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, token: IssuedToken) -> None:
        self._write([*self.all(), token])

    def revoke(self, ids: Sequence[str], *, revoked_at: str) -> None:
        self._write(
            [
                replace(t, revoked_at=revoked_at) if t.id in ids and not t.revoked_at else t
                for t in self.all()
            ]
        )

    def remove_development(self) -> None:
        tokens = self.all()
        if any(t.development for t in tokens):
            self._write([t for t in tokens if not t.development])

    def close(self) -> None:
        pass  # nothing held open

    def current(self) -> list[IssuedToken]:
        return self.all()  # read when its version (a `stat`) changed

    def all(self) -> list[IssuedToken]:
        try:
            text = self._read()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise TokenError(f"{self.path}: cannot read: {exc.strerror or exc}") from None
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise TokenError(f"{self.path}: cannot read: {exc}") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise TokenError(f"{self.path}: not a {FORMAT} file")
        try:
            tokens = [IssuedToken(**entry) for entry in document.get("tokens", [])]
            for token in tokens:
                token.expiry()
        except (TypeError, ValueError):
            raise TokenError(f"{self.path}: malformed token entry") from None
        return tokens

    def version(self) -> tuple[int, ...]:
        """Inode, size, mtime and mode: a rewrite (always a new inode) or a chmod
        changes it."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return (0,)
        return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_mode)

    def _read(self) -> str:
        """The file's text, if only its owner may read and write it."""
        with self.path.open(encoding="utf-8") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise TokenError(
                    f"{self.path}: readable or writable by group or others (mode "
                    f"{stat.S_IMODE(mode):04o}); anyone who can write it can grant "
                    f"themselves access: run `chmod 600 {self.path}`"
                )
            return handle.read()

    def _write(self, tokens: list[IssuedToken]) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        os.fchmod(fd, 0o600)  # a left-over temporary file keeps its old mode otherwise
        with os.fdopen(fd, "w") as handle:
            json.dump({"format": FORMAT, "tokens": [asdict(t) for t in tokens]}, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
