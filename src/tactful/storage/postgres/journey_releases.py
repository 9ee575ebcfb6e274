"""Journeys' playbook versions on PostgreSQL (journeys/release_store.py's ReleaseStore):
one set of tables every server shares, so a promotion, a staging or a rollback made
through any host reaches every server, however many hosts and contract folders.

    journey_versions   every version kept: its content (the playbook file's bytes),
                       version number, hash, and whether it was live once (`replaced`:
                       kept for a rollback) or only staged
    journey_releases   per journey: the live version's hash (NULL: the contract's file,
                       the seed), the staged one's and its share
    journey_releases_version   one counter, raised by every change

Every change is one transaction that raises the counter and sends NOTIFY on
`tactful_journey_releases`. A server's store keeps the releases in memory, and a
thread of its own (notify.py's Follower) keeps them current, as the tokens are
(storage/postgres/tokens.py): on every notice and every `recheck_s` in any case.
`stamp()`, `live()` and `staging()` on a server then read only memory: no decision
waits for the database. What the store holds is only rows: the checks of a version
(load, gates) are the catalogue's, before anything is served.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from tactful.journeys.release_store import Kept
from tactful.storage.postgres.connection import Connection, Database
from tactful.storage.postgres.errors import translated
from tactful.storage.postgres.notify import Follower
from tactful.storage.postgres.schema import Schema

VERSIONS = "journey_versions"
RELEASES = "journey_releases"
COUNTER = "journey_releases_version"
CHANNEL = "tactful_journey_releases"

SCHEMA = Schema(
    "journey_releases",
    [
        f"CREATE TABLE {VERSIONS} (journey text NOT NULL, content_hash text NOT NULL,"
        " version integer NOT NULL, content bytea NOT NULL,"
        " replaced boolean NOT NULL DEFAULT false,"
        " kept_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (journey, content_hash));"
        f" CREATE TABLE {RELEASES} (journey text PRIMARY KEY, live_hash text,"
        " staged_hash text, share double precision NOT NULL DEFAULT 0,"
        " changed_at timestamptz NOT NULL DEFAULT now(),"
        " CHECK (staged_hash IS NULL OR (share > 0 AND share < 1)));"
        f" CREATE TABLE {COUNTER} (id integer PRIMARY KEY CHECK (id = 1),"
        " counter bigint NOT NULL);"
        f" INSERT INTO {COUNTER} VALUES (1, 0)",
    ],
    tables=(VERSIONS, RELEASES, COUNTER),
)


@dataclass(frozen=True)
class _Release:
    live: Kept | None
    staged: tuple[Kept, float] | None


@dataclass(frozen=True)
class _Known:
    """The releases as of one value of the counter."""

    counter: int
    releases: Mapping[str, _Release]


@translated
class PostgresJourneyReleases:
    """`listen`: a server's store, read at once, then kept in memory and current by a
    Follower thread; `stamp()`, `live()` and `staging()` read only memory. Without (the
    commands): no thread, every read a round trip."""

    def __init__(self, db: Database, *, listen: bool = True, recheck_s: float = 1.0) -> None:
        self._db = db
        self._listen = listen
        self._known = _Known(-1, {})
        self._lock = threading.Lock()
        self._follower: Follower | None = None
        if listen:
            try:
                self.refresh()  # before the first decision, which must find them in memory
                self._follower = Follower(
                    db.url, CHANNEL, self.refresh, what="journey releases", every_s=recheck_s
                )
            except BaseException:
                db.close()
                raise

    # -- what a server reads (memory, when listening) ----------------------------------

    def stamp(self, journey: str | None = None) -> Hashable:
        # One counter for every journey's releases: `journey` narrows nothing.
        if not self._listen:
            with self._db.transaction() as conn:
                return _counter(conn)
        return self._known.counter

    def live(self, journey: str) -> Kept | None:
        release = self._release(journey)
        return None if release is None else release.live

    def staging(self, journey: str) -> tuple[Kept, float] | None:
        release = self._release(journey)
        return None if release is None else release.staged

    def refresh(self) -> None:
        """Read the counter, and the releases when it changed: the Follower's step, a
        round trip or two, never on a serving thread."""
        with self._db.transaction() as conn:
            counter = _counter(conn)
            if counter == self._known.counter:
                return
            releases = _releases(conn)  # read after the counter: never older than it
        with self._lock:
            self._known = _Known(counter, releases)

    def _release(self, journey: str) -> _Release | None:
        if self._listen:
            return self._known.releases.get(journey)
        with self._db.transaction() as conn:
            return _releases(conn, journey).get(journey)

    # -- what the commands read and change -----------------------------------------------

    def replaced(self, journey: str) -> list[Kept]:
        with self._db.transaction() as conn:
            rows = conn.execute(
                f"SELECT content, content_hash FROM {VERSIONS}"
                " WHERE journey = %s AND replaced ORDER BY version, content_hash",
                [journey],
            ).fetchall()
        return [_kept(journey, bytes(content), h) for content, h in rows]

    def make_live(self, journey: str, content: bytes, version: int, *, replacing: Kept,
                  replacing_version: int) -> None:  # fmt: skip
        with self._db.transaction() as conn:
            _lock(conn, journey)
            old = _keep(conn, journey, replacing.content, replacing_version)
            conn.execute(f"UPDATE {VERSIONS} SET replaced = true WHERE journey = %s"
                         " AND content_hash = %s", [journey, old])  # fmt: skip
            new = _keep(conn, journey, content, version)
            conn.execute(
                f"UPDATE {RELEASES} SET live_hash = %s, staged_hash = NULL, share = 0,"
                " changed_at = now() WHERE journey = %s",
                [new, journey],
            )
            _changed(conn)

    def stage(self, journey: str, content: bytes, version: int, share: float) -> None:
        with self._db.transaction() as conn:
            _lock(conn, journey)
            staged = _keep(conn, journey, content, version)
            conn.execute(
                f"UPDATE {RELEASES} SET staged_hash = %s, share = %s, changed_at = now()"
                " WHERE journey = %s",
                [staged, share, journey],
            )
            _changed(conn)

    def withdraw(self, journey: str) -> None:
        with self._db.transaction() as conn:
            _lock(conn, journey)
            conn.execute(
                f"UPDATE {RELEASES} SET staged_hash = NULL, share = 0, changed_at = now()"
                " WHERE journey = %s",
                [journey],
            )
            _changed(conn)

    def close(self) -> None:
        if self._follower is not None:
            self._follower.close()
        self._db.close()


def _kept(journey: str, content: bytes, content_hash: str) -> Kept:
    return Kept(content, f"database: {journey} {content_hash[:19]}")


def _lock(conn: Connection, journey: str) -> None:
    """The journey's release row, created (as the seed: the contract's file) and locked
    for this transaction: changes to one journey happen one after the other."""
    conn.execute(
        f"INSERT INTO {RELEASES} (journey) VALUES (%s) ON CONFLICT (journey) DO NOTHING",
        [journey],
    )
    conn.execute(f"SELECT 1 FROM {RELEASES} WHERE journey = %s FOR UPDATE", [journey])


def _keep(conn: Connection, journey: str, content: bytes, version: int) -> str:
    """The version's row (once: named by its content); its hash."""
    content_hash = "sha256:" + hashlib.sha256(content).hexdigest()
    conn.execute(
        f"INSERT INTO {VERSIONS} (journey, content_hash, version, content)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT (journey, content_hash) DO NOTHING",
        [journey, content_hash, version, content],
    )
    return content_hash


