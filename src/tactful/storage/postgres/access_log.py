"""The access log on PostgreSQL: one chain per server process, bound by signed epochs.

No lock is shared on the append path: each PostgresAccessLog (one per process)
registers a chain of its own and appends to it, taking global sequence numbers
from a PostgreSQL sequence. Every `epoch_seconds` one elected server (it holds a
session advisory lock; another takes over when its session ends) signs an epoch
over every chain's head (privacy/access_log_epochs.py), into the database and,
fsync'd, into its own checkpoint file; a process also signs one every
`checkpoint_every` records of its own and when it closes.

    access_log_records (sequence PK, chain_id, content, previous_hash, record_hash,
                        time_us, principal, method, purpose, subject, decision:
                        generated from the content)
    access_log_subjects (subject, sequence)   further subjects of a record
    access_log_chains (chain_id PK, host, pid, started_at)   registered with its first record
    access_log_epochs (epoch PK, line)        the database's copy of every epoch
    access_log_heads (chain_id PK, sequence, record_hash)   the signer's bookkeeping
    access_log_leases (chain_id PK, renewed_at, closed)   who may still append to a chain

Every record carries a MAC under a key from the keyring (privacy/access_log.py), so
whoever may only write to the database cannot add one that verifies. A chain ends with
a closing record: its process writes one when it closes (a server's stop, the end of a
command), and the elected signer writes one, pinned by the epoch it signs, for a chain
whose lease was not renewed for lease_seconds (the owner renews it with every append
and every epoch tick). An owner whose chain was closed under it (it stalled that long)
starts a new chain; the lease row's lock orders its append and the signer's close.

Records after the newest epoch are pinned by none yet: a cut tail goes unnoticed
for at most `epoch_seconds` plus one commit while the elected server lives, and for
leader_idle_s more when it dies or hangs (PostgreSQL ends its session after that long
without a statement; another server's next tick takes over).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg

from tactful.privacy.access_log import (
    CANONICAL_FIELDS,
    CLOSE_METHOD,
    AccessEntry,
    AccessLogBusy,
    AccessLogUnavailable,
    AccessQuery,
    AccessRecord,
    Checkpoint,
    CheckpointKind,
    RecordKey,
    StoredRow,
    Verification,
    closing_entry,
    decode,
    file_only_notice,
    record_key,
    record_keys,
    seal_record,
)
from tactful.privacy.access_log_epochs import (
    Epoch,
    Head,
    chain_genesis,
    check_chain_links,
    check_epochs,
    first_problem,
    sign_epoch,
)
from tactful.privacy.access_log_verify import Truncation
from tactful.privacy.keyring import Keys
from tactful.storage.postgres.access_log_files import CheckpointFile, compare, first_named, signers
from tactful.storage.postgres.connection import Connection, Database
from tactful.storage.postgres.errors import translated
from tactful.storage.postgres.schema import Schema
from tactful.timestamps import duration_us

LEADER_LOCK = 0x7AC7F0_0101  # session advisory lock: the server that signs epochs
EPOCH_LOCK = 0x7AC7F0_0102  # transaction advisory lock: one epoch written at a time
LEADER_TIMEOUT_S = 2  # the signer's connection: to connect, per statement, a silent socket


def leader_idle_s(epoch_seconds: float) -> float:
    """How long PostgreSQL keeps the elected signer's session (and its lock) once the
    signer has stopped asking: 5 epochs, at least 1 s."""
    return max(1.0, 5 * epoch_seconds)


def lease_seconds(epoch_seconds: float) -> float:
    """How long a chain stays open once its process has stopped renewing its lease:
    10 epochs, at least 5 s (an owner renews it every epoch)."""
    return max(5.0, 10 * epoch_seconds)


_GENERATED = {
    "time_us": ("bigint", 1),
    "principal": ("text", 2),
    "method": ("text", 4),
    "purpose": ("text", 5),
    "subject": ("text", 6),
    "decision": ("text", 9),
}
assert all(CANONICAL_FIELDS[at] == name for name, (_, at) in _GENERATED.items())
_OTHERS = CANONICAL_FIELDS.index("other_subjects")


def _records_table() -> str:
    generated = ",\n".join(
        f"{name} {kind} GENERATED ALWAYS AS (((content::json) ->> {at})::{kind}) STORED"
        for name, (kind, at) in _GENERATED.items()
    )
    return f"""
        CREATE SEQUENCE access_log_sequence;
        CREATE TABLE access_log_chains (chain_id text PRIMARY KEY, host text NOT NULL,
            pid integer NOT NULL, started_at timestamptz NOT NULL DEFAULT now());
        CREATE TABLE access_log_records (
            sequence bigint PRIMARY KEY,
            chain_id text NOT NULL,
            content text NOT NULL,
            previous_hash text NOT NULL,
            record_hash text NOT NULL,
            {generated});
        CREATE INDEX access_log_records_chain ON access_log_records (chain_id, sequence);
        CREATE INDEX access_log_records_time_us ON access_log_records (time_us, sequence);
        CREATE INDEX access_log_records_principal ON access_log_records (principal, sequence);
        CREATE INDEX access_log_records_subject ON access_log_records (subject, sequence);
        CREATE INDEX access_log_records_purpose ON access_log_records (purpose, sequence);
        CREATE TABLE access_log_subjects (subject text NOT NULL, sequence bigint NOT NULL,
            PRIMARY KEY (subject, sequence));
        CREATE TABLE access_log_epochs (epoch bigint PRIMARY KEY, line text NOT NULL);
        CREATE TABLE access_log_heads (chain_id text PRIMARY KEY, sequence bigint NOT NULL,
            record_hash text NOT NULL);
    """


_MACS = "ALTER TABLE access_log_records ADD COLUMN mac text NOT NULL DEFAULT ''"
_LEASES = """
    CREATE TABLE access_log_leases (chain_id text PRIMARY KEY,
        renewed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        closed boolean NOT NULL DEFAULT false);
