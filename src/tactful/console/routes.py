"""The console as one web application: its routes (sign-in, the pages, the style sheet)
behind the security headers. Kept apart from app.py, which the pages and the sign-in
stand on, so that nothing in the console imports in a circle."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.responses import RedirectResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tactful.console import oidc_signin, pages, request_pages, signin
from tactful.console.app import HERE, Console
from tactful.console.security import SecurityHeaders


def create_app(console: Console) -> Starlette:
    """The console's routes, behind the security headers."""
    routes = [
        Route("/", lambda request: RedirectResponse("/access-log", status_code=303)),
        Route("/sign-in", signin.form(console), methods=["GET"]),
        Route("/sign-in", signin.sign_in(console), methods=["POST"]),
        Route("/sign-out", signin.sign_out(console), methods=["POST"]),
        *oidc_signin.routes(console),
        *pages.routes(console),
        *request_pages.routes(console),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(SecurityHeaders)
    return app
