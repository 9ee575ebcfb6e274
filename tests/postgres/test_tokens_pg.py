"""Issued tokens on PostgreSQL: issued or revoked through any store object (any host's
`tactful tokens`), they reach every server's Authenticator: by LISTEN/NOTIFY within
the notice's delivery (bounded here at 2 s, milliseconds in practice), and by the
version recheck within `recheck_s` when no notice arrives."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path

import pytest

from privacy.errors import StoreUnavailable
from server import stores
from server.auth import Authenticator, Unauthenticated, hash_token
from server.config import PrincipalConfig
from server.tokens import TokenStore
from tests.conftest import T0, make_settings
from tests.postgres_cluster import fresh_database, shared_cluster

psycopg = pytest.importorskip("psycopg")

from storage.postgres.connection import Database  # noqa: E402
from storage.postgres.tokens import SCHEMA, PostgresTokenRows  # noqa: E402

ANALYST = PrincipalConfig("analyst", frozenset({"analyst"}), frozenset({"analytics"}))
BOUND_S = 2.0  # a revocation reaches another server's listener within this, or the test fails


@pytest.fixture()
def url() -> str:
    url = fresh_database(shared_cluster(), "tokens")
    db = Database(url, size=1)
    try:
        SCHEMA.migrate(db)
    finally:
        db.close()
    return url


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


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
    clock = Clock()  # never advances: only the notice can bring the change
    server, rows = _store(url, opened, clock=clock)
    authenticator = Authenticator([ANALYST], server, clock=lambda: T0)
    heard = server.version()[0]
    issued, token = admin.issue("analyst", now=T0)
    assert rows.wait_changed(heard, timeout=BOUND_S)
    assert authenticator.authenticate(_bearer(token)).name == "analyst"
    heard = server.version()[0]
    admin.revoke(token_id=issued.id, now=T0)
    assert rows.wait_changed(heard, timeout=BOUND_S)
    with pytest.raises(Unauthenticated, match="revoked"):
        authenticator.authenticate(_bearer(token))


def test_without_a_notice_the_version_recheck_refuses_within_recheck_s(
    url: str, opened: list[TokenStore]
) -> None:
    admin, _ = _store(url, opened, listen=False)
    issued, token = admin.issue("analyst", now=T0)
    clock = Clock()
    server, _ = _store(url, opened, listen=False, recheck_s=1.0, clock=clock)
    authenticator = Authenticator([ANALYST], server, clock=lambda: T0)
    assert authenticator.authenticate(_bearer(token)).name == "analyst"
    admin.revoke(token_id=issued.id, now=T0)
    clock.now = 0.5  # within recheck_s: the version is not read again (no round trip)
    assert authenticator.authenticate(_bearer(token)).name == "analyst"
    clock.now = 1.0
    with pytest.raises(Unauthenticated, match="revoked"):
        authenticator.authenticate(_bearer(token))


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
        assert two.active_hashes() == {}
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