"""
# Chains from before leases have none: their records carry no MAC either, and the
# signer does not close them (a server of the previous version may still append).

SCHEMA = Schema(
    "access_log",
    [_records_table(), _MACS, _LEASES],
    tables=("access_log_heads", "access_log_leases"),  # the signer's bookkeeping
    # A server may only add to the log; truncation runs as the owner.
    append_only=(
        "access_log_records",
        "access_log_subjects",
        "access_log_chains",
        "access_log_epochs",
    ),
)

# Every (subject, sequence) of the subjects after the first, as the records say them.
_OTHER_SUBJECTS_OF_RECORDS = (
    "SELECT s.value, r.sequence FROM access_log_records r,"
    f" json_array_elements_text((r.content::json) -> {_OTHERS}) s"
)


@translated
class PostgresAccessLog:
    def __init__(
        self,
        db: Database,
        checkpoint_file: Path,
        keys: Keys,
        *,
        checkpoint_every: int = 1000,
        checkpoint_seconds: float = 60.0,
        epoch_seconds: float = 1.0,
        lock_timeout_s: float = 2.0,
        lease_s: float | None = None,
        clock_us: Callable[[], int] = lambda: time.time_ns() // 1000,
    ) -> None:
        """`lease_s` (default `lease_seconds(epoch_seconds)`): how long after its owner's
        last renewal the elected signer closes a chain. `clock_us`: the time of the
        closing record `close` writes."""
        self._db = db
        self._file = checkpoint_file
        self._keys = keys
        self._every = checkpoint_every
        self._every_us = duration_us(timedelta(seconds=checkpoint_seconds))
        self.epoch_seconds = epoch_seconds  # the GroupCommitter asks every that often
        self.commits_on_loop = False  # a commit is a network round trip: off the loop
        self._lock_timeout_s = lock_timeout_s
        self._lease_s = lease_seconds(epoch_seconds) if lease_s is None else lease_s
        self._clock_us = clock_us
        self._published_at = f"{socket.gethostname()}:{checkpoint_file.resolve()}"
        self.chain_id = uuid.uuid4().hex
        # One chain, one head: appends of this process (the serving loop's committer,
        # a retention job's thread) take turns here, never across processes.
        self._turn = threading.Lock()
        self._head: tuple[int, str] | None = (0, chain_genesis(self.chain_id))
        self._since_pin = 0
        self._pinned_at: int | None = None
        self._leader: Connection | None = None
        self._registered = False  # with its first record: a log opened to verify adds none
        SCHEMA.check(db)

    # -- writing ----------------------------------------------------------------------------

    def append(
        self, entries: Sequence[AccessEntry], *, now_us: int, lock_wait_s: float | None = None
    ) -> list[AccessRecord]:
        """Chain and commit `entries` in one durable transaction (synchronous_commit on),
        or raise AccessLogUnavailable having acknowledged nothing: AccessLogBusy if
        another thread of this process was appending to the chain for `lock_wait_s`
        (default: the lock timeout; 0 does not wait). No other process is waited for."""
        _check_storable(entries)
        wait = self._lock_timeout_s if lock_wait_s is None else lock_wait_s
        taken = self._turn.acquire(timeout=wait) if wait > 0 else self._turn.acquire(blocking=False)
        if not taken:
            raise AccessLogBusy("another append to this process's chain is under way")
        try:
            try:
                records = self._append(entries)
            except _ChainClosed:  # this process stalled past its lease: a chain anew
                self._new_chain()
                records = self._append(entries)
            self._since_pin += len(records)
            if self._pinned_at is None:
                self._pinned_at = now_us
        finally:
            self._turn.release()
        if self._since_pin >= self._every or now_us - (self._pinned_at or now_us) >= self._every_us:
            # Busy: another signer (a truncation deleting) holds the epochs. The records
            # are durable; a later append or the elected signer pins them.
            with contextlib.suppress(AccessLogBusy):
                self.checkpoint(now_us=now_us, wait=False)
        return records

    def _append(self, entries: Sequence[AccessEntry]) -> list[AccessRecord]:
        key = record_key(self._keys)
        try:
            # Pipelined: BEGIN, the setting, the registration and the lease go in one
            # round trip (the lease's read waits for them), the records (executemany
            # rides the pipeline) and the COMMIT in another.
            with self._db.pipelined() as conn:
                conn.execute("SET LOCAL synchronous_commit TO on")
                if not self._registered:  # again after a commit that may have happened
                    self._register(conn)
                head = self._head or self._read_head(conn)
                # Renewing the lease locks its row: the signer cannot close the chain
                # while this commits, and none come back once it has.
                sequences = [
                    row[0]
                    for row in conn.execute(
                        "WITH lease AS (UPDATE access_log_leases SET renewed_at ="
                        " clock_timestamp() WHERE chain_id = %s AND NOT closed RETURNING 1)"
                        " SELECT nextval('access_log_sequence') FROM generate_series(1, %s)"
                        " WHERE EXISTS (SELECT 1 FROM lease)",
                        [self.chain_id, len(entries)],
                    )
                ]
                if not sequences:
                    raise _ChainClosed(self.chain_id)
                records = _seal(zip(sorted(sequences), entries, strict=True), head[1], key)
                _insert(conn, self.chain_id, records)
        except _ChainClosed:
            raise
        except Exception as exc:  # a broken connection may or may not have committed
            self._head = None  # read it again before the next append
            raise AccessLogUnavailable(f"access log write failed: {exc}") from exc
        self._head = (records[-1].sequence, records[-1].record_hash)
        self._registered = True
        return records

    def _register(self, conn: Connection) -> None:
        conn.execute(
            "INSERT INTO access_log_chains (chain_id, host, pid) VALUES (%s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            [self.chain_id, socket.gethostname(), os.getpid()],
        )
        conn.execute(
            "INSERT INTO access_log_leases (chain_id) VALUES (%s) ON CONFLICT DO NOTHING",
            [self.chain_id],
        )

    def _new_chain(self) -> None:
        """Append to a chain of a new id from now on (this one was closed)."""
        self.chain_id = uuid.uuid4().hex
        self._head = (0, chain_genesis(self.chain_id))
        self._registered = False

    def _read_head(self, conn: Connection) -> tuple[int, str]:
        row = conn.execute(
            "SELECT sequence, record_hash FROM access_log_records WHERE chain_id = %s"
            " ORDER BY sequence DESC LIMIT 1",
            [self.chain_id],
        ).fetchone()
        return (int(row[0]), str(row[1])) if row else (0, chain_genesis(self.chain_id))

    def checkpoint(self, *, now_us: int, wait: bool = True) -> Checkpoint | None:
        """Sign an epoch over every chain's head now, unless none moved since the last.
        With `wait` False, AccessLogBusy at once if another signer is under way."""
        epoch, _ = self._sign(now_us, truncate_before_us=None, wait=wait)
        self._since_pin, self._pinned_at = 0, now_us
        return epoch.checkpoint if epoch else None

    def sign_epoch(self, *, now_us: int) -> Checkpoint | None:
        """What every server calls each `epoch_seconds`: each renews its chain's lease;
        only the elected one signs, closing first every chain whose lease ran out."""
        self._renew_lease()
        if not self._lead():
            return None
        epoch, _ = self._sign(now_us, truncate_before_us=None, close_stale=True)
        self._since_pin, self._pinned_at = 0, now_us
        return epoch.checkpoint if epoch else None

    def _renew_lease(self) -> None:
        if not self._registered:
            return
        try:
            with self._db.transaction() as conn:
                renewed = conn.execute(
                    "UPDATE access_log_leases SET renewed_at = clock_timestamp()"
                    " WHERE chain_id = %s AND NOT closed",
                    [self.chain_id],
                ).rowcount
        except psycopg.Error:  # the next tick tries again; an append renews it too
            return
        if not renewed:
            with self._turn:  # closed under it: the next append starts a new chain
                self._new_chain()

    def _lead(self) -> bool:
        """Hold (or take over) the signer's session lock; False if another holds it."""
        try:
            if self._leader is None or self._leader.closed:
                self._leader = self._connect_leader()
                row = self._leader.execute(
                    "SELECT pg_try_advisory_lock(%s)", [LEADER_LOCK]
                ).fetchone()
                if not (row and row[0]):
                    self._leader.close()
                    self._leader = None
                    return False
            self._leader.execute("SELECT 1")
            return True
        except psycopg.Error:
            if self._leader is not None:
                self._leader.close()
            self._leader = None
            return False

    def _connect_leader(self) -> Connection:
        """The session that holds the signer's lock. Nothing on it may block for long: a
        host that does not answer, a socket gone silent or a statement stuck each fail
        within LEADER_TIMEOUT_S or so. And PostgreSQL ends the session, releasing the lock
        for the next server, once it has run no statement for leader_idle_s: the elected
        server asks every `epoch_seconds`, unless it died, hung or lost the network."""
        conn = psycopg.connect(
            self._db.url,
            autocommit=True,
            application_name="tactful-access-log-signer",
            connect_timeout=LEADER_TIMEOUT_S,
            keepalives=1,
            keepalives_idle=1,
            keepalives_interval=1,
            keepalives_count=LEADER_TIMEOUT_S,
            tcp_user_timeout=LEADER_TIMEOUT_S * 1000,
        )
        try:
            for name, value in (
                ("statement_timeout", LEADER_TIMEOUT_S * 1000),
                ("idle_session_timeout", round(leader_idle_s(self.epoch_seconds) * 1000)),
                ("tcp_keepalives_idle", 1),  # the server's side of the socket, alike
                ("tcp_keepalives_interval", 1),
                ("tcp_keepalives_count", LEADER_TIMEOUT_S),
            ):
                conn.execute("SELECT set_config(%s, %s, false)", [name, str(value)])
        except BaseException:
            conn.close()
            raise
        return conn

    def truncate_before(self, cutoff_us: int, *, now_us: int) -> int:
        """Remove records older than `cutoff_us` from every chain, in the transaction that
        commits the signed epoch naming where each truncated chain now starts: either
        both happen or neither. AccessLogUnavailable, at once, if this role may not delete
        (the servers' may only append: truncation runs as the owner role)."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT current_user, has_table_privilege('access_log_records', 'DELETE')"
                " AND has_table_privilege('access_log_subjects', 'DELETE')"
            ).fetchone()
        if not (row and row[1]):
            role = row[0] if row else "this role"
            raise AccessLogUnavailable(
                f"the role {role} may only append to the access log, not delete from it: run"
                " `tactful audit truncate` as the owner role"
                " (TACTFUL_STORAGE_URL=postgresql://tactful_owner@…)"
            )
        _, deleted = self._sign(now_us, truncate_before_us=cutoff_us)
        return deleted

    @staticmethod
    def _delete_before(conn: Connection, starts: Sequence[Head], cutoff_us: int) -> int:
        deleted = 0
        for chain, sequence, _ in starts:
            old = "chain_id = %s AND sequence < %s AND time_us < %s"
            conn.execute(
                "DELETE FROM access_log_subjects WHERE sequence IN"
                f" (SELECT sequence FROM access_log_records WHERE {old})",
                [chain, sequence, cutoff_us],
            )
            cursor = conn.execute(
                f"DELETE FROM access_log_records WHERE {old}", [chain, sequence, cutoff_us]
            )
            deleted += cursor.rowcount
        return deleted

    def _sign(
        self,
        now_us: int,
        *,
        truncate_before_us: int | None,
        wait: bool = True,
        close_stale: bool = False,
    ) -> tuple[Epoch | None, int]:
        """One epoch, serialized with every other signer, and the records a truncation
        deleted in its transaction; its line goes, fsync'd, into the checkpoint file
        after the delete, before the database commits both."""
        try:
            with self._db.transaction() as conn:
                conn.execute("SET LOCAL synchronous_commit TO on")
                if wait:
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", [EPOCH_LOCK])
                else:
                    free = conn.execute(
                        "SELECT pg_try_advisory_xact_lock(%s)", [EPOCH_LOCK]
                    ).fetchone()
                    if not (free and free[0]):
                        raise AccessLogBusy("another server is signing an epoch")
                if close_stale:
                    self._close_stale(conn, now_us)
                last = conn.execute(
                    "SELECT epoch, line FROM access_log_epochs ORDER BY epoch DESC LIMIT 1"
                ).fetchone()
                number, previous = (int(last[0]), Epoch.from_json(last[1])) if last else (0, None)
                pinned = {
                    str(c): (int(s), str(h))
                    for c, s, h in conn.execute(
                        "SELECT chain_id, sequence, record_hash FROM access_log_heads"
                    )
                }
                heads = [
                    (str(c), int(s), str(h))
                    for c, s, h in conn.execute(
                        "SELECT c.chain_id, r.sequence, r.record_hash FROM access_log_chains c"
                        " CROSS JOIN LATERAL (SELECT sequence, record_hash FROM"
                        " access_log_records r WHERE r.chain_id = c.chain_id"
                        " ORDER BY sequence DESC LIMIT 1) r"
                    )
                ]
                moved = [h for h in heads if pinned.get(h[0]) != (h[1], h[2])]
                starts = (
                    self._starts(conn, truncate_before_us) if truncate_before_us is not None else []
                )
                if not moved and not starts:
                    return None, 0
                epoch = sign_epoch(
                    self._keys,
                    number + 1,
                    previous.checkpoint.record_hash if previous else "",
                    pinned,
                    moved,
                    starts,
                    self._published_at,
                    now_us,
                )
                line = epoch.to_json()
                conn.execute(
                    "INSERT INTO access_log_epochs (epoch, line) VALUES (%s, %s)",
                    [epoch.number, line],
                )
                for chain, sequence, record_hash in moved:
                    conn.execute(
                        "INSERT INTO access_log_heads (chain_id, sequence, record_hash)"
                        " VALUES (%s, %s, %s) ON CONFLICT (chain_id) DO UPDATE"
                        " SET sequence = excluded.sequence, record_hash = excluded.record_hash",
                        [chain, sequence, record_hash],
                    )
                deleted = (
                    self._delete_before(conn, starts, truncate_before_us)
                    if truncate_before_us is not None
                    else 0
                )
                self._publish(line)
        except AccessLogUnavailable:
            raise
        except Exception as exc:
            raise AccessLogUnavailable(f"epoch checkpoint failed: {exc}") from exc
        return epoch, deleted

    def _close_stale(self, conn: Connection, now_us: int) -> None:
        """A closing record at the end of every chain whose lease ran out, in the
        signer's transaction: the epoch it signs pins them."""
        stale = conn.execute(
            "UPDATE access_log_leases SET closed = true WHERE NOT closed AND renewed_at <"
            " clock_timestamp() - make_interval(secs => %s) RETURNING chain_id",
            [self._lease_s],
        ).fetchall()
        why = f"closed by the epoch signer at {self._published_at}: its lease ran out"
        for (chain,) in stale:
            _close(conn, str(chain), now_us, why, record_key(self._keys))

    def close_chain(self, *, now_us: int) -> None:
        """End this process's chain with a closing record (nothing if it wrote none)."""
        with self._turn:
            if not self._registered:
                return
            try:
                with self._db.transaction() as conn:
                    closed = conn.execute(
                        "UPDATE access_log_leases SET closed = true"
                        " WHERE chain_id = %s AND NOT closed RETURNING chain_id",
                        [self.chain_id],
                    ).fetchone()
                    if closed:  # else the signer closed it already
                        why = "its process stopped"
                        _close(conn, self.chain_id, now_us, why, record_key(self._keys))
            except Exception as exc:
                raise AccessLogUnavailable(f"closing the access log's chain failed: {exc}") from exc
            self._new_chain()

    @staticmethod
    def _starts(conn: Connection, cutoff_us: int) -> list[Head]:
        """For every chain holding records older than `cutoff_us`: its first record kept
        and the hash it chains from. A chain's newest record is always kept, however
        old: its process may be appending after it, with a sequence already taken."""
        starts: list[Head] = []
        old = conn.execute(
            "SELECT chain_id, min(sequence) FROM access_log_records WHERE time_us < %s"
            " GROUP BY chain_id",
            [cutoff_us],
        ).fetchall()
        for chain, oldest in old:
            kept = conn.execute(
                "SELECT sequence, previous_hash FROM access_log_records WHERE chain_id = %s"
                " AND (time_us >= %s OR sequence = (SELECT max(sequence)"
                " FROM access_log_records WHERE chain_id = %s))"
                " ORDER BY sequence LIMIT 1",
                [chain, cutoff_us, chain],
            ).fetchone()
            if kept and int(kept[0]) > int(oldest):  # else it keeps every record
                starts.append((str(chain), int(kept[0]), str(kept[1])))
        return starts

    def _publish(self, line: str) -> None:
        self._file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self._file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- reading ----------------------------------------------------------------------------

    def checkpoints(self) -> list[Checkpoint]:
        """The epochs in this host's checkpoint file, as checkpoints."""
        return [Checkpoint.from_json(line) for line in _lines(self._file)]

    def epochs(self) -> list[str]:
        """The database's copy of every epoch, in order."""
        with self._db.transaction() as conn:
            rows = conn.execute("SELECT line FROM access_log_epochs ORDER BY epoch").fetchall()
        return [str(r[0]) for r in rows]

    def stored_rows(self, chain: str) -> Iterator[list[StoredRow]]:
        """One chain's records, in batches, as verification reads them."""
        with self._db.transaction() as conn, conn.cursor(name="access_log_rows") as cursor:
            cursor.execute(
                "SELECT sequence, previous_hash, record_hash, content, mac"
                " FROM access_log_records WHERE chain_id = %s ORDER BY sequence",
                [chain],
            )
            while batch := cursor.fetchmany(20_000):
                yield [(int(s), str(p), str(h), str(c), str(m)) for s, p, h, c, m in batch]

    # -- following (the streaming export, privacy/access_log_export.py) --------------

    def chains(self) -> list[str]:
        """Every chain's id, in the order they were registered (with their first record)."""
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT chain_id FROM access_log_chains ORDER BY started_at, chain_id"
            ).fetchall()
        return [str(r[0]) for r in rows]

    def chain_rows(self, chain: str, *, after_sequence: int, limit: int) -> list[StoredRow]:
        """The chain's records after `after_sequence`, in order (its owner appends them in
        that order, one transaction at a time, so none can commit behind another)."""
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT sequence, previous_hash, record_hash, content, mac"
                " FROM access_log_records WHERE chain_id = %s AND sequence > %s"
                " ORDER BY sequence LIMIT %s",
                [chain, after_sequence, limit],
            ).fetchall()
        return [(int(s), str(p), str(h), str(c), str(m)) for s, p, h, c, m in rows]

    def backlog(self, chain: str, *, after_sequence: int) -> tuple[int, int]:
        """How many records of the chain follow `after_sequence`, and the first's time."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT count(*), min(time_us) FROM access_log_records"
                " WHERE chain_id = %s AND sequence > %s",
                [chain, after_sequence],
            ).fetchone()
        return (int(row[0]), int(row[1] or 0)) if row else (0, 0)

    def signed_lines(self, *, after: int = 0) -> list[str]:
        """The database's copy of the epochs after the first `after` (numbered from 1,
        without gaps), in order: the lines the checkpoint files hold."""
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT line FROM access_log_epochs WHERE epoch > %s ORDER BY epoch", [after]
            ).fetchall()
        return [str(r[0]) for r in rows]

    def verify(self, *, files: Sequence[Path] = ()) -> Verification:
        """Every chain's links from its genesis or truncation, every epoch's signature
        and order, every head an epoch pinned; the epochs of the database against this
        host's checkpoint file and every other file given (one per signing host)."""
        in_db = self.epochs()  # before the files: a line it holds was in its file first
        given = [CheckpointFile(self._file, [], self._published_at)]
        given += [
            CheckpointFile(path, []) for path in files if path.resolve() != self._file.resolve()
        ]
        for at, file in enumerate(given):
            try:  # this host's file may not exist yet; a file given must
                lines = _lines(file.path) if at == 0 else _lines(file.path, must_exist=True)
            except (ValueError, KeyError, TypeError, OSError) as exc:
                unreadable = f"checkpoint file {file.path} is unreadable: {exc}"
                return Verification(False, 0, 0, unreadable)
            given[at] = dataclasses.replace(file, lines=lines)
        compared = compare(in_db, given, self._keys)
        if compared.problem:
            return compared.problem
        pins = check_epochs(compared.epochs, self._keys)
        if isinstance(pins, Verification):
            return pins
        with self._db.transaction() as conn:
            chains = {
                str(r[0])
                for r in conn.execute(
                    "SELECT chain_id FROM access_log_chains UNION"
                    " SELECT DISTINCT chain_id FROM access_log_records"
                )
            }
        chains |= set(pins.heads) | set(pins.starts)
        macs = record_keys(self._keys)
        verdict = first_problem(
            check_chain_links(c, _flat(self.stored_rows(c)), pins, self._absent, macs)
            for c in sorted(chains)
        )
        if not verdict.intact:
            return verdict
        # A line a signer committed while the files were read is no longer file-only.
        file_only = set(compared.file_only) - set(self.epochs())
        if file_only:
            first = min(first_named(line) for line in file_only)
            notice = file_only_notice(len(file_only), first)
            verdict = dataclasses.replace(verdict, notices=(notice, *verdict.notices))
        return self._check_subject_index(verdict)

    def unchecked_signers(self, files: Sequence[Path] = ()) -> list[str]:
        """Where the database's epochs say they were published ("host:path") that
        `verify(files=files)` reads no file of: their lines were checked against none."""
        named = {self._published_at}
        for path in files:
            named |= signers(_lines(path))
        return sorted(signers(self.epochs()) - named)

    def _absent(self, low: int, high: int) -> list[int]:
        """The sequences in (low, high) no record holds, lowest first (up to 10)."""
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT s FROM generate_series(%s::bigint, %s::bigint) s WHERE NOT EXISTS"
                " (SELECT 1 FROM access_log_records WHERE sequence = s) ORDER BY s LIMIT 10",
                [low + 1, high - 1],
            ).fetchall()
        return [int(r[0]) for r in rows]

    def _check_subject_index(self, intact: Verification) -> Verification:
        with self._db.transaction() as conn:
            missing = conn.execute(
                f"SELECT min(sequence) FROM ({_OTHER_SUBJECTS_OF_RECORDS} EXCEPT"
                " SELECT subject, sequence FROM access_log_subjects) x"
            ).fetchone()
            extra = conn.execute(
                "SELECT min(sequence) FROM (SELECT subject, sequence FROM access_log_subjects"
                f" EXCEPT {_OTHER_SUBJECTS_OF_RECORDS}) x"
            ).fetchone()
        found = [int(r[0]) for r in (missing, extra) if r and r[0] is not None]
        if not found:
            return intact
        first = min(found)
        return Verification(
            False,
            intact.records,
            first,
            f"the subject index disagrees with record {first}"
            " (queries by subject would miss or misattribute it)",
        )

    def truncations(self) -> list[Truncation]:
        """What the signed truncations removed, as ranges of sequences (report these only
        with an intact verdict)."""
        removed, first = [], 1
        for line in self.epochs():
            epoch = Epoch.from_json(line)
            if epoch.starts:
                last = min(s for _, s, _ in epoch.starts) - 1
                if last >= first:
                    removed.append(Truncation(first, last, epoch.checkpoint.time_us))
                    first = last + 1
        return removed

    def query(
        self,
        query: AccessQuery,
        *,
        after_sequence: int = 0,
        limit: int = 100,
        before_sequence: int | None = None,
        newest_first: bool = False,
    ) -> list[AccessRecord]:
        """The access records `query` matches (a chain's closing record is none)."""
        clauses: list[str] = ["sequence > %s", "method <> %s"]
        params: list[Any] = [after_sequence, CLOSE_METHOD]
        if before_sequence is not None:
            clauses.append("sequence < %s")
            params.append(before_sequence)
        for column, operator, value in query.conditions():
            clauses.append(f"{column} {operator} %s")
            params.append(value)
        if query.subjects:
            clauses.append(
                "(subject = ANY(%s) OR sequence IN"
                " (SELECT sequence FROM access_log_subjects WHERE subject = ANY(%s)))"
            )
            params.extend([list(query.subjects), list(query.subjects)])
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT content, previous_hash, record_hash, mac FROM access_log_records"
                f" WHERE {' AND '.join(clauses)}"
                f" ORDER BY sequence {'DESC' if newest_first else ''} LIMIT %s",
                [*params, limit],
            ).fetchall()
        return query.matches_subjects(
            [_record(str(c), str(p), str(h), str(m)) for c, p, h, m in rows]
        )

    def sequence_at(self, time_us: int) -> int:
        with self._db.transaction() as conn:  # one step down the (time_us, sequence) index
            found = conn.execute(
                "SELECT sequence FROM access_log_records WHERE time_us <= %s"
                " AND method <> %s ORDER BY time_us DESC, sequence DESC LIMIT 1",
                [time_us, CLOSE_METHOD],
            ).fetchone()
        return int(found[0]) if found else 0

    def close(self) -> None:
        """Close this process's chain, give back the signer's lock (another server takes
        over) and the pool. The closing record is pinned by the next epoch any server
        signs (GroupCommitter.close closes the chain and signs one as the server stops);
        if the database cannot be reached, the signer closes the chain once its lease
        runs out."""
        with contextlib.suppress(AccessLogUnavailable):
            self.close_chain(now_us=self._clock_us())
        if self._leader is not None:
            self._leader.close()
        self._db.close()


