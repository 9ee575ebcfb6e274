"""The PostgreSQL access log on its own: the corruption matrix of the contract suite
against PostgresAccessLog directly (a fresh database, no other store), its queries,
its writers racing from separate pools, and its fail-closed append."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tactful.privacy.access_log import (
    CLOSE_METHOD,
    AccessLogBusy,
    AccessLogUnavailable,
    AccessQuery,
    AccessRecord,
    Verification,
    decode,
)
from tactful.privacy.access_log_epochs import Epoch
from tactful.privacy.access_log_writer import GroupCommitter
from tactful.privacy.keyring import KeySet, create_keyring
from tests.conftest import T0
from tests.postgres_cluster import throwaway_cluster
from tests.storage.contract.test_contract_access_log import (
    EVERY,
    NEVER_BY_TIME,
    PINNED,
    RECORDS,
    SECOND,
    T0_US,
    entry,
)
from tests.storage.postgres.conftest import migrated_database

psycopg = pytest.importorskip("psycopg")

from tactful.storage.postgres.access_log import (  # noqa: E402
    LEADER_TIMEOUT_S,
    SCHEMA,
    PostgresAccessLog,
    leader_idle_s,
)
from tactful.storage.postgres.connection import Database  # noqa: E402
from tests.storage.contract.test_contract_access_log import CORRUPTIONS, Corruption  # noqa: E402
from tests.storage.postgres_attacker import PostgresAttacker, postgres_attacker  # noqa: E402


@dataclass(frozen=True)
class PgLog:
    """The contract matrix's `Log`, over a PostgreSQL database and a checkpoint file."""

    url: str
    checkpoints_path: Path
    keys: KeySet
    other_keys: KeySet

    def open(self, **overrides: float) -> PostgresAccessLog:
        options = {"checkpoint_every": EVERY, "checkpoint_seconds": NEVER_BY_TIME, **overrides}
        return PostgresAccessLog(
            Database(self.url, size=2),
            self.checkpoints_path,
            self.keys,
            checkpoint_every=int(options["checkpoint_every"]),
            checkpoint_seconds=options["checkpoint_seconds"],
            epoch_seconds=options.get("epoch_seconds", 1.0),
            lock_timeout_s=2.0,
        )

    def attack(self) -> AbstractContextManager[PostgresAttacker]:
        return postgres_attacker(self.url)

    def lines(self) -> list[str]:
        return self.checkpoints_path.read_text().splitlines()

    def write_lines(self, lines: list[str]) -> None:
        self.checkpoints_path.write_text("".join(line + "\n" for line in lines))

    def verify(self, files: tuple[Path, ...] = ()) -> Verification:
        log = self.open()
        try:
            return log.verify(files=files)
        finally:
            log.close()


def new_log(tmp_path: Path) -> PgLog:
    url = migrated_database(SCHEMA)
    keys = create_keyring(tmp_path / "keys" / "keyring.json", now=T0).signing
    other = create_keyring(tmp_path / "other" / "keyring.json", now=T0).signing
    return PgLog(url, tmp_path / "checkpoints.jsonl", keys, other)


@pytest.fixture
def log(tmp_path: Path) -> Iterator[PgLog]:
    made = new_log(tmp_path)
    writer = made.open()
    try:
        for i in range(1, RECORDS + 1):
            writer.append([entry(i)], now_us=T0_US + i * SECOND)
        assert [c.sequence for c in writer.checkpoints()] == PINNED
    finally:
        writer.close()
    yield made


def test_an_untouched_log_verifies_with_every_record_counted(log: PgLog) -> None:
    assert log.verify() == Verification(True, RECORDS)


@pytest.mark.parametrize(
    ("corrupt", "first_bad", "problem"), CORRUPTIONS, ids=[c[0].__name__ for c in CORRUPTIONS]
)
def test_every_corruption_of_the_matrix_is_caught_on_postgresql(
    log: PgLog, corrupt: Corruption, first_bad: int, problem: str
) -> None:
    appended = corrupt(log)  # type: ignore[arg-type]  # PgLog is the matrix's Log, duck-typed
    result = log.verify()
    assert not result.intact
    assert problem in result.problem
    assert result.first_bad_sequence == (first_bad or appended), result.problem


