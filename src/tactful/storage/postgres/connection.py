"""A pool of connections to one PostgreSQL database, shared by the stores on it.

Each store borrows a connection for one transaction and gives it back: a
connection broken mid-transaction (the server restarted, the network cut) is
thrown away by the pool and replaced in the background, so the service resumes
once PostgreSQL is back, without a restart of Tactful. The statement that was
running fails with StoreUnavailable and is not repeated (storage/postgres/errors.py).

A connection that broke while it sat idle in the pool (PostgreSQL restarted) is
found out before it is lent, so the first call after the restart succeeds: an
idle connection has nothing to read unless the server closed it or is about to,
so a zero-timeout `poll` of its socket (no round trip) is the check, and only a
readable one gets a round trip (`SELECT` of nothing) to tell a pending
notification from a hang-up. A broken one is closed, the pool replaces it, and the
next idle connection is tried, with no pause between.
"""

from __future__ import annotations

import select
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from tactful.storage.postgres.errors import map_postgres_errors

Connection = psycopg.Connection[tuple[Any, ...]]


class Database:
    """The pool of one database URL. `timeout_s`: how long a caller waits for a free
    connection (or for PostgreSQL to come back) before StoreUnavailable."""

    def __init__(
        self, url: str, *, size: int = 8, timeout_s: float = 2.0, name: str = "tactful"
    ) -> None:
        self.url = url
        self._timeout_s = timeout_s
        self._pool: ConnectionPool[Connection] = ConnectionPool(
            url,
            min_size=1,
            max_size=max(1, size),
            timeout=timeout_s,
            name=name,
            open=False,
            # The server asks each new connection its name (pg_stat_activity).
            kwargs={"application_name": name, "connect_timeout": max(1, round(timeout_s))},
            reconnect_timeout=0,  # never give up reconnecting: an outage may be long
        )
        with map_postgres_errors():
            try:
                self._pool.open(wait=True, timeout=max(timeout_s, 5.0))
            except Exception:
                self._pool.close()
                raise

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction on a connection of the pool: committed when the block ends,
        rolled back if it raises."""
        with map_postgres_errors(), self._lent() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for one statement that only reads: it runs in a transaction of its
        own, with no BEGIN and COMMIT around it (one round trip instead of three). Not for
        several statements that must see one snapshot: use `transaction`."""
        with self.autocommit() as conn:
            yield conn

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """A connection whose every statement commits by itself (DDL that cannot run in a
        transaction, LISTEN)."""
        with map_postgres_errors(), self._lent(autocommit=True) as conn:
            yield conn

    @contextmanager
    def pipelined(self) -> Iterator[Connection]:
        """One transaction in pipeline mode, committed when the block ends, rolled back if
        it raises. A statement whose result is not read waits in the pipeline and goes
        with the next read or with the COMMIT; BEGIN goes with the first read (psycopg's
        own BEGIN would wait for its answer: a round trip of its own), and a read waits
        for every statement before it, so a lock taken first is held when it returns."""
        with map_postgres_errors(), self._lent(autocommit=True) as conn, conn.pipeline():
            conn.execute("BEGIN")
            yield conn
            conn.execute("COMMIT")

    @contextmanager
    def _lent(self, *, autocommit: bool = False) -> Iterator[Connection]:
        """A working connection of the pool, in a transaction (as `pool.connection()`)
        unless `autocommit`."""
        conn = self._working_connection()
        try:
            if conn.autocommit != autocommit:  # idle, as the pool lends it: no round trip
                conn.autocommit = autocommit
            with conn:  # rolls back what an exception left open, autocommit or not
                yield conn
        finally:
            self._pool.putconn(conn)

    def _working_connection(self) -> Connection:
        deadline = time.monotonic() + self._timeout_s
        while True:
            conn = self._pool.getconn(timeout=max(0.0, deadline - time.monotonic()))
            if _still_connected(conn):
                return conn
            conn.close()
            self._pool.putconn(conn)  # a closed connection: the pool opens another

    def check(self) -> None:
        """StoreUnavailable unless a round trip to the server succeeds now."""
        with self.transaction() as conn:
            conn.execute("SELECT 1")

    def close(self) -> None:
        self._pool.close()


def _still_connected(conn: Connection) -> bool:
    """Whether an idle connection still has its server (see the module docstring)."""
    if conn.closed:
        return False
    try:
        # poll, not select: select refuses a descriptor numbered 1024 or more, which a
        # busy server's connections reach.
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN | select.POLLPRI)
        if poller.poll(0):
            ConnectionPool.check_connection(conn)
    except (OSError, ValueError, psycopg.Error):
        return False
    return True


def redacted(url: str) -> str:
    """`url` without a password, for messages and logs."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    info.pop("password", None)
    return " ".join(f"{k}={v}" for k, v in sorted(info.items()))
