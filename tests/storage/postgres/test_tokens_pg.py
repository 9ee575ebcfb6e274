"""Issued tokens on PostgreSQL: issued or revoked through any store object (any host's
`tactful tokens`), they reach every server's Authenticator: by LISTEN/NOTIFY within
the notice's delivery (bounded here at 2 s, milliseconds in practice), and by the
version recheck within `recheck_s` when no notice arrives. A server's store keeps
them in memory, refreshed by a thread of its own: authenticating never waits for
the database, not even while it is down."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path

import pytest

from tactful.app import stores
from tactful.app.auth import Authenticator, Unauthenticated, hash_token
from tactful.app.settings import PrincipalConfig
from tactful.app.tokens import TokenStore
from tactful.privacy.errors import StoreUnavailable
from tests.conftest import T0, make_settings
from tests.postgres_cluster import throwaway_cluster
from tests.storage.postgres.conftest import migrated_database

psycopg = pytest.importorskip("psycopg")

from tactful.storage.postgres.connection import Database  # noqa: E402
from tactful.storage.postgres.tokens import SCHEMA, PostgresTokenRows  # noqa: E402

ANALYST = PrincipalConfig("analyst", frozenset({"analyst"}), frozenset({"analytics"}))
BOUND_S = 2.0  # a revocation reaches another server's listener within this, or the test fails
AT_ONCE_S = 0.05  # a call that waited for the database (2 s per round trip then) takes longer


@pytest.fixture()
def url() -> str:
    return migrated_database(SCHEMA)


@pytest.fixture()
def opened() -> Iterator[list[TokenStore]]:
    stores_: list[TokenStore] = []
    yield stores_
    for store in stores_:
        store.close()


def _store(
    url: str, opened: list[TokenStore], **options: object
) -> tuple[TokenStore, PostgresTokenRows]:
    rows = PostgresTokenRows(Database(url, size=1), **options)  # type: ignore[arg-type]
    store = TokenStore(rows)
    opened.append(store)
    return store, rows


def _bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def test_a_revocation_on_one_host_is_refused_by_another_servers_listener(
    url: str, opened: list[TokenStore]
) -> None:
    admin, _ = _store(url, opened, listen=False)  # `tactful tokens` on another host
    server, rows = _store(url, opened, recheck_s=3600.0)  # only the notice can bring it
    authenticator = Authenticator([ANALYST], server, clock=lambda: T0)
    seen = server.version()
    issued, token = admin.issue("analyst", now=T0)
    assert rows.wait_changed(seen, timeout=BOUND_S)
    assert authenticator.authenticate(_bearer(token)).name == "analyst"
    seen = server.version()
    admin.revoke(token_id=issued.id, now=T0)
    assert rows.wait_changed(seen, timeout=BOUND_S)
    with pytest.raises(Unauthenticated, match="revoked"):
        authenticator.authenticate(_bearer(token))


def test_without_a_notice_the_version_recheck_refuses_within_recheck_s(
    url: str, opened: list[TokenStore]
) -> None:
    admin, _ = _store(url, opened, listen=False)
    issued, token = admin.issue("analyst", now=T0)
    server, rows = _store(url, opened, recheck_s=0.2)
    authenticator = Authenticator([ANALYST], server, clock=lambda: T0)
    assert authenticator.authenticate(_bearer(token)).name == "analyst"
    seen = server.version()
    with psycopg.connect(url) as conn:  # a revocation whose notice is lost
        conn.execute("UPDATE issued_tokens SET revoked_at = %s", [T0.isoformat()])
        conn.execute("UPDATE issued_tokens_version SET counter = counter + 1")
    started = time.monotonic()
    assert rows.wait_changed(seen, timeout=BOUND_S)
    assert time.monotonic() - started < BOUND_S
    with pytest.raises(Unauthenticated, match="revoked"):
        authenticator.authenticate(_bearer(token))


class Heard(logging.Handler):
    """The warnings of the issued tokens' thread; `event` is set at the first."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        self.event.set()


