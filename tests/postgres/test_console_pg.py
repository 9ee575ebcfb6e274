"""`tactful console` on a PostgreSQL deployment: it starts, lists the records `tactful
serve` wrote there, and records its own page views there. Before, it looked for
access_log.db in the data folder and stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tactful.app import stores
from tactful.privacy.access_log import AccessQuery
from tactful.privacy.keyring import KeyringWatcher
from tests.conftest import TACTFUL
from tests.console.conftest import COMPLIANCE, signed_in
from tests.console.test_console_scorecards import release
from tests.postgres.servers import Server, settings_of, write_config
from tests.postgres.test_two_servers import record
from tests.postgres_cluster import free_port, fresh_database, shared_cluster

pytest.importorskip("psycopg")


def _listening(url: str, process: subprocess.Popen[str], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:  # bounded
        assert process.poll() is None, process.communicate()[0]
        try:
            httpx.get(f"{url}/sign-in", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the console did not listen in time")


def test_the_console_serves_the_access_log_of_a_postgresql_deployment(tmp_path: Path) -> None:
    cluster = shared_cluster()
    behavior, vault = fresh_database(cluster, "behavior"), fresh_database(cluster, "vault")
    config = write_config(tmp_path / "a", behavior, vault, keyring=tmp_path / "keyring.json")
    stores.migrate(settings_of(config))
    server = Server(config)
    try:
        assert record(server, "ada@example.com", "support_triage", n=2) == 2
    finally:
        server.stop()

    url = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TACTFUL_")}
    console = subprocess.Popen(
        [str(TACTFUL), "console", "--config", str(config), "--listen", url.removeprefix("http://")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        _listening(url, console)
        with signed_in(url, COMPLIANCE) as client:
            page = client.get("/access-log")
            assert page.status_code == 200
            assert "tactful.v1.Personalization/RecordEvents" in page.text
            # A filter PostgreSQL cannot hold in text is refused on the page, not a 500.
            refused = client.get("/access-log", params={"principal": "a\x00"})
            assert refused.status_code == 200 and "U+0000" in refused.text
            # A scorecard is released from PostgreSQL's outcomes and budget ledger. No one
            # is scored yet, but whether each group is withheld rests on a noisy count,
            # so the page's groups are not asserted, only the release and its debit.
            card = release(client)
            assert card.status_code == 200, card.text  # type: ignore[attr-defined]
            assert "Spent epsilon 0.5; 0.5 of your budget left." in card.text  # type: ignore[attr-defined]
            assert "v1 treatment" in card.text  # type: ignore[attr-defined]
    finally:
        console.send_signal(signal.SIGTERM)
        console.communicate(timeout=30)

    settings = settings_of(config)
    log = stores.open_access_log(settings, KeyringWatcher(settings.keyring_path).keys("signing"))
    try:
        methods = {r.entry.method for r in log.query(AccessQuery(), after_sequence=0, limit=1000)}
    finally:
        log.close()
    assert "tactful.console/access-log" in methods  # its own views, in PostgreSQL
    assert "tactful.console/scorecards.release" in methods
    ledger = stores.open_budget_ledger(settings)
    try:
        assert [d.epsilon for d in ledger.debits()] == [0.5]  # the officer's, in PostgreSQL
    finally:
        ledger.close()