def _check_storable(entries: Sequence[AccessEntry]) -> None:
    for entry in entries:
        texts = (entry.principal, entry.method, entry.purpose, entry.reason, *entry.subjects)
        if any("\x00" in f for f in texts):
            raise ValueError("principal, method, purpose and subjects cannot hold NUL")
        for text in (*texts, entry.request_id, *entry.requested, *entry.released):
            text.encode("utf-8")  # UnicodeEncodeError (a ValueError): a lone surrogate


def _flat(batches: Iterator[list[StoredRow]]) -> Iterator[StoredRow]:
    for batch in batches:
        yield from batch


def _lines(path: Path, *, must_exist: bool = False) -> list[str]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        if must_exist:
            raise
        return []
    lines = [line for line in text.splitlines() if line.strip()]
    for line in lines:
        Checkpoint.from_json(line)  # ValueError if altered or torn mid-line
    return lines


def _record(content: str, previous_hash: str, record_hash: str, mac: str) -> AccessRecord:
    sequence, entry = decode(content)
    return AccessRecord(sequence, entry, previous_hash, record_hash, content, mac)


class _ChainClosed(Exception):
    """The chain's lease was closed (by the signer): its process must start another."""


def _seal(
    numbered: Iterable[tuple[int, AccessEntry]], previous: str, key: RecordKey
) -> list[AccessRecord]:
    records = []
    for sequence, entry in numbered:
        records.append(seal_record(sequence, entry, previous, key))
        previous = records[-1].record_hash
    return records


