"""The compliance console over HTTP: sign-in, refusals, the security headers, the
subject search, downloads, integrity, and the access records of every view."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from tactful.app.config_file import load_settings
from tactful.app.settings import ConfigError, ConsoleSettings
from tactful.app.tokens import TokenStore
from tactful.cli.main import main
from tests.cli.test_cli_audit import config_for
from tests.conftest import Tactful, email, token_for
from tests.console.conftest import (
    ALICE,
    COMPLIANCE,
    Filled,
    csrf_of,
    sequences_in,
    signed_in,
)

PAGES = [
    "/access-log",
    "/integrity",
    "/purposes",
    "/retention",
    "/requests",
    "/budget",
    "/scorecards",
    "/releases",
]


def console_records(filled: Filled, page: str) -> list[dict[str, object]]:
    return [record_as_dict_of(r) for r in filled.query(method=f"tactful.console/{page}")]


def record_as_dict_of(record: object) -> dict[str, object]:
    return {
        "principal": record.principal,  # type: ignore[attr-defined]
        "subjects": list(record.subjects),  # type: ignore[attr-defined]
        "reason": record.reason,  # type: ignore[attr-defined]
        "decision": record.decision,  # type: ignore[attr-defined]
        "role": record.role,  # type: ignore[attr-defined]
    }


def test_a_compliance_token_signs_in_with_a_strict_http_only_expiring_cookie(
    filled: Filled,
) -> None:
    with httpx.Client(base_url=filled.url, follow_redirects=False) as client:
        form = client.get("/sign-in")
        reply = client.post(
            "/sign-in", data={"token": token_for(COMPLIANCE), "csrf": csrf_of(form.text)}
        )
        assert reply.status_code == 303 and reply.headers["location"] == "/access-log"
        cookie = next(
            c for c in reply.headers.get_list("set-cookie") if c.startswith("tactful_console=")
        )
        attributes = cookie.lower()
        assert "httponly" in attributes and "samesite=strict" in attributes
        assert "max-age=28800" in attributes  # the default session_timeout, 8h
        assert "secure" not in attributes  # plaintext on the loopback
        assert client.get("/access-log").status_code == 200
    (signed,) = console_records(filled, "sign-in")
    assert signed["principal"] == COMPLIANCE and signed["decision"] == "allowed"


# privacy_ops signs in to the request workflow (test_console_subject_requests.py).
@pytest.mark.parametrize("principal", ["support_widget", "analyst"])
def test_every_other_role_is_refused_and_recorded(filled: Filled, principal: str) -> None:
    with httpx.Client(base_url=filled.url, follow_redirects=False) as client:
        form = client.get("/sign-in")
        reply = client.post(
            "/sign-in", data={"token": token_for(principal), "csrf": csrf_of(form.text)}
        )
        assert reply.status_code == 403
        assert "not a compliance officer" in reply.text
        assert "tactful_console=" not in reply.headers.get("set-cookie", "")
        assert client.get("/access-log").status_code == 303  # still signed out
    (refused,) = console_records(filled, "sign-in")
    assert refused["principal"] == principal and refused["decision"] == "denied"


def test_an_unknown_token_is_refused(filled: Filled) -> None:
    with httpx.Client(base_url=filled.url, follow_redirects=False) as client:
        form = client.get("/sign-in")
        reply = client.post("/sign-in", data={"token": "tf_nobody", "csrf": csrf_of(form.text)})
        assert reply.status_code == 403 and "Unknown token" in reply.text


@pytest.mark.parametrize("path", [*PAGES, "/records/1", "/access-log.csv", "/access-log.jsonl"])
def test_no_page_is_shown_without_sign_in(filled: Filled, path: str) -> None:
    with httpx.Client(base_url=filled.url, follow_redirects=False) as client:
        reply = client.get(path)
        assert reply.status_code == 303 and reply.headers["location"] == "/sign-in"
        assert client.post(
            path.split(".")[0] if path == "/access-log.csv" else path
        ).status_code in (
            403,
            405,
        )


def test_every_post_needs_its_csrf_token(filled: Filled) -> None:
    with httpx.Client(base_url=filled.url, follow_redirects=False) as anonymous:
        anonymous.get("/sign-in")  # has the cookie, but sends no token in the form
        reply = anonymous.post("/sign-in", data={"token": token_for(COMPLIANCE)})
        assert reply.status_code == 403
    with signed_in(filled.url) as client:
        for path, data in (
            ("/access-log", {"namespace": "email", "identifier": ALICE}),
            ("/integrity", {}),
        ):
            assert client.post(path, data=data).status_code == 403
            assert client.post(path, data={**data, "csrf": "forged"}).status_code == 403
        assert client.post("/sign-out", data={}).status_code == 403
        assert client.get("/access-log").status_code == 200  # still signed in


def test_every_response_carries_the_security_headers(filled: Filled) -> None:
    with signed_in(filled.url) as client:
        for path in ["/sign-in", *PAGES, "/static/console.css", "/nowhere"]:
            headers = client.get(path).headers
            policy = headers["content-security-policy"]
            assert "default-src 'none'" in policy and "script-src" not in policy
            assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
            assert headers["x-frame-options"] == "DENY"
            assert headers["cache-control"] == "no-store"
            assert "strict-transport-security" not in headers  # ignored over plain HTTP
        page = client.get("/purposes").text
        assert "<script" not in page and " style=" not in page
        assert "http://" not in page.replace(filled.url, "") and "https://" not in page


def test_a_subject_search_finds_exactly_that_persons_calls_without_the_identifier_in_a_url(
    filled: Filled,
) -> None:
    with signed_in(filled.url) as client:
        page = client.get("/access-log")
        reply = client.post(
            "/access-log",
            data={"csrf": csrf_of(page.text), "namespace": "email", "identifier": ALICE},
        )
        assert reply.status_code == 200
        found = sequences_in(reply.text)
        # What the API finds, up to the console's own record of this search: newest first.
        expected = [r.sequence for r in filled.query(subject=email(ALICE))]
        assert found == expected[:5][::-1] and len(found) == 5
        hrefs = [h for h in reply.text.split('href="')[1:] if ALICE in h.split('"')[0]]
        assert hrefs == []
        assert reply.text.count(ALICE) == 1  # in the search box only
        next_page = client.get(
            "/access-log?" + reply.text.split("/access-log.csv?")[1].split('"')[0]
        )
        assert ALICE not in next_page.text  # the search box is empty on a GET
        # The same search, by its handle: now with the console's record of the search.
        again = sequences_in(next_page.text)
        # ... and the compliance reads about her since (the console's, the API's).
        reads = {
            r.sequence
            for r in filled.query()
            if r.method.startswith(("tactful.console/", "tactful.v1.AccessLog/"))
        }
        assert again[-5:] == found and again[:-5] and set(again[:-5]) <= reads
    searches = [r for r in console_records(filled, "access-log") if r["subjects"]]
    assert searches, "the search is recorded with the subject's pseudonyms"
    assert ALICE not in json.dumps(searches)
    assert json.loads(str(searches[0]["reason"])) == {"namespace": "email"}


def test_a_bad_subject_is_refused_in_words(filled: Filled) -> None:
    with signed_in(filled.url) as client:
        page = client.get("/access-log")
        reply = client.post(
            "/access-log",
            data={"csrf": csrf_of(page.text), "namespace": "no_such", "identifier": "x"},
        )
        assert reply.status_code == 200 and sequences_in(reply.text) == []
        assert "namespace" in reply.text


def test_filters_narrow_the_table(filled: Filled) -> None:
    with signed_in(filled.url) as client:
        denied = sequences_in(client.get("/access-log?decision=denied").text)
        expected = [r.sequence for r in filled.query(decision="denied")]
        assert denied and denied == sorted((s for s in expected if s <= max(denied)), reverse=True)
        assert "is not a date" in client.get("/access-log?since=yesterday").text


def test_the_csv_download_is_what_audit_export_writes(
    filled: Filled, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with signed_in(filled.url) as client:
        download = client.get("/access-log.csv?purpose=support_triage")
        assert download.status_code == 200
        assert "attachment" in download.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert len(rows) >= 5
    config = str(config_for(filled.tactful, tmp_path))
    assert (
        main(
            [
                "audit",
                "export",
                "--format",
                "csv",
                "--purpose",
                "support_triage",
                "--config",
                config,
            ]
        )
        == 0
    )
    exported = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows == exported[: len(rows)] and len(exported) == len(rows)
    (recorded,) = console_records(filled, "access-log.export")
    assert json.loads(str(recorded["reason"])) == {"format": "csv", "purpose": "support_triage"}


def test_a_record_shows_its_hash_and_its_place_in_the_chain(filled: Filled) -> None:
    (first,) = [r for r in filled.query() if r.sequence == 2]
    with signed_in(filled.url) as client:
        page = client.get("/records/2").text
        assert first.record_hash in page and first.previous_hash in page
        assert 'href="/records/1"' in page and 'href="/records/3"' in page
        assert client.get("/records/999999").status_code == 404
    viewed, _missing = console_records(filled, "record")
    assert viewed["subjects"] == list(first.subjects)  # a view of a record about them


def test_the_integrity_page_names_the_first_bad_record(filled: Filled) -> None:
    with signed_in(filled.url) as client:
        assert "Intact:" in client.get("/integrity").text
        database = filled.tactful.settings.data_dir / "access_log.db"
        with closing(sqlite3.connect(database)) as conn, conn:
            (content,) = conn.execute("SELECT content FROM records WHERE sequence = 3").fetchone()
            conn.execute(
                "UPDATE records SET content = ? WHERE sequence = 3",
                [content.replace("support_widget", "support_widgex")],
            )
        page = client.get("/integrity")
        assert "Intact:" in page.text  # the verdict shown is the last one, until asked
        again = client.post("/integrity", data={"csrf": csrf_of(page.text)}).text
        assert "TAMPERED: first bad record" in again
        assert 'class="first-bad">3</a>' in again


def test_a_revoked_token_ends_its_session(filled: Filled) -> None:
    store = TokenStore(filled.tactful.settings.tokens_path)
    issued, token = store.issue(COMPLIANCE, now=filled.tactful.clock())
    with signed_in(filled.url, token=token) as client:
        assert client.get("/budget").status_code == 200
        store.revoke(token_id=issued.id, principal=None, now=filled.tactful.clock())
        assert client.get("/budget").status_code == 303


def test_a_session_expires(filled: Filled) -> None:
    with signed_in(filled.url) as client:
        assert client.get("/requests").status_code == 200
        filled.tactful.clock.advance(timedelta(hours=8))
        assert client.get("/requests").status_code == 303


def test_sign_out_ends_the_session(filled: Filled) -> None:
    with signed_in(filled.url) as client:
        page = client.get("/access-log")
        assert client.post("/sign-out", data={"csrf": csrf_of(page.text)}).status_code == 303
        assert client.get("/access-log").status_code == 303
    assert console_records(filled, "sign-out")


def test_every_page_view_is_recorded(filled: Filled) -> None:
    with signed_in(filled.url) as client:
        for path in PAGES:
            assert client.get(path).status_code == 200
    for path in PAGES:
        (view,) = console_records(filled, path.strip("/"))
        assert view["principal"] == COMPLIANCE and view["role"] == "compliance"


def test_the_pages_show_purposes_retention_requests_and_budget(filled: Filled) -> None:
    with signed_in(filled.url) as client:
        purposes = client.get("/purposes").text
        assert "support_triage: " in purposes and "legal basis:" in purposes
        assert "<svg" in purposes and "6 calls, 1 denied" in purposes  # one unauthenticated
        assert "onboarding" in purposes and "1 calls, 1 denied" in purposes
        assert "No retention run recorded" in client.get("/retention").text
        assert "None recorded." in client.get("/requests").text
        budget = client.get("/budget").text
        assert "analyst" in budget and "None yet." in budget


def test_the_console_config_table(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[console]\nlisten = "127.0.0.1:9090"\nsession_timeout = "30m"\n')
    console = load_settings(config, {}).console
    assert console == ConsoleSettings(listen="127.0.0.1:9090", session_timeout="30m")
    assert load_settings(None, {}).console.listen == "127.0.0.1:8080"
    for bad, message in (
        ('[console]\nlisen = "x"', "did you mean 'listen'"),
        ('[console]\nlisten = "nowhere"', "console.listen"),
        ('[console]\nsession_timeout = "0h"', "longer than 0"),
        ("[console]\nchart_days = 0", "chart_days"),
        ("console = 1", "must be a table"),
    ):
        config.write_text(bad + "\n")
        with pytest.raises(ConfigError, match=message):
            load_settings(config, {})


def test_tactful_console_refuses_plaintext_off_the_loopback(
    filled: Filled, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(config_for(filled.tactful, tmp_path))
    assert main(["console", "--config", config, "--listen", "0.0.0.0:0"]) == 1
    assert "not a loopback address" in capsys.readouterr().err


def test_over_tls_the_console_serves_https_and_its_cookie_is_secure(
    start_tactful: Callable[..., Tactful], tmp_path: Path
) -> None:
    import ssl
    from datetime import UTC, datetime

    from tactful.app._x509 import write_development_pki
    from tactful.app.settings import TlsSettings
    from tactful.cli.console import start_in_thread, with_listen

    pki = tmp_path / "pki"
    write_development_pki(pki, [], now=datetime.now(UTC))
    tactful = start_tactful()
    tls = TlsSettings(pki / "server.pem", pki / "server.key")
    console = start_in_thread(
        with_listen(replace(tactful.settings, tls=tls), "127.0.0.1:0"), clock=tactful.clock
    )
    try:
        assert console.url.startswith("https://127.0.0.1:")
        trusted = ssl.create_default_context(cafile=str(pki / "ca.pem"))
        with httpx.Client(base_url=console.url, verify=trusted, follow_redirects=False) as client:
            form = client.get("/sign-in")
            assert form.headers["strict-transport-security"] == "max-age=31536000"
            assert client.get("/nowhere").headers["strict-transport-security"]
            reply = client.post(
                "/sign-in", data={"token": token_for(COMPLIANCE), "csrf": csrf_of(form.text)}
            )
            assert reply.status_code == 303
            cookie = next(
                c for c in reply.headers.get_list("set-cookie") if c.startswith("tactful_console=")
            )
            assert "secure" in cookie.lower()
            assert client.get("/access-log").status_code == 200
        plain = console.url.replace("https://", "http://")
        with pytest.raises(httpx.HTTPError), httpx.Client(base_url=plain) as client:
            client.get("/sign-in")
    finally:
        console.stop()
