"""The HTTP/JSON door from a real browser (Debian's headless chromium through
Playwright): a page served from a declared origin calls NextAction with `fetch` and
shows the action; the same page from an undeclared origin is refused by CORS."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tactful.app.settings import HttpSettings
from tests.api.test_http_door import records
from tests.conftest import Tactful, token_for
from tests.console.test_console_browser import chromium  # noqa: F401 (a fixture)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>shop</title></head>
<body><p id="action">waiting</p>
<script>
fetch(DOOR + "/v1/journeys/support_triage:nextAction", {
  method: "POST",
  headers: {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"},
  body: JSON.stringify({subject: {namespace: "email", id: "ada@example.com"},
                        channel: "web", step: "help"}),
})
  .then((reply) => reply.json())
  .then((decision) => { document.getElementById("action").textContent = decision.action.id; })
  .catch((error) => { document.getElementById("action").textContent = "refused: " + error; });
</script></body></html>
"""


class Shop:
    """The shop's web server: one page, calling the door with a token."""

    def __init__(self) -> None:
        self.page = b""
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(shop.page)))
                self.end_headers()
                self.wfile.write(shop.page)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def serve(self, door: str, token: str) -> None:
        script = f"const DOOR = {json.dumps(door)}; const TOKEN = {json.dumps(token)};\n"
        self.page = PAGE.replace("<script>\n", f"<script>\n{script}").encode()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture
def shop() -> Iterator[Shop]:
    shop = Shop()
    yield shop
    shop.close()


def shown(browser: object, url: str) -> str:
    """What the page shows once its call is answered (or refused)."""
    context = browser.new_context()  # type: ignore[attr-defined]
    try:
        tab = context.new_page()
        tab.goto(url)
        tab.wait_for_function("document.getElementById('action').textContent !== 'waiting'")
        return str(tab.text_content("#action"))
    finally:
        context.close()


def test_a_page_from_a_declared_origin_gets_the_next_action(
    chromium: object,  # noqa: F811 (the fixture)
    start_tactful: Callable[..., Tactful],
    shop: Shop,
) -> None:
    # One page server, two origins: http://127.0.0.1:PORT is declared, localhost is not.
    declared = f"http://127.0.0.1:{shop.port}"
    tactful = start_tactful(http=HttpSettings("127.0.0.1:0", (declared,)))
    door = tactful._running.door
    assert door is not None
    shop.serve(f"http://127.0.0.1:{door.port}", token_for("support_widget"))

    action = shown(chromium, f"{declared}/")
    assert action and not action.startswith("refused"), action
    refused = shown(chromium, f"http://localhost:{shop.port}/")
    assert refused.startswith("refused: TypeError"), refused  # CORS: the call never left

    (record,) = records(tactful, "tactful.v1.Journeys/NextAction")
    assert record.principal == "support_widget"
    assert f"action:{action}" in record.released  # what the page shows is what was decided
