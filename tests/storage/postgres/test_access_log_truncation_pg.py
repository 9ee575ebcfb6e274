"""Truncating the PostgreSQL access log: the delete and the signed epoch that names
where each chain now starts commit together or not at all; a role that may only
append is refused before anything is signed; a chain's newest record is never cut
(its process may be appending after it); and a truncation deleting holds up no append."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tactful.privacy.access_log import AccessLogUnavailable, AccessQuery, Verification
from tests.storage.contract.test_contract_access_log import SECOND, T0_US, entry

psycopg = pytest.importorskip("psycopg")

from tactful.storage.postgres import access_log as engine  # noqa: E402
from tactful.storage.postgres.access_log import EPOCH_LOCK, PostgresAccessLog  # noqa: E402
from tactful.storage.postgres.connection import Database  # noqa: E402
from tests.storage.postgres.test_access_log_pg import PgLog, new_log  # noqa: E402

BOUND_S = 30.0  # a thread that has not finished by then is stuck


def written(made: PgLog, count: int) -> PgLog:
    writer = made.open()
    try:
        for i in range(1, count + 1):
            writer.append([entry(i)], now_us=T0_US + i * SECOND)
        writer.checkpoint(now_us=T0_US + (count + 1) * SECOND)
    finally:
        writer.close()
    return made


def epochs_and_lines(made: PgLog) -> tuple[int, int]:
    with psycopg.connect(made.url) as conn:
        row = conn.execute("SELECT count(*) FROM access_log_epochs").fetchone()
    return (int(row[0]) if row else 0), len(made.lines())


def appender_url(made: PgLog) -> str:
    """A login role with the servers' rights on the log (`tactful db roles`): it may
    read and append, and keep the signer's bookkeeping, but delete nothing."""
    database = made.url.rsplit("/", 1)[1]
    role = f"append_{database}"
    tables = "access_log_records, access_log_subjects, access_log_chains, access_log_epochs"
    with psycopg.connect(made.url, autocommit=True) as conn:
        for grant in (
            f"CREATE ROLE {role} LOGIN",
            f"GRANT SELECT, INSERT ON {tables} TO {role}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON access_log_heads TO {role}",
            f"GRANT USAGE, SELECT ON SEQUENCE access_log_sequence TO {role}",
            f"GRANT SELECT ON tactful_schema TO {role}",
        ):
            conn.execute(grant)  # type: ignore[arg-type]  # the test's own SQL
    return made.url.replace("//tactful@", f"//{role}@", 1)


def test_a_role_that_may_only_append_is_refused_before_anything_is_signed(
    tmp_path: Path,
) -> None:
    made = written(new_log(tmp_path), 6)
    before = epochs_and_lines(made)
    log = PostgresAccessLog(Database(appender_url(made), size=2), made.checkpoints_path, made.keys)
    try:
        with pytest.raises(AccessLogUnavailable) as refused:
            log.truncate_before(T0_US + 4 * SECOND, now_us=T0_US + 10 * SECOND)
        assert "may only append" in str(refused.value)
        assert "TACTFUL_STORAGE_URL=postgresql://tactful_owner@" in str(refused.value)
        assert "\n" not in str(refused.value)  # the command line prints it as one line
    finally:
        log.close()
    assert epochs_and_lines(made) == before
    assert made.verify() == Verification(True, 6)


def test_a_delete_that_fails_leaves_no_signed_truncation_behind(tmp_path: Path) -> None:
    """The epoch naming the new starts and the delete are one transaction: when the
    delete fails (here a trigger; a lost connection alike), neither the database nor the
    checkpoint file holds the epoch, and the log still verifies."""
    made = written(new_log(tmp_path), 6)
    before = epochs_and_lines(made)
    with psycopg.connect(made.url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
            " $$BEGIN RAISE EXCEPTION 'the delete fails'; END$$"
        )
        conn.execute(
            "CREATE TRIGGER refuse BEFORE DELETE ON access_log_records"
            " FOR EACH ROW EXECUTE FUNCTION refuse()"
        )
    log = made.open()
    try:
        with pytest.raises(AccessLogUnavailable):
            log.truncate_before(T0_US + 4 * SECOND, now_us=T0_US + 10 * SECOND)
    finally:
        log.close()
    assert epochs_and_lines(made) == before
    assert made.verify() == Verification(True, 6)
    with psycopg.connect(made.url, autocommit=True) as conn:
        conn.execute("DROP TRIGGER refuse ON access_log_records")
    log = made.open()
    try:  # once the delete can run, the same truncation does
        assert log.truncate_before(T0_US + 4 * SECOND, now_us=T0_US + 11 * SECOND) == 3
    finally:
        log.close()
    assert made.verify() == Verification(True, 3)


def test_a_record_appended_while_its_old_chain_is_truncated_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every record of chain A is older than the cut-off, and A's process has taken the
    next sequence but not yet committed when the truncation runs; another chain has
    taken later ones. A's record, acknowledged after, survives, and the log verifies."""
    made = new_log(tmp_path)
    a, b = made.open(), made.open()
    sealing, go_on = threading.Event(), threading.Event()
    seal = engine.seal_record

    def held_seal(*args: object, **kwargs: object) -> object:
        if threading.current_thread().name == "chain-a":  # after nextval, before commit
            sealing.set()
            assert go_on.wait(BOUND_S)
        return seal(*args, **kwargs)  # type: ignore[arg-type]

    acknowledged: list[int] = []
    late = threading.Thread(
        target=lambda: acknowledged.extend(
            r.sequence for r in a.append([entry(3)], now_us=T0_US + 100 * SECOND)
        ),
        name="chain-a",
    )
    try:
        a.append([entry(1)], now_us=T0_US + SECOND)
        monkeypatch.setattr(engine, "seal_record", held_seal)
        late.start()
        assert sealing.wait(BOUND_S)
        b.append([entry(2)], now_us=T0_US + 2 * SECOND)
        b.append([entry(4)], now_us=T0_US + 3 * SECOND)
        a.truncate_before(T0_US + 50 * SECOND, now_us=T0_US + 100 * SECOND)
        go_on.set()
        late.join(BOUND_S)
        assert acknowledged == [2]
        assert [r.sequence for r in a.query(AccessQuery())] == [1, 2, 4]  # each chain's newest
        a.checkpoint(now_us=T0_US + 101 * SECOND)
    finally:
        go_on.set()
        a.close()
        b.close()
    assert made.verify() == Verification(True, 3)


def test_an_append_due_to_sign_does_not_wait_for_a_truncation_under_way(
    tmp_path: Path,
) -> None:
    """A truncation holds the epochs' lock while it deletes: an append whose
    `checkpoint_every` falls due meanwhile commits and answers, and signs later."""
    made = new_log(tmp_path)
    writer = made.open(checkpoint_every=1)
    answered: list[int] = []
    try:
        with psycopg.connect(made.url) as truncating:  # a transaction holding the lock
            truncating.execute("SELECT pg_advisory_xact_lock(%s)", [EPOCH_LOCK])
            thread = threading.Thread(
                target=lambda: answered.extend(
                    r.sequence for r in writer.append([entry(1)], now_us=T0_US)
                )
            )
            thread.start()
            thread.join(BOUND_S)
            assert answered == [1], "the append waited for the truncation's lock"
        writer.append([entry(2)], now_us=T0_US + SECOND)  # the lock is free: it signs
        assert [c.sequence for c in writer.checkpoints()] == [2]
    finally:
        writer.close()
    assert made.verify() == Verification(True, 2)
