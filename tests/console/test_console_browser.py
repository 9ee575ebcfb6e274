"""The compliance console in a real browser: Debian's headless chromium, driven by
Playwright's Python API, against a console over a store filled through the gRPC API.

Without /usr/bin/chromium these tests skip, except in CI (the CI variable set, as
.ci/run does, after .ci/browser-deps installed it), where that is a failure.
Screenshots are taken of the main pages; with TACTFUL_CONSOLE_SCREENSHOTS=DIR they
are also kept there (docs/console/ holds the committed ones).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from tactful.cli.main import main
from tactful.storage.sqlite.journey_outcomes import SqliteJourneyOutcomes
from tests.cli.test_cli_audit import config_for
from tests.conftest import email, token_for
from tests.console.conftest import ALICE, COMPLIANCE, Filled

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: run .ci/browser-deps (Debian's chromium package)"
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot be skipped in CI: {message}")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: object, filled: Filled) -> Iterator[object]:
    context = chromium.new_context(  # type: ignore[attr-defined]
        viewport={"width": 1200, "height": 760}, accept_downloads=True
    )
    tab = context.new_page()
    elsewhere: list[str] = []
    tab.on("request", lambda r: None if r.url.startswith(filled.url) else elsewhere.append(r.url))
    yield tab
    context.close()
    assert elsewhere == [], "the console asked another host for something"


def screenshot(page: object, name: str, tmp_path: Path) -> None:
    """A picture of the page. Chromium sometimes answers "Unable to capture screenshot"
    on a busy machine (its compositor missed a frame): tried three times."""
    from playwright.sync_api import Error

    path = tmp_path / f"{name}.png"
    for attempt in range(3):  # bounded
        try:
            page.screenshot(path=str(path))  # type: ignore[attr-defined]
            break
        except Error as exc:
            if "Unable to capture screenshot" not in str(exc) or attempt == 2:
                raise
            page.wait_for_timeout(500)  # type: ignore[attr-defined]
    assert path.stat().st_size > 1000
    keep = os.environ.get("TACTFUL_CONSOLE_SCREENSHOTS")
    if keep:
        shutil.copy(path, Path(keep) / path.name)


def sign_in(page: object, url: str, principal: str = COMPLIANCE) -> None:
    page.goto(f"{url}/sign-in")  # type: ignore[attr-defined]
    page.fill("input[name=token]", token_for(principal))  # type: ignore[attr-defined]
    page.click("button:has-text('Sign in')")  # type: ignore[attr-defined]


def table_sequences(page: object) -> list[int]:
    cells = page.locator("table.records tbody td:first-child a").all_inner_texts()  # type: ignore[attr-defined]
    return [int(c) for c in cells]


def test_sign_in_find_a_persons_calls_open_one_and_download_them(
    page: object, filled: Filled, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sign_in(page, filled.url)
    assert page.url == f"{filled.url}/access-log"  # type: ignore[attr-defined]
    screenshot(page, "access-log", tmp_path)

    page.fill("input[name=namespace]", "email")  # type: ignore[attr-defined]
    page.fill("input[name=identifier]", ALICE)  # type: ignore[attr-defined]
    page.click("button:has-text('Filter')")  # type: ignore[attr-defined]
    found = table_sequences(page)
    expected = [r.sequence for r in filled.query(subject=email(ALICE))]
    assert found == expected[:5][::-1] and len(found) == 5  # newest first
    assert ALICE not in page.url  # type: ignore[attr-defined]
    screenshot(page, "subject-search", tmp_path)

    with page.expect_download() as downloading:  # type: ignore[attr-defined]
        page.click("a:has-text('CSV')")  # type: ignore[attr-defined]
    rows = list(csv.DictReader(io.StringIO(Path(downloading.value.path()).read_text())))
    config = str(config_for(filled.tactful, tmp_path))
    argv = ["audit", "export", "--format", "csv", "--namespace", "email", "--id", ALICE]
    assert main([*argv, "--config", config]) == 0
    exported = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows and rows == exported[: len(rows)]
    assert [int(r["sequence"]) for r in rows[:5]] == found[::-1]  # the download: oldest first

    page.click(f"table.records a:text-is('{found[0]}')")  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == f"Record {found[0]}"  # type: ignore[attr-defined]
    (record,) = [r for r in filled.query() if r.sequence == found[0]]
    assert record.record_hash in page.content()  # type: ignore[attr-defined]
    screenshot(page, "record", tmp_path)

    page.click("a:has-text('Purposes')")  # type: ignore[attr-defined]
    assert page.locator("svg.chart").count() >= 7  # type: ignore[attr-defined]
    page.locator("#support_triage").scroll_into_view_if_needed()  # type: ignore[attr-defined]
    screenshot(page, "purposes", tmp_path)


def test_the_integrity_page_names_the_first_bad_record(
    page: object, filled: Filled, tmp_path: Path
) -> None:
    sign_in(page, filled.url)
    page.click("a:has-text('Integrity')")  # type: ignore[attr-defined]
    assert "Intact:" in page.locator("p[role=status]").inner_text()  # type: ignore[attr-defined]
    database = filled.tactful.settings.data_dir / "access_log.db"
    with closing(sqlite3.connect(database)) as conn, conn:  # as the corruption matrix does
        (content,) = conn.execute("SELECT content FROM records WHERE sequence = 4").fetchone()
        conn.execute(
            "UPDATE records SET content = ? WHERE sequence = 4",
            [content.replace("GetSegments", "GetSignals")],
        )
    page.click("button:has-text('Verify now')")  # type: ignore[attr-defined]
    alert = page.locator("p.tampered").inner_text()  # type: ignore[attr-defined]
    assert alert.startswith("TAMPERED: first bad record 4:")
    screenshot(page, "integrity-tampered", tmp_path)


def test_a_frontend_token_is_refused(page: object, filled: Filled, tmp_path: Path) -> None:
    sign_in(page, filled.url, "support_widget")
    assert page.url == f"{filled.url}/sign-in"  # type: ignore[attr-defined]
    assert "not a compliance officer" in page.locator("p[role=alert]").inner_text()  # type: ignore[attr-defined]
    page.goto(f"{filled.url}/access-log")  # type: ignore[attr-defined]
    assert page.url == f"{filled.url}/sign-in"  # type: ignore[attr-defined]
    screenshot(page, "sign-in-refused", tmp_path)


def test_release_a_scorecard_and_see_its_uplift_chart(
    page: object, filled: Filled, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.console.test_console_scorecards import scored_rows

    monkeypatch.setattr(SqliteJourneyOutcomes, "scored", lambda self, j, s, u: scored_rows())
    monkeypatch.delattr(SqliteJourneyOutcomes, "tallied")  # tally those rows
    problems: list[str] = []  # the browser's own favicon request (404) aside
    page.on(  # type: ignore[attr-defined]
        "console",
        lambda m: (
            problems.append(f"{m.text} at {m.location.get('url', '')}")
            if m.type in ("error", "warning") and "favicon" not in m.location.get("url", "")
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))  # type: ignore[attr-defined]
    sign_in(page, filled.url)
    page.click("nav a:has-text('Scorecards')")  # type: ignore[attr-defined]
    assert page.url == f"{filled.url}/scorecards"  # type: ignore[attr-defined]
    assert page.locator("svg.chart").count() == 0  # type: ignore[attr-defined]
    page.select_option("select[name=journey]", "support_triage")  # type: ignore[attr-defined]
    page.select_option("select[name=days]", "7")  # type: ignore[attr-defined]
    page.fill("input[name=epsilon]", "0.5")  # type: ignore[attr-defined]
    with page.expect_navigation():  # type: ignore[attr-defined]  # the reply to the POST
        page.click("button:has-text('Release the scorecard')")  # type: ignore[attr-defined]
    chart = page.locator("svg.chart.uplift")  # type: ignore[attr-defined]
    assert chart.count() == 1 and chart.locator("rect").count() == 1
    assert chart.locator("line.whisker").count() == 3
    assert chart.get_attribute("aria-label").startswith("Uplift per playbook version: v1:")
    assert "0.5 of your budget left" in page.locator("p.spent").inner_text()  # type: ignore[attr-defined]
    assert page.locator("p.withheld").count() == 1  # type: ignore[attr-defined]
    assert page.locator("table.statistics tbody tr").count() >= 3  # type: ignore[attr-defined]
    screenshot(page, "scorecard", tmp_path)
    page.fill("input[name=epsilon]", "0.75")  # type: ignore[attr-defined]
    with page.expect_navigation():  # type: ignore[attr-defined]  # the reply to the POST
        page.click("button:has-text('Release the scorecard')")  # type: ignore[attr-defined]
    alert = page.locator("p.exhausted").inner_text()  # type: ignore[attr-defined]
    assert alert.startswith("Your privacy budget is spent: 0.5 of epsilon 1.0 is left")
    assert page.locator("svg.chart").count() == 0  # type: ignore[attr-defined]
    refused = f"the server responded with a status of 429 (Too Many Requests) at {filled.url}/"
    assert problems == [f"Failed to load resource: {refused}scorecards"], problems
