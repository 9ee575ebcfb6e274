"""The data-subject request workflow in a real browser (Debian's headless chromium,
as tests/console/test_console_browser.py drives it): one person of privacy operations
receives an erasure, a second approves it, and the receipt shows; the person is gone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.conftest import ALICE, BOB
from tests.console.test_console_browser import chromium, screenshot, sign_in  # noqa: F401
from tests.console.test_console_subject_requests import APPROVER, REQUESTER, Console, console

__all__ = ["chromium", "console"]  # fixtures, used by name


@pytest.fixture
def tab(chromium: object, console: Console) -> Iterator[object]:  # noqa: F811
    context = chromium.new_context(viewport={"width": 1200, "height": 760})  # type: ignore[attr-defined]
    yield context
    context.close()


@pytest.mark.parametrize("console", ["sqlite"], indirect=True)
def test_receive_approve_by_another_and_see_the_receipt(
    tab: object,
    console: Console,
    tmp_path: Path,  # noqa: F811
) -> None:
    requester = tab.new_page()  # type: ignore[attr-defined]
    sign_in(requester, console.url, REQUESTER)
    assert requester.url.endswith("/subject-requests")  # privacy_ops lands on the workflow
    requester.select_option("select[name=kind]", "erasure")
    requester.fill("input[name=namespace]", "email")
    requester.fill("input[name=identifier]", ALICE)
    requester.click("button:has-text('Receive')")
    heading = requester.locator("h1").inner_text()
    assert "erasure" in heading and "received" in heading
    assert requester.locator("button:has-text('Approve')").count() == 0  # not their own
    request_url = requester.url
    requester.context.clear_cookies()  # another person, at another desk

    approver = tab.new_page()  # type: ignore[attr-defined]
    sign_in(approver, console.url, APPROVER)
    approver.goto(request_url)
    approver.fill("textarea[name=note]", "identity checked against ticket 4411")
    approver.click("button:has-text('Approve and erase')")
    assert "executed" in approver.locator("h1").inner_text()
    receipt = approver.locator("section.receipt")
    assert "rows deleted" in receipt.inner_text() and "access record" in receipt.inner_text()
    assert "behavior.events" in receipt.locator("table").inner_text()
    screenshot(approver, "subject-request-receipt", tmp_path)

    assert console.export(ALICE)["events"] == [] and console.export(BOB)["events"]
