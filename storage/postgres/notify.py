"""Change notices between servers: a thread LISTENing on a channel (PostgreSQL's
LISTEN/NOTIFY), counting what it hears.

A writer sends `pg_notify(channel, …)` inside its transaction; PostgreSQL delivers
it to every listening connection when (and only if) that transaction commits,
typically within milliseconds. A reader compares `heard` with the count it last
acted on, which costs nothing per call. While the listener's connection is down
nothing is heard, so on every (re)connection it counts one more: a reader then
reloads, in case it missed a notice meanwhile. Readers that must be sure keep a
version check of their own as a fallback (storage/postgres/tokens.py).
"""

from __future__ import annotations

import secrets
import threading

import psycopg
from psycopg import sql

_POLL_S = 1.0  # how long a wait for a notice lasts before the thread looks up again


class Listener:
    """LISTEN on `channel` over a connection of its own (not the pool's), in a daemon
    thread that reconnects by itself; waits up to `ready_s` for the first connection."""

    def __init__(
        self, url: str, channel: str, *, reconnect_s: float = 0.5, ready_s: float = 2.0
    ) -> None:
        self._url = url
        self._channel = channel
        self._reconnect_s = reconnect_s
        self._wake = f"{channel}_stop_{secrets.token_hex(6)}"  # ours alone, for close()
        self._heard = 0
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"tactful-{channel}", daemon=True)
        self._thread.start()
        self.wait_beyond(0, timeout=ready_s)

    @property
    def heard(self) -> int:
        """Notices heard, plus one per (re)connection."""
        return self._heard

    def wait_beyond(self, heard: int, *, timeout: float) -> bool:
        """Block until more than `heard` notices were heard, at most `timeout` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: self._heard > heard, timeout)

    def close(self) -> None:
        self._stopping.set()
        try:
            with psycopg.connect(self._url, autocommit=True, connect_timeout=2) as conn:
                conn.execute("SELECT pg_notify(%s, '')", [self._wake])
        except psycopg.Error:
            pass  # PostgreSQL is away: the thread stops at its next look up
        self._thread.join(timeout=_POLL_S + 5)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._listen()
            except psycopg.Error:
                self._stopping.wait(self._reconnect_s)

    def _listen(self) -> None:
        with psycopg.connect(
            self._url,
            autocommit=True,
            connect_timeout=2,
            application_name=f"tactful-{self._channel}",
            # A host that vanishes without closing the socket is noticed in ~10 s.
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=2,
        ) as conn:
            for channel in (self._channel, self._wake):
                conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            self._bump()  # anything may have changed while nobody listened
            while not self._stopping.is_set():
                for notice in conn.notifies(timeout=_POLL_S):
                    if notice.channel == self._wake:
                        return
                    self._bump()

    def _bump(self) -> None:
        with self._changed:
            self._heard += 1
            self._changed.notify_all()
