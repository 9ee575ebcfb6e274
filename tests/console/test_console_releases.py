"""The console's Releases page: per journey, the live playbook version and those kept
for a rollback, its guardrails, and the promotions, rollbacks and guardrail rollbacks
the command line recorded in the access log, with their reasons; over HTTP and in the
browser."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tactful.app import receipts
from tactful.app.config_file import load_settings
from tactful.cli.console import start_in_thread, with_listen
from tactful.cli.main import main
from tests.conftest import Tactful
from tests.console.conftest import Filled, signed_in
from tests.console.test_console_browser import chromium, screenshot, sign_in
from tests.journeys.test_guard_job import EXAMPLES, JOURNEY, decided

__all__ = ["chromium"]  # the browser, a fixture of the browser tests

GUARDRAIL = (
    "complaint rose from 3.0% (version 1, 400 decisions) to 11.0% (version 2, 400 decisions),"
    " more than the 2.0% allowed beyond chance (p = 0.0003, level 0.05)"
)


@pytest.fixture
def released(start_tactful: Callable[..., Tactful], tmp_path: Path) -> Iterator[Filled]:
    """A server over a copy of the example contract; `tactful journeys promote` makes
    checkout_recovery's version 2 live, its complaints rise from 3 % to 11 % over 400
    decisions a version, `tactful journeys guard` rolls it back; then a console."""
    folder = tmp_path / "contract"
    folder.mkdir()
    shutil.copy(EXAMPLES / "contract.toml", folder / "contract.toml")
    shutil.copytree(EXAMPLES / "playbooks", folder / "playbooks")
    tactful = start_tactful(contract=folder / "contract.toml")
    development = (EXAMPLES / "development.toml").read_text()
    development = development.replace(
        'contract = "contract.toml"', f'contract = "{folder / "contract.toml"}"'
    ).replace('listen = "127.0.0.1:50051"', "")
    config = tmp_path / "cli.toml"
    config.write_text(f'data_dir = "{tactful.settings.data_dir}"\n{development}\n')
    c = ("--config", str(config))
    text = (folder / "playbooks" / f"{JOURNEY}.toml").read_text()
    candidate = tmp_path / "candidate.toml"
    candidate.write_text(text.replace("version = 1", 'version = 2\nchanges = "one retry a day"', 1))
    assert (
        main(["journeys", "promote", JOURNEY, str(candidate), "--reason", "fewer retries", *c]) == 0
    )
    decided(config, 1, 400, 12)  # 3 %
    decided(config, 2, 400, 44)  # 11 %
    assert main(["journeys", "guard", *c]) == 1
    retention = (folder / "playbooks" / "account_retention.toml").read_text()
    second = tmp_path / "retention.toml"
    second.write_text(
        retention.replace("version = 1", 'version = 2\nchanges = "a calmer offer"', 1)
    )
    stage = ["journeys", "promote", "account_retention", str(second), "--share", "0.25"]
    assert main([*stage, "--reason", "a quarter first", *c]) == 0
    for reason in (
        "by hand, in another form",
        "journey onboarding: version 1 -> 2 (staged at share 0.1): a tenth first",
    ):
        receipts.record_in(load_settings(config, {}), "journeys", "promote", role="admin",
                           now=datetime.now(UTC), reason=reason)  # fmt: skip
    console = start_in_thread(with_listen(replace(tactful.settings), "127.0.0.1:0"),
                              clock=tactful.clock)  # fmt: skip
    yield Filled(tactful, console)
    console.stop()


def cells(html: str, journey: str) -> list[list[str]]:
    section = html.split(f'id="journey-{journey}"', 1)[1].split("</section>", 1)[0]
    rows = re.findall(r"<tr class=\"\w+\">(.*?)</tr>", section, flags=re.S)
    return [[re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td>(.*?)</td>", r)] for r in rows]


def test_each_journey_shows_its_live_version_and_the_guardrail_rollback(released: Filled) -> None:
    with signed_in(released.url) as client:
        page = client.get("/releases")
    assert page.status_code == 200
    html = page.text
    assert '<a href="/releases" aria-current="page">Releases</a>' in html
    assert re.search(r"Live: <strong>version 1</strong> <code>sha256:[0-9a-f]{12}</code>", html)
    order = [html.index(f'id="journey-{j}"') for j in ("onboarding", "account_retention", JOURNEY)]
    assert order == sorted(order)  # the journeys released most recently first
    assert "Kept for a rollback: v2." in html
    assert re.search(
        r"Staged: <strong>version 2</strong> <code>sha256:[0-9a-f]{12}</code> serves 25% of "
        r"the treatment arm; changes: a calmer offer; the live version serves the rest\.",
        html.split('id="journey-account_retention"', 1)[1],
    )
    alert = re.search(r'<p class="warning rolled-back" role="alert">(.*?)</p>', html, re.S)
    assert alert, "no guardrail rollback said"
    said = re.sub(r"on \S+ \S+ UTC", "on T UTC", alert.group(1))
    assert said == f"Version 2 was rolled back automatically by guardrail on T UTC: {GUARDRAIL}."
    rows = cells(html, JOURNEY)
    assert [(r[2], r[3], r[5]) for r in rows] == [
        ("rolled back automatically by guardrail", "2 → 1", GUARDRAIL),
        ("promoted", "1 → 2", "fewer retries"),
    ]
    assert all(r[4].startswith("cli:") for r in rows)  # who ran the command
    assert "Guardrails: complaint +2.0%, fallback +10.0% at most, beyond chance at the 0.05 " \
           "level, over 400 treated decisions a version." in html  # fmt: skip
    onboarding = html.split('id="journey-onboarding"', 1)[1].split("</section>", 1)[0]
    assert "No guardrails declared." in onboarding
    [staged] = cells(html, "onboarding")  # a staged rollout's share, beside the versions
    assert (
        staged[2:4] == ["promoted", "1 → 2 (staged at share 0.1)"] and staged[5] == "a tenth first"
    )
    [(_, _, what, versions, _, why)] = cells(html, "account_retention")
    assert (what, versions, why) == ("promoted", "1 → 2 (staged at share 0.25)", "a quarter first")
    others = html.split("<h2>Other journeys</h2>", 1)[1]
    assert "by hand, in another form" in others
    [record] = released.query(method="tactful.console/releases")
    assert record.principal == "compliance_officer"
    assert json.loads(record.reason) == {"journeys": 6, "records": 5}


def test_signed_out_the_page_sends_you_to_sign_in(released: Filled) -> None:
    with httpx.Client(base_url=released.url, follow_redirects=False) as client:
        reply = client.get("/releases")
    assert reply.status_code == 303 and reply.headers["location"] == "/sign-in"
    assert released.query(method="tactful.console/releases") == []


def test_in_the_browser_an_officer_finds_the_guardrail_rollback(
    chromium: object, released: Filled, tmp_path: Path
) -> None:
    context = chromium.new_context(viewport={"width": 1200, "height": 760})  # type: ignore[attr-defined]
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        sign_in(page, released.url)
        page.click("nav a:has-text('Releases')")
        assert page.url == f"{released.url}/releases"
        section = page.locator(f"#journey-{JOURNEY}")
        alert = section.locator("p.rolled-back").inner_text()
        assert alert.startswith("Version 2 was rolled back automatically by guardrail on ")
        assert alert.endswith(f"UTC: {GUARDRAIL}.")
        assert section.locator("p.live strong").inner_text() == "version 1"
        assert section.locator("table.releases tbody tr").count() == 2
        screenshot(page, "releases", tmp_path)
        section.locator("table.releases tbody tr.guard td a").click()
        assert re.fullmatch(rf"{released.url}/records/\d+", page.url)
        assert "tactful.cli/journeys.guard" in page.content()
    finally:
        context.close()
    assert problems == []
