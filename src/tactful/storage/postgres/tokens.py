"""Issued tokens on PostgreSQL: one table every server shares, so `tactful tokens
issue/revoke/list` on any host reaches every server.

Every change bumps a version row and sends NOTIFY on `tactful_tokens` in the same
transaction. A server's store keeps the tokens in memory, and a thread of its own
(storage/postgres/notify.py, Follower) keeps them current: it reads the version row
at once on every notice (milliseconds after the commit) and every `recheck_s`
(default 1 s) in any case, for a notice lost, and reloads the tokens when the row
changed. `version()` and `current()`, asked on the serving thread, read only that
memory: no call ever waits for the database, even while it is away (the tokens
then keep their last state; the thread retries with a backoff and logs once).
A revocation thus reaches every server within 1 s whatever happens to its
listener, as long as the server reaches the database.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from tactful.storage.postgres.connection import Connection, Database
from tactful.storage.postgres.errors import translated
from tactful.storage.postgres.notify import Follower
from tactful.storage.postgres.schema import Schema
from tactful.storage.tokens import IssuedToken

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


@dataclass(frozen=True)
class _Known:
    """The tokens as of one value of the version row."""

    counter: int
    tokens: tuple[IssuedToken, ...]


@translated
class PostgresTokenRows:
    """`listen`: a server's store, whose tokens are read at once, then kept in memory
    and current by a Follower thread (every `recheck_s`, and on every notice);
    `version()` and `current()` then read only memory. Without (a command that issues
    or lists tokens): no thread, and every read is a round trip."""

    def __init__(self, db: Database, *, listen: bool = True, recheck_s: float = 1.0) -> None:
        self._db = db
        self._listen = listen
        self._known = _Known(-1, ())
        self._changed = threading.Condition()
        self._follower: Follower | None = None
        if listen:
            try:
                self.refresh()  # before the first call, which must find them in memory
                self._follower = Follower(
                    db.url, CHANNEL, self.refresh, what="issued tokens", every_s=recheck_s
                )
            except BaseException:
                db.close()
                raise

    def all(self) -> list[IssuedToken]:
        with self._db.transaction() as conn:
            return list(_tokens(conn))

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
        if not self._listen:
            with self._db.read() as conn:
                return (_counter(conn),)
        return (self._known.counter,)

    def current(self) -> list[IssuedToken]:
        return list(self._known.tokens) if self._listen else self.all()

    def refresh(self) -> None:
        """Read the version row, and the tokens when it changed: the Follower's step, a
        round trip or two, never on a serving thread."""
        with self._db.transaction() as conn:
            counter = _counter(conn)
            if counter == self._known.counter:
                return
            # Read after the counter, so never older than it: at worst read again.
            tokens = _tokens(conn)
        with self._changed:
            self._known = _Known(counter, tokens)
            self._changed.notify_all()

    def wait_changed(self, seen: tuple[int, ...], *, timeout: float) -> bool:
        """Block until `version()` differs from `seen`, at most `timeout` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: (self._known.counter,) != seen, timeout)

    def close(self) -> None:
        if self._follower is not None:
            self._follower.close()
        self._db.close()


def _tokens(conn: Connection) -> tuple[IssuedToken, ...]:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM {TOKENS} ORDER BY seq").fetchall()
    return tuple(IssuedToken(*row) for row in rows)


def _counter(conn: Connection) -> int:
    row = conn.execute(f"SELECT counter FROM {VERSION} WHERE id = 1").fetchone()
    return int(row[0]) if row else 0


def _changed(conn: Connection) -> None:
    conn.execute(f"UPDATE {VERSION} SET counter = counter + 1 WHERE id = 1")
    conn.execute("SELECT pg_notify(%s, '')", [CHANNEL])
