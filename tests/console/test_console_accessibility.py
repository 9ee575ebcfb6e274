"""Every console page in Chromium, checked by axe-core against WCAG 2.0, 2.1 and 2.2
A and AA: signed in, with records, a subject search, a released scorecard and a
refusal on the pages, and the sign-in form before and after a refused token. A
serious or critical finding fails the test with the list of what and where.

axe-core's axe.min.js comes from the axe-playwright-python package (the dev extra,
pinned and hashed in requirements.lock); only the file is used. The console's
content security policy allows no inline script, so the checking context bypasses it
to inject axe (the pages' own policy is tested in test_console.py).

Every page is reached from the console's own routes: a GET page added to the console
is checked here without a line changed, or the test names it as unvisited.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.resources import files
from typing import Any

import pytest
from starlette.routing import Route

from tactful.console.routes import create_app
from tactful.storage.sqlite.journey_outcomes import SqliteJourneyOutcomes
from tests.console.conftest import ALICE, Filled
from tests.console.test_console_browser import chromium, sign_in, table_sequences  # noqa: F401  (chromium: a fixture)
from tests.console.test_console_scorecards import scored_rows

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
FAILING = ("serious", "critical")
# Not pages: a redirect, the downloads (files) and a form's target.
NOT_PAGES = {"/", "/access-log.csv", "/access-log.jsonl", "/sign-out"}


def axe_source() -> str:
    return (files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")


@pytest.fixture
def checking(
    chromium: Any,  # noqa: F811  (the fixture imported above)
    filled: Filled,
) -> Iterator[Any]:
    """A tab whose pages axe can be injected into."""
    context = chromium.new_context(viewport={"width": 1200, "height": 760}, bypass_csp=True)
    yield context.new_page()
    context.close()


def violations(page: Any) -> list[str]:
    """axe-core's serious and critical findings on the page shown, one line each."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_source())
    results = page.evaluate("async (tags) => await axe.run(document, {runOnly: tags})", TAGS)
    found = []
    for v in results["violations"]:
        if v["impact"] not in FAILING:
            continue
        for node in v["nodes"]:
            summary = " ".join(node.get("failureSummary", "").split())
            found.append(
                f"{page.url}: {v['id']} ({v['impact']}): {v['help']} at "
                f"{', '.join(map(str, node['target']))}: {summary} [{v['helpUrl']}]"
            )
    return found


def get_pages(filled: Filled) -> set[str]:
    """The console's GET pages without a parameter in their path."""
    app = create_app(filled.console.console)
    return {
        r.path
        for r in app.routes
        if isinstance(r, Route) and "GET" in (r.methods or ()) and "{" not in r.path
    } - NOT_PAGES


def test_axe_finds_nothing_serious_on_any_console_page(
    checking: Any, filled: Filled, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SqliteJourneyOutcomes, "scored", lambda self, j, s, u: scored_rows())
    monkeypatch.delattr(SqliteJourneyOutcomes, "tallied")
    page, url = checking, filled.url
    found: list[str] = []
    visited: set[str] = set()

    def check(path: str) -> None:
        visited.add(path.split("?")[0])
        found.extend(violations(page))

    page.goto(f"{url}/sign-in")
    check("/sign-in")
    page.fill("input[name=token]", "tf_not_a_token")
    page.click("button:has-text('Sign in')")
    assert page.locator("p[role=alert]").count() == 1
    check("/sign-in")  # with its error

    sign_in(page, url)
    for path in sorted(get_pages(filled) - {"/sign-in"}):
        page.goto(f"{url}{path}")
        assert page.url.startswith(f"{url}{path}"), (
            f"GET {path} sent the browser to {page.url}: if it is no page (a redirect, a "
            "download, a form's target), add it to NOT_PAGES, saying why"
        )
        check(path)

    page.goto(f"{url}/access-log")  # a subject search, its results and paging links
    page.fill("input[name=namespace]", "email")
    page.fill("input[name=identifier]", ALICE)
    page.click("button:has-text('Filter')")
    assert table_sequences(page)
    check("/access-log")
    page.goto(f"{url}/access-log?since=yesterday")  # a refused filter, in words
    assert page.locator("p.problem").count() == 1
    check("/access-log")
    sequence = table_sequences(page)[0]
    page.goto(f"{url}/records/{sequence}")
    check(f"/records/{sequence}")
    page.goto(f"{url}/records/999999")  # the refusal page
    check("/records/999999")
    page.goto(f"{url}/scorecards")  # a released scorecard, with its chart
    page.select_option("select[name=journey]", "support_triage")
    page.select_option("select[name=days]", "7")
    page.fill("input[name=epsilon]", "0.5")
    with page.expect_navigation():
        page.click("button:has-text('Release the scorecard')")
    assert page.locator("svg.chart").count() == 1
    check("/scorecards")

    assert get_pages(filled) <= visited, "pages axe did not check"
    assert not found, "axe-core found serious or critical problems:\n" + "\n".join(found)
