"""`tactful console`: the compliance officers' web pages, served by uvicorn.

It runs beside `tactful serve` on the same data folder (or on another machine that
reads the same stores): it takes no lock, only reads, and writes nothing but its
own access records, through the access log, which several processes may append
to. TLS is the `[tls]` certificate and key of the gRPC server; plaintext is
refused off the loopback unless `allow_insecure = true`, as for `serve`.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import uvicorn

from tactful.api.tls import check_transport
from tactful.app.settings import ConsoleSettings, Settings, parse_listen
from tactful.console.app import Console
from tactful.console.routes import create_app
from tactful.console.sources import Sources


def register(
    commands: Any,
    settings_of: Callable[[argparse.Namespace], Settings],
    config_option: Callable[[argparse.ArgumentParser], None],
) -> None:
    console = commands.add_parser(
        "console",
        help="serve the compliance web pages (default: [console] listen, else 127.0.0.1:8080)",
        description="Serve the compliance console: the access log, its integrity, the "
        "purposes, retention receipts, data-subject requests and the privacy budget, "
        "for a principal with role compliance. Read-only; every page view is recorded.",
    )
    config_option(console)
    console.add_argument(
        "--listen", metavar="HOST:PORT", help="address to listen on (default: [console] listen)"
    )
    console.set_defaults(run=lambda args: _console(settings_of(args), args))


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class RunningConsole:
    """A console serving on a thread of its own (for tests and benchmarks)."""

    url: str
    console: Console
    _server: uvicorn.Server
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self.console.close()


def build(
    settings: Settings, *, clock: Callable[[], datetime] = _utc_now
) -> tuple[uvicorn.Server, Console]:
    """The console's uvicorn server, as `settings` say, and the console it serves (to
    close once it stops); refuses plaintext off the loopback."""
    host, port = parse_listen(settings.console.listen)
    check_transport(settings, host)
    console = Console(
        settings, Sources(settings, clock=clock), clock=clock, secure=bool(settings.tls)
    )
    tls = settings.tls
    config = uvicorn.Config(
        create_app(console),
        host=host.strip("[]"),
        port=port,
        ssl_certfile=str(tls.cert) if tls else None,
        ssl_keyfile=str(tls.key) if tls else None,
        log_level="warning",
        access_log=False,  # the access log records every view; URLs hold no identifier
        server_header=False,
        proxy_headers=False,
        lifespan="off",
    )
    return uvicorn.Server(config), console


def start_in_thread(
    settings: Settings, *, clock: Callable[[], datetime] = _utc_now
) -> RunningConsole:
    """Start the console on its own thread and wait until it listens."""
    server, console = build(settings, clock=clock)
    thread = threading.Thread(target=server.run, name="tactful-console-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the console did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    host = settings.console.listen.rpartition(":")[0]
    scheme = "https" if settings.tls else "http"
    return RunningConsole(f"{scheme}://{host}:{port}", console, server, thread)


def with_listen(settings: Settings, listen: str) -> Settings:
    return replace(settings, console=replace(settings.console, listen=listen))


def _console(settings: Settings, args: argparse.Namespace) -> int:
    if args.listen:
        settings = with_listen(settings, args.listen)
    server, console = build(settings)
    host, port = parse_listen(settings.console.listen)
    scheme = "https" if settings.tls else "http"
    print(
        f"tactful: console on {scheme}://{host}:{port} (data in {settings.data_dir}); "
        "sign in with a compliance principal's token",
        flush=True,
    )
    if settings.development:
        print(
            "tactful: development default: use the compliance_officer token that "
            "`tactful serve` printed (valid while it runs)",
            flush=True,
        )
    try:
        server.run()
    finally:
        console.close()
    return 0


__all__ = ["ConsoleSettings", "RunningConsole", "build", "start_in_thread", "with_listen"]
