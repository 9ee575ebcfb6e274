"""Signing in with the OpenID Connect provider in a real browser (Debian's chromium):
the provider on another site (localhost) than the console (127.0.0.1), as a company's
is, so that the browser applies its cross-site cookie rules: the state's cookie must
come back with the provider's redirect, and the Strict session cookie must be sent
on the first page after it."""

from __future__ import annotations

from collections.abc import Callable

from tests.console.test_console_browser import chromium  # noqa: F401 (a fixture)
from tests.console.test_console_oidc import OidcConsole, start_oidc  # noqa: F401 (a fixture)


def test_an_officer_signs_in_with_the_provider_in_a_browser(
    chromium: object,  # noqa: F811
    start_oidc: Callable[..., OidcConsole],  # noqa: F811
) -> None:
    console = start_oidc(host="localhost")
    console.provider.login_page = True
    context = chromium.new_context()  # type: ignore[attr-defined]
    try:
        tab = context.new_page()
        tab.goto(f"{console.url}/sign-in")
        tab.get_by_role("link", name="Sign in with Example SSO").click()
        tab.get_by_role("button", name="Log in").click()  # on the provider's site
        tab.wait_for_url(f"{console.url}/access-log*")
        assert tab.get_by_role("heading", level=1).first.inner_text() == "Access log"
        assert console.principal in tab.locator("header").inner_text()
        tab.get_by_role("button", name="Sign out").click()
        tab.wait_for_url(f"{console.url}/sign-in")
    finally:
        context.close()
    assert [(r.principal, r.decision) for r in console.sign_ins()] == [
        (console.principal, "allowed")
    ]