def test_queries_filter_and_page_by_sequence_across_chains(tmp_path: Path) -> None:
    made = new_log(tmp_path)
    a, b = made.open(), made.open()
    try:
        for i in range(1, 21):
            (a if i % 2 else b).append([entry(i)], now_us=T0_US + i * SECOND)
        everything = a.query(AccessQuery(), limit=100)
        assert [r.sequence for r in everything] == list(range(1, 21))
        page = b.query(AccessQuery(), after_sequence=10, limit=5)
        assert [r.sequence for r in page] == [11, 12, 13, 14, 15]
        second_subject = entry(14).subjects[1]  # 14 is about two people
        assert [r.sequence for r in a.query(AccessQuery(subjects=(second_subject,)))] == [14]
        denied = a.query(AccessQuery(decision="denied", principal=entry(3).principal))
        assert denied and all(
            r.entry.decision == "denied" and r.entry.principal == entry(3).principal for r in denied
        )
        window = a.query(AccessQuery(since_us=T0_US + 5 * SECOND, until_us=T0_US + 8 * SECOND))
        assert [r.sequence for r in window] == [5, 6, 7]
    finally:
        a.close()
        b.close()


def test_two_processes_appending_at_once_each_keep_an_intact_chain(tmp_path: Path) -> None:
    """Two logs on separate pools are two processes: no lock between them, and every
    record lands once, with increasing sequences in each chain."""
    made = new_log(tmp_path)
    logs = [made.open(checkpoint_every=7), made.open(checkpoint_every=7)]
    got: list[list[int]] = [[], []]
    start = threading.Barrier(2)

    def write(k: int) -> None:
        start.wait()
        for i in range(40):
            records = logs[k].append([entry(i + 1), entry(i + 2)], now_us=T0_US + i * SECOND)
            got[k] += [r.sequence for r in records]

    threads = [threading.Thread(target=write, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert all(g == sorted(g) for g in got)
        assert sorted(got[0] + got[1]) == sorted(set(got[0] + got[1]))
        assert len(got[0] + got[1]) == 160
        logs[0].checkpoint(now_us=T0_US + 100 * SECOND)
    finally:
        for one in logs:
            one.close()
    assert made.verify() == Verification(True, 160)


def test_an_append_waiting_for_its_chain_is_busy_at_once_with_no_wait(tmp_path: Path) -> None:
    made = new_log(tmp_path)
    writer = made.open()
    try:
        with writer._turn, pytest.raises(AccessLogBusy):  # another thread is appending
            writer.append([entry(1)], now_us=T0_US, lock_wait_s=0)
        assert [r.sequence for r in writer.append([entry(1)], now_us=T0_US, lock_wait_s=0)] == [1]
    finally:
        writer.close()


def test_only_one_server_signs_epochs_and_another_takes_over_when_it_goes(tmp_path: Path) -> None:
    made = new_log(tmp_path)
    first, second = made.open(), made.open()
    try:
        first.append([entry(1)], now_us=T0_US)
        second.append([entry(2)], now_us=T0_US)
        assert first.sign_epoch(now_us=T0_US + SECOND) is not None  # elected
        second.append([entry(3)], now_us=T0_US + SECOND)
        assert second.sign_epoch(now_us=T0_US + 2 * SECOND) is None  # not elected
        first.close()  # its chain's closing record (4); its session ends, the lock with it
        signed = second.sign_epoch(now_us=T0_US + 3 * SECOND)
        assert signed is not None and signed.sequence == 4
    finally:
        second.close()
    assert made.verify() == Verification(True, 3)


def test_truncation_removes_old_records_of_every_chain_and_verifies(tmp_path: Path) -> None:
    made = new_log(tmp_path)
    a, b = made.open(), made.open()
    try:
        for i in range(1, 21):
            (a if i % 2 else b).append([entry(i)], now_us=T0_US + i * SECOND)
        removed = a.truncate_before(T0_US + 11 * SECOND, now_us=T0_US + 30 * SECOND)
        assert removed == 10
        assert [r.sequence for r in a.query(AccessQuery())] == list(range(11, 21))
        b.append([entry(21)], now_us=T0_US + 31 * SECOND)
        # Everything is old: each chain keeps its newest record, which its process
        # may be appending after.
        assert a.truncate_before(T0_US + 100 * SECOND, now_us=T0_US + 40 * SECOND) == 9
        assert [r.sequence for r in a.query(AccessQuery())] == [19, 21]
        cuts = [(t.first_removed, t.last_removed) for t in a.truncations()]
        assert cuts == [(1, 10), (11, 18)]
        b.append([entry(22)], now_us=T0_US + 41 * SECOND)
        a.checkpoint(now_us=T0_US + 42 * SECOND)
    finally:
        a.close()
        b.close()
    assert made.verify() == Verification(True, 3)


def test_an_append_that_cannot_reach_the_database_fails_closed(tmp_path: Path) -> None:
    with throwaway_cluster() as cluster:
        url = migrated_database(SCHEMA, cluster)
        keys = create_keyring(tmp_path / "keyring.json", now=T0).signing
        log = PostgresAccessLog(
            Database(url, size=1, timeout_s=1.0),
            tmp_path / "checkpoints.jsonl",
            keys,
            checkpoint_every=1000,
            checkpoint_seconds=NEVER_BY_TIME,
            epoch_seconds=1.0,
            lock_timeout_s=1.0,
        )
        try:
            log.append([entry(1)], now_us=T0_US)
            cluster.stop("immediate")
            with pytest.raises(AccessLogUnavailable):
                log.append([entry(2)], now_us=T0_US + SECOND)
            cluster.start()
            for _ in range(50):  # bounded: the pool reconnects in the background
                try:
                    log.append([entry(3)], now_us=T0_US + 2 * SECOND)
                    break
                except AccessLogUnavailable:
                    threading.Event().wait(0.1)
            log.checkpoint(now_us=T0_US + 3 * SECOND)
            assert log.verify() == Verification(True, 2)
        finally:
            log.close()


def test_a_log_opened_only_to_verify_registers_no_chain(log: PgLog) -> None:
    """`tactful audit verify` opens the log as a server would, but writes nothing."""
    with log.attack() as db:
        before = db.chains()
    assert log.verify() == Verification(True, RECORDS)
    with log.attack() as db:
        assert db.chains() == before and len(before) == 1


def test_a_signer_that_stops_asking_loses_its_lock_to_another_server(tmp_path: Path) -> None:
    """A hung or cut-off elected server still holds its session, and the lock: PostgreSQL
    ends that session once it has run nothing for leader_idle_s, and another server's
    tick takes over, so epochs stop for that long at most."""
    made = new_log(tmp_path)
    first, second = made.open(epoch_seconds=0.2), made.open(epoch_seconds=0.2)
    assert leader_idle_s(0.2) == 1.0
    try:
        first.append([entry(1)], now_us=T0_US)
        assert first.sign_epoch(now_us=T0_US + SECOND) is not None  # elected; then hangs
        second.append([entry(2)], now_us=T0_US + SECOND)
        signed = None
        for at in range(100):  # bounded: 10 s, ten times the idle bound
            signed = second.sign_epoch(now_us=T0_US + (2 + at) * SECOND)
            if signed is not None:
                break
            threading.Event().wait(0.1)
        assert signed is not None and signed.sequence == 2
        assert first.sign_epoch(now_us=T0_US + 200 * SECOND) is None  # it lost the election
    finally:
        first.close()
        second.close()
    assert made.verify() == Verification(True, 2)


def test_a_leader_host_that_never_answers_does_not_hold_the_signer(tmp_path: Path) -> None:
    """A host that accepts the connection and says nothing (an overloaded server, a
    half-open path): the attempt to lead gives up within the leader's timeouts."""
    made = new_log(tmp_path)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        db = Database(made.url, size=1)
        db.url = f"postgresql://tactful@127.0.0.1:{silent.getsockname()[1]}/postgres"
        log = PostgresAccessLog(db, made.checkpoints_path, made.keys, epoch_seconds=1.0)
        led: list[object] = []
        attempt = threading.Thread(target=lambda: led.append(log.sign_epoch(now_us=T0_US)))
        try:
            attempt.start()
            attempt.join(10 * LEADER_TIMEOUT_S)
            assert led == [None], "the signer still waits for a host that never answers"
        finally:
            silent.close()  # lets a connection that waits forever fail
            attempt.join(30)
            log.close()


# -- chain ends ------------------------------------------------------------------------------


def chain_records(made: PgLog, chain: str) -> list[tuple[int, str]]:
    """(sequence, method) of every record of `chain`, in order."""
    with made.attack() as db:
        return [
            (s, decode(db.row(s).content)[1].method)
            for s in db.sequences()
            if db.chain_of(s) == chain
        ]


def test_a_clean_close_ends_the_chain_with_a_closing_record(tmp_path: Path) -> None:
    made = new_log(tmp_path)
    writer = made.open()
    chain = writer.chain_id
    try:
        writer.append([entry(i) for i in range(1, 4)], now_us=T0_US)
    finally:
        writer.close()
    assert [m for _, m in chain_records(made, chain)][-1] == CLOSE_METHOD
    assert len(chain_records(made, chain)) == 4
    assert made.verify() == Verification(True, 3)  # a closing record is no access
    assert [r.sequence for r in query_all(made)] == [1, 2, 3]


def query_all(made: PgLog) -> list[AccessRecord]:
    log = made.open()
    try:
        return log.query(AccessQuery(), limit=100)
    finally:
        log.close()


def lease_runs_out(made: PgLog, chain: str) -> None:
    with made.attack() as db:
        db._conn.execute(
            "UPDATE access_log_leases SET renewed_at = now() - interval '1 hour'"
            " WHERE chain_id = %s",
            [chain],
        )


def test_the_signer_closes_a_chain_whose_owner_stopped_renewing_its_lease(tmp_path: Path) -> None:
    """The owner stalls (its lease runs out): the elected signer ends its chain with a
    closing record, pinned by the epoch it signs; the owner, back, renews nothing and
    appends to a chain of its own anew, and the log verifies."""
    made = new_log(tmp_path)
    signer, owner = made.open(), made.open()
    try:
        assert signer.sign_epoch(now_us=T0_US) is None  # elected; nothing to sign yet
        owner.append([entry(1), entry(2)], now_us=T0_US)
        first_chain = owner.chain_id
        lease_runs_out(made, first_chain)
        owner.sign_epoch(now_us=T0_US + SECOND)  # a tick renews the lease: not closed
        signer.sign_epoch(now_us=T0_US + SECOND)
        assert [m for _, m in chain_records(made, first_chain)][-1] != CLOSE_METHOD
        lease_runs_out(made, first_chain)
        signed = signer.sign_epoch(now_us=T0_US + 2 * SECOND)
        closing = chain_records(made, first_chain)[-1]
        assert closing[1] == CLOSE_METHOD
        assert signed is not None and signed.sequence == closing[0]  # pinned
        owner.append([entry(3)], now_us=T0_US + 3 * SECOND)
        assert owner.chain_id != first_chain
    finally:
        owner.close()
        signer.close()
    assert made.verify() == Verification(True, 3)
    with made.attack() as db:
        reason = decode(db.row(closing[0]).content)[1].reason
    assert "closed by the epoch signer" in reason


def test_a_server_that_stops_closes_its_chain_and_pins_the_closing_record(tmp_path: Path) -> None:
    """The group committer's close (a server's shutdown) ends the chain and signs the
    epoch that pins its closing record: nothing can be cut from it afterwards."""
    made = new_log(tmp_path)
    log = made.open()

    async def serve() -> None:
        committer = GroupCommitter(log, lambda: T0_US)
        try:
            await committer.wait(entry(1))
            await committer.wait(entry(2))
        finally:
            committer.close()

    chain = log.chain_id
    try:
        asyncio.run(serve())
    finally:
        log.close()
    closing, method = chain_records(made, chain)[-1]
    assert method == CLOSE_METHOD
    assert Epoch.from_json(made.lines()[-1]).heads[-1][:2] == (chain, closing)
    with made.attack() as db:
        db.delete(closing)
    result = made.verify()
    assert (result.intact, result.first_bad_sequence) == (False, closing), result.problem