def _timed_authenticate(authenticator: Authenticator, token: str) -> float:
    started = time.perf_counter()
    assert authenticator.authenticate(_bearer(token)).name == "analyst"
    return time.perf_counter() - started


def test_while_postgresql_is_down_calls_never_wait_for_it_and_keep_the_last_tokens(
    opened: list[TokenStore],
) -> None:
    heard = Heard()
    logging.getLogger("tactful.storage").addHandler(heard)
    try:
        with throwaway_cluster() as cluster:
            url = migrated_database(SCHEMA, cluster)
            admin, _ = _store(url, opened, listen=False)
            issued, token = admin.issue("analyst", now=T0)
            serving, rows = _store(url, opened, recheck_s=0.05)
            authenticator = Authenticator([ANALYST], serving, clock=lambda: T0)
            starting, other = _store(url, opened, recheck_s=0.05)  # no call through it yet
            cluster.stop("immediate")
            assert max(_timed_authenticate(authenticator, token) for _ in range(20)) < AT_ONCE_S
            # A first call (here: the authenticator's first look) waits for no listener.
            started = time.perf_counter()
            first = Authenticator([ANALYST], starting, clock=lambda: T0)
            assert time.perf_counter() - started < AT_ONCE_S
            assert _timed_authenticate(first, token) < AT_ONCE_S
            assert heard.event.wait(timeout=30)  # a thread found PostgreSQL down
            assert max(_timed_authenticate(authenticator, token) for _ in range(20)) < AT_ONCE_S
            cluster.start()
            seen = serving.version()
            again, _ = _store(url, opened, listen=False)  # `tactful tokens revoke`, now
            again.revoke(token_id=issued.id, now=T0)
            assert rows.wait_changed(seen, timeout=30)  # the threads resumed by themselves
            assert other.wait_changed(seen, timeout=30)
            with pytest.raises(Unauthenticated, match="revoked"):
                authenticator.authenticate(_bearer(token))
            for store in opened:
                store.close()
            opened.clear()
    finally:
        logging.getLogger("tactful.storage").removeHandler(heard)
    # Each server's thread says it once, however many of its attempts failed meanwhile.
    said = sorted(line.partition(", kept")[0] for line in heard.lines)
    assert said == ["issued tokens: not refreshed"] * 2 + ["issued tokens: refreshed again"] * 2


def test_issue_list_revoke_and_development_tokens_through_open_tokens(
    url: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path / "data", storage_url=url)
    one, two = stores.open_tokens(settings, listen=False), stores.open_tokens(settings)
    try:
        kept, _ = one.issue("analyst", now=T0)
        one.issue("web_frontend", now=T0, development=True)
        assert [t.principal for t in two.all()] == ["analyst", "web_frontend"]
        two.drop_development()  # a development server stopping
        assert [t.id for t in one.all()] == [kept.id]
        assert [t.id for t in one.revoke(principal="analyst", now=T0)] == [kept.id]
        assert [t.revoked_at for t in two.all()] == [T0.isoformat()]
        assert not (tmp_path / "data" / "tokens.json").exists()
    finally:
        one.close()
        two.close()


KNOWN = "tf_known-token"


class Flaky:
    """Issued tokens whose store goes away after the first read."""

    def __init__(self) -> None:
        self.calls = 0
        self.away = False

    def active_hashes(self) -> Mapping[str, tuple[str, datetime | None]]:
        if self.away:
            raise StoreUnavailable("postgresql: connection refused")
        return {hash_token(KNOWN): ("analyst", None)}

    def version(self) -> tuple[int, ...]:
        self.calls += 1
        return (self.calls,)  # changed on every call: read again each time


def test_tokens_whose_store_is_away_keep_their_last_state() -> None:
    issued = Flaky()
    authenticator = Authenticator([ANALYST], issued, clock=lambda: T0)
    issued.away = True
    assert authenticator.authenticate(_bearer(KNOWN)).name == "analyst"
    assert authenticator.authenticate(_bearer(KNOWN)).name == "analyst"
    issued.away = False
    assert authenticator.authenticate(_bearer(KNOWN)).name == "analyst"
