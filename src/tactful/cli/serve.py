"""`tactful serve`: one server per data folder, held by an OS lock while it serves.

The lock (`fcntl.flock` on `<data_dir>/serve.lock`) is released when the process
exits, however it exits, so a crash never leaves the folder locked. The jobs meant
to run beside the server (retention, rekey, subject requests, audit, tokens) do
not take it.

With no --config (the development default) each principal gets a fresh token,
kept in the token file marked `development`, so `tactful tokens revoke` reaches it
like any other; they are dropped when the server stops, and at its next start if
it did not stop cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from tactful.api import logs
from tactful.api.server import create_server
from tactful.app import stores
from tactful.app.domain import utc_now
from tactful.app.settings import ConfigError, Settings, parse_listen
from tactful.app.tokens import TokenError, TokenStore
from tactful.app.vault_rotation import VaultEpochSchedule
from tactful.cli import db as cli_db
from tactful.cli import workers
from tactful.lifecycle.errors import LifecycleError
from tactful.privacy.errors import PrivacyError
from tactful.privacy.keyring import create_keyring, upgrade_keyring

LOCK_FILE = "serve.lock"


def register(
    commands: Any,
    settings_of: Callable[[argparse.Namespace], Settings],
    config_option: Callable[[argparse.ArgumentParser], None],
) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the gRPC service",
        description="Run the gRPC service. With no --config: the embedded development "
        "default (examples/development.toml, data in ./.tactful, keyring created on first "
        "start, the example contract, a fresh token per principal printed at start). With "
        "[http] listen in the config, the same API is served as HTTP/JSON there too.",
    )
    config_option(serve)
    serve.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="address to listen on; port 0 picks a free port (default: 127.0.0.1:50051)",
    )
    serve.add_argument(
        "--workers",
        metavar="N",
        type=_worker_count,
        help="serve from N processes sharing the port (and the [http] door's), one core "
        "each; a supervisor restarts a worker that dies and passes SIGTERM/SIGINT on to "
        "all; above 1, PostgreSQL only (SQLite has one writer per file), each worker "
        "keeping its own access-log chain and its metrics on [metrics] listen's port plus "
        "its number (default: `workers` in the config, else 1)",
    )
    serve.set_defaults(run=lambda args: _serve(settings_of(args), args))


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    if args.listen:
        settings = replace(settings, listen=args.listen)
    if args.workers:
        settings = replace(settings, workers=args.workers)
    if settings.log_format != "json":
        return _serve_saying(settings, _say_text)
    # `[log] format = "json"`: every line the process writes is a JSON line, what it
    # prints at start and stop and why it could not start included.
    with logs.json_everywhere():
        try:
            return _serve_saying(settings, _say_json)
        except SystemExit as exc:
            if not isinstance(exc.code, str):
                raise
            _say_json(exc.code.removeprefix("tactful: "), level="error", file=sys.stderr)
            raise SystemExit(1) from None
        except Exception as exc:
            known = isinstance(
                exc, (ConfigError, PrivacyError, LifecycleError, TokenError, OSError)
            )
            error = "" if known else traceback.format_exc()
            _say_json(str(exc) or type(exc).__name__, level="error", error=error, file=sys.stderr)
            return 1


Say = Callable[[str], None]


def _say_text(line: str) -> None:
    # The line and its newline in one write: workers share the supervisor's stdout.
    print(f"tactful: {line}\n", end="", flush=True)


def _say_json(
    line: str, *, level: str = "info", error: str = "", file: TextIO | None = None
) -> None:
    said = logs.event_line(line, now=time.time(), level=level, error=error)
    print(f"{said}\n", end="", file=file, flush=True)  # one write, as in _say_text


def _serve_saying(settings: Settings, say: Say) -> int:
    workers.refuse_unshared(settings)  # SQLite: one writer per file
    with serving_lock(settings.data_dir):
        _check_listen(settings.listen)
        cli_db.check_schemas(settings)  # PostgreSQL: refuse tables older or newer than known
        tokens = stores.open_tokens(settings, listen=False)
        try:
            announce = _development(settings, tokens) if settings.development else []
            if settings.workers > 1:
                return _supervise(settings, announce, say)
            asyncio.run(_run(settings, announce, say))
        finally:
            if settings.development:
                tokens.drop_development()
            tokens.close()
    return 0


def _worker_count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 256:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers from 1 to 256")
    return int(text)


def _supervise(settings: Settings, announce: list[str], say: Say) -> int:
    """`--workers N`: the supervisor, while this process holds the data folder."""
    for line in announce:
        say(line)
    return workers.Supervisor(workers.with_concrete_port(settings)).run()


@contextlib.contextmanager
def serving_lock(data_dir: Path) -> Iterator[None]:
    """Hold the data folder for this process, or refuse in one line."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = data_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit(
                f"tactful: another `tactful serve` is already serving the data folder "
                f"{data_dir} (it holds {path}); stop it first, or give another data_dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # for the operator: who holds it
        yield
    finally:
        os.close(fd)  # and with it the lock


def _development(settings: Settings, tokens: TokenStore) -> list[str]:
    """Create or upgrade the development keyring; issue a token per principal."""
    announce = []
    if not settings.keyring_path.exists():
        create_keyring(settings.keyring_path, now=utc_now())
        announce.append(f"created development keyring {settings.keyring_path}")
    for use in upgrade_keyring(settings.keyring_path, now=utc_now()):
        announce.append(f"added a {use} key to the development keyring")
    tokens.drop_development()  # a previous run's, if it did not stop cleanly
    for principal in settings.principals:
        _, token = tokens.issue(principal.name, now=utc_now(), development=True)
        roles = ",".join(sorted(principal.roles))
        announce.append(f"development token for {principal.name} ({roles}): {token}")
    announce.append(
        "development tokens are valid until this process stops; "
        "`tactful tokens revoke` reaches them"
    )
    announce.append(
        f"compliance console: run `tactful console` beside this server and open "
        f"http://{settings.console.listen}/ with the compliance_officer token"
    )
    return announce


def _check_listen(listen: str) -> None:
    """Refuse, in one line, an address that cannot be bound, before grpc tries (and
    logs its own lines about it)."""
    host, port = parse_listen(listen)
    if port == 0:
        return
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as grpc does
            probe.bind(address)
    except OSError as exc:
        raise SystemExit(f"tactful: cannot listen on {listen}: {exc.strerror or exc}") from None


async def _run(
    settings: Settings,
    announce: list[str],
    say: Say,
    *,
    on_serving: Callable[[int], None] | None = None,
) -> None:
    try:
        running = await create_server(settings)
    except RuntimeError as exc:  # what grpc raises for an address it cannot bind
        if "Failed to bind" not in str(exc):
            raise
        raise SystemExit(f"tactful: cannot listen on {settings.listen}") from None
    host = settings.listen.rpartition(":")[0]
    for line in [*announce, *running.notices]:
        say(line)
    transport = (
        "plaintext"
        if settings.tls is None
        else "TLS, client certificates required"
        if settings.tls.client_ca
        else "TLS"
    )
    say(f"listening on {host}:{running.port} ({transport}; {stores.describe(settings)})")
    if on_serving is not None:  # a worker: its supervisor waits for this
        on_serving(running.port)
    # The vault key's epoch ends on schedule, while serving (`[vault] epoch`).
    schedule = VaultEpochSchedule(settings)
    schedule.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    say("stopping")
    await running.stop(grace=5)
    schedule.close()