def _releases(conn: Connection, journey: str | None = None) -> dict[str, _Release]:
    where, args = ("WHERE r.journey = %s", [journey]) if journey is not None else ("", [])
    rows = conn.execute(
        f"SELECT r.journey, r.live_hash, l.content, r.staged_hash, s.content, r.share"
        f" FROM {RELEASES} r"
        f" LEFT JOIN {VERSIONS} l ON l.journey = r.journey AND l.content_hash = r.live_hash"
        f" LEFT JOIN {VERSIONS} s ON s.journey = r.journey AND s.content_hash = r.staged_hash"
        f" {where}",
        args,
    ).fetchall()
    found = {}
    for name, live_hash, live, staged_hash, staged, share in rows:
        found[name] = _Release(
            None if live is None else _kept(name, bytes(live), live_hash),
            None if staged is None else (_kept(name, bytes(staged), staged_hash), float(share)),
        )
    return found


def _counter(conn: Connection) -> int:
    row = conn.execute(f"SELECT counter FROM {COUNTER} WHERE id = 1").fetchone()
    return int(row[0]) if row else 0


def _changed(conn: Connection) -> None:
    conn.execute(f"UPDATE {COUNTER} SET counter = counter + 1 WHERE id = 1")
    conn.execute("SELECT pg_notify(%s, '')", [CHANNEL])
