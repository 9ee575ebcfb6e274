"""Issued tokens on PostgreSQL: one table every server shares, so `tactful tokens
issue/revoke/list` on any host reaches every server.

Every change bumps a version row and sends NOTIFY on `tactful_tokens` in the same
transaction. Each server's `version()`, asked on every call, costs no round trip:
it is what the listener thread (storage/postgres/notify.py) has heard, so a
revocation takes effect on every server as soon as the notice arrives (milliseconds
after the commit). As a fallback, for a notice lost while the listener was away or
stuck, `version()` also reads the version row when it last did more than
`recheck_s` ago (default 1 s): a revocation reaches a server within that bound
whatever happens to its listener, as long as the server reaches the database.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from privacy.errors import StoreUnavailable
from privacy.tokens import IssuedToken
from storage.postgres.connection import Connection, Database
from storage.postgres.errors import translated
from storage.postgres.notify import Listener
from storage.postgres.schema import Schema

TOKENS = "issued_tokens"
VERSION = "issued_tokens_version"
CHANNEL = "tactful_tokens"
_COLUMNS = "id, principal, sha256, issued_at, revoked_at, expires_at, development"

SCHEMA = Schema(
    "tokens",
    [
        f"CREATE TABLE {TOKENS} (seq bigint GENERATED ALWAYS AS IDENTITY, id text PRIMARY KEY,"
        " principal text NOT NULL, sha256 text NOT NULL UNIQUE, issued_at text NOT NULL,"
        " revoked_at text, expires_at text, development boolean NOT NULL DEFAULT false);"
        f" CREATE TABLE {VERSION} (id integer PRIMARY KEY CHECK (id = 1),"
        " counter bigint NOT NULL);"
        f" INSERT INTO {VERSION} VALUES (1, 0)",
    ],
    tables=(TOKENS, VERSION),
)


@translated
class PostgresTokenRows:
    """`listen`: follow changes by LISTEN/NOTIFY (a server); a command that only issues
    or lists tokens opens no listener. `clock`: seconds, for the fallback recheck."""

    def __init__(
        self,
        db: Database,
        *,
        listen: bool = True,
        recheck_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._listen = listen
        self._listener: Listener | None = None
        self._recheck_s = recheck_s
        self._clock = clock
        self._checked_at = float("-inf")
        self._stored = -1

    def all(self) -> list[IssuedToken]:
        with self._db.transaction() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM {TOKENS} ORDER BY seq").fetchall()
        return [IssuedToken(*row) for row in rows]

    def add(self, token: IssuedToken) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                f"INSERT INTO {TOKENS} ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [token.id, token.principal, token.sha256, token.issued_at, token.revoked_at,
                 token.expires_at, token.development],
            )  # fmt: skip
            _changed(conn)

    def revoke(self, ids: Sequence[str], *, revoked_at: str) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                f"UPDATE {TOKENS} SET revoked_at = %s WHERE id = ANY(%s) AND revoked_at IS NULL",
                [revoked_at, list(ids)],
            )
            _changed(conn)

    def remove_development(self) -> None:
        with self._db.transaction() as conn:
            if conn.execute(f"DELETE FROM {TOKENS} WHERE development").rowcount:
                _changed(conn)

    def version(self) -> tuple[int, ...]:
        heard = self._heard()
        now = self._clock()
        if now - self._checked_at >= self._recheck_s:
            try:
                self._stored = self._read_version()
                self._checked_at = now
            except StoreUnavailable:
                pass  # nothing can be revoked while the database is away either
        return (heard, self._stored)

    def wait_changed(self, heard: int, *, timeout: float) -> bool:
        """Block until the listener has heard more than `heard` notices (at most
        `timeout` seconds); False without a listener or when nothing came."""
        if not self._listen:
            return False
        self._heard()
        assert self._listener is not None
        return self._listener.wait_beyond(heard, timeout=timeout)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
        self._db.close()

    def _heard(self) -> int:
        if not self._listen:
            return 0
        if self._listener is None:  # on first use: commands that only write need none
            self._listener = Listener(self._db.url, CHANNEL)
        return self._listener.heard

    def _read_version(self) -> int:
        with self._db.transaction() as conn:
            row = conn.execute(f"SELECT counter FROM {VERSION} WHERE id = 1").fetchone()
        return int(row[0]) if row else 0


def _changed(conn: Connection) -> None:
    conn.execute(f"UPDATE {VERSION} SET counter = counter + 1 WHERE id = 1")
    conn.execute("SELECT pg_notify(%s, '')", [CHANNEL])
