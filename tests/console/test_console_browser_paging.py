"""The access log's paging in Chromium: an officer walks from the newest records to
older ones and back by the links, reaches the oldest page, and jumps to a time with
the datetime input, the filters kept all the way (pages of 3 records here)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.console.conftest import Filled
from tests.console.test_console_browser import chromium, page, sign_in, table_sequences  # noqa: F401  (fixtures)

SIZE = 3


def follow(tab: Any, name: str) -> list[int]:
    """Click the paging link `name` above the table; the sequences then shown."""
    with tab.expect_navigation():
        tab.locator("nav.paging").first.get_by_role("link", name=name, exact=True).click()
    return table_sequences(tab)


def links(tab: Any) -> list[str]:
    """The paging links above the table, in order."""
    return tab.locator("nav.paging").first.get_by_role("link").all_inner_texts()  # type: ignore[no-any-return]


def test_newer_older_oldest_and_a_jump_in_the_browser(
    page: Any,  # noqa: F811
    filled: Filled,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("tactful.console.pages.PAGE_SIZE", SIZE)
    widget = [r.sequence for r in filled.query(principal="support_widget")][::-1]
    assert len(widget) == 6  # newest first: two pages of 3
    sign_in(page, filled.url)
    page.goto(f"{filled.url}/access-log?principal=support_widget")
    assert table_sequences(page) == widget[:3]
    assert links(page) == ["Older", "Oldest"]
    assert follow(page, "Older") == widget[3:]
    assert links(page) == ["Newest", "Newer"]
    assert "principal=support_widget" in page.url
    assert follow(page, "Newer") == widget[:3]
    assert follow(page, "Oldest") == widget[3:]
    assert follow(page, "Newest") == widget[:3]

    page.fill("input[name=at]", "2001-01-01T00:00:00")  # before every record
    with page.expect_navigation():
        page.click("button:has-text('Show the records at and before it')")
    assert table_sequences(page) == [] and "principal=support_widget" in page.url
    assert "No records at or before that time match." in page.locator("table").inner_text()
    assert follow(page, "Newer") == widget[3:]
