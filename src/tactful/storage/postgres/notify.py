"""Change notices between servers: a thread LISTENing on a channel (PostgreSQL's
LISTEN/NOTIFY), counting what it hears; and a follower thread that keeps something
read from the database current by them, so that no serving thread ever waits for it.

A writer sends `pg_notify(channel, …)` inside its transaction; PostgreSQL delivers
it to every listening connection when (and only if) that transaction commits,
typically within milliseconds. While the listener's connection is down nothing is
heard, so on every (re)connection it counts one more, in case a notice was missed
meanwhile. A notice can still be lost (a listener stuck on a half-open connection),
so the follower also refreshes every `every_s` whatever it heard.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable

import psycopg
from psycopg import sql

_POLL_S = 1.0  # how long a wait for a notice lasts before the thread looks up again
log = logging.getLogger("tactful.storage")


class Listener:
    """LISTEN on `channel` over a connection of its own (not the pool's), in a daemon
    thread that reconnects by itself. Starting it waits for nothing: until its first
    connection it has heard 0."""

    def __init__(self, url: str, channel: str, *, reconnect_s: float = 0.5) -> None:
        self._url = url
        self._channel = channel
        self._reconnect_s = reconnect_s
        self._wake = f"{channel}_stop_{secrets.token_hex(6)}"  # ours alone, for close()
        self._heard = 0
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"tactful-{channel}", daemon=True)
        self._thread.start()

    @property
    def heard(self) -> int:
        """Notices heard, plus one per (re)connection."""
        return self._heard

    def wait_beyond(self, heard: int, *, timeout: float) -> bool:
        """Block until more than `heard` notices were heard, at most `timeout` seconds
        (or until close())."""
        with self._changed:
            return self._changed.wait_for(
                lambda: self._heard > heard or self._stopping.is_set(), timeout
            )

    def close(self) -> None:
        with self._changed:
            self._stopping.set()
            self._changed.notify_all()
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


class Follower:
    """Keeps `what` current: calls `refresh` in a daemon thread of its own, at once on
    every notice heard on `channel` (and on every reconnection of the listener), and
    every `every_s` in any case, the fallback for a notice lost. While `refresh` fails
    (PostgreSQL away), it waits twice as long each time, up to `max_backoff_s`, and
    logs once; a notice (the listener reconnected: PostgreSQL is back) ends the wait
    at once."""

    def __init__(
        self,
        url: str,
        channel: str,
        refresh: Callable[[], None],
        *,
        what: str,
        every_s: float = 1.0,
        max_backoff_s: float = 4.0,
    ) -> None:
        self._refresh = refresh
        self._what = what  # for the log: what is kept current
        self._every_s = every_s
        self._max_backoff_s = max(every_s, max_backoff_s)
        self._stopping = threading.Event()
        self._listener = Listener(url, channel)
        self._thread = threading.Thread(
            target=self._run, name=f"tactful-{channel}-follower", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._stopping.set()
        self._listener.close()  # wakes the follower's wait
        self._thread.join(timeout=self._max_backoff_s + 5)

    def _run(self) -> None:
        wait, failing = self._every_s, False
        while not self._stopping.is_set():
            heard = self._listener.heard
            try:
                self._refresh()
            except Exception as exc:  # PostgreSQL away (or a bad row): keep what we have
                if not failing:  # once per outage, not once per attempt
                    log.warning("%s: not refreshed, kept as they were, retrying: %s",
                                self._what, exc)  # fmt: skip
                wait, failing = min(wait * 2, self._max_backoff_s), True
            else:
                if failing:
                    log.warning("%s: refreshed again", self._what)
                wait, failing = self._every_s, False
            self._listener.wait_beyond(heard, timeout=wait)