def _insert(conn: Connection, chain: str, records: Sequence[AccessRecord]) -> None:
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO access_log_records"
            " (sequence, chain_id, content, previous_hash, record_hash, mac)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [
                (r.sequence, chain, r.content, r.previous_hash, r.record_hash, r.mac)
                for r in records
            ],
        )
        named = [(s, r.sequence) for r in records for s in r.entry.subjects[1:]]
        if named:
            cursor.executemany(
                "INSERT INTO access_log_subjects (subject, sequence) VALUES (%s, %s)"
                " ON CONFLICT DO NOTHING",
                named,
            )


def _close(conn: Connection, chain: str, now_us: int, why: str, key: RecordKey) -> None:
    """Append the closing record to `chain` (whose lease row this transaction holds)."""
    head = conn.execute(
        "SELECT sequence, record_hash FROM access_log_records WHERE chain_id = %s"
        " ORDER BY sequence DESC LIMIT 1",
        [chain],
    ).fetchone()
    if head is None:
        return  # registered, never written to: nothing to close
    (sequence,) = conn.execute("SELECT nextval('access_log_sequence')").fetchone() or (0,)
    _insert(conn, chain, _seal([(int(sequence), closing_entry(now_us, why))], str(head[1]), key))


__all__ = ["SCHEMA", "CheckpointKind", "PostgresAccessLog"]
