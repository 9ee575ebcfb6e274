"""`tactful health`: ask a running server's gRPC health service whether it serves.

Exit status 0 when it answers SERVING, 1 otherwise (NOT_SERVING, unreachable, a
failed handshake), so a container's HEALTHCHECK, a load balancer's script or a
monitoring check can run it as it is. By default it asks the server the config
describes: its `listen` address (a wildcard one, 0.0.0.0 or [::], asked on the
loopback) over TLS when the config has a [tls] table.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tactful.api.health_probe import HealthUnknown, ProbeTls, check_health
from tactful.app.settings import ConfigError, Settings, parse_listen
from tactful.cli.report import emit, json_option, say

_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def register(
    commands: Any,
    settings_of: Callable[[argparse.Namespace], Settings],
    config_option: Callable[[argparse.ArgumentParser], None],
) -> None:
    health = commands.add_parser(
        "health",
        help="ask a running server whether it serves (exit 0) or not (exit 1)",
        description="Ask a running server's gRPC health service (grpc.health.v1) whether it "
        "serves: prints SERVING and exits 0, or says why not and exits 1. For container "
        "health checks and load balancers; it needs no token. By default it asks the server "
        "of the config: its listen address (0.0.0.0 or [::] asked on the loopback), over TLS "
        "when the config has a [tls] table.",
    )
    health.add_argument(
        "--target", metavar="HOST:PORT", help="the server to ask (default: the config's listen)"
    )
    health.add_argument(
        "--service",
        default="",
        metavar="NAME",
        help='one service, e.g. tactful.v1.Personalization (default: "", the whole server)',
    )
    health.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="how long to wait (default: 5)",
    )
    health.add_argument(
        "--tls-ca",
        type=Path,
        metavar="PEM",
        help="the CA certificates to check the server's certificate against; implies TLS "
        "(default: with a [tls] config, the system's roots)",
    )
    health.add_argument(
        "--tls-cert",
        type=Path,
        metavar="PEM",
        help="a client certificate, for a server that requires one ([tls] client_ca)",
    )
    health.add_argument("--tls-key", type=Path, metavar="PEM", help="the client certificate's key")
    health.add_argument(
        "--tls-server-name",
        default="",
        metavar="NAME",
        help="the name the server's certificate carries, when the target is another "
        "(e.g. an address)",
    )
    json_option(health)
    config_option(health)
    health.set_defaults(run=lambda args: _health(settings_of(args), args))


def _health(settings: Settings, args: argparse.Namespace) -> int:
    if not args.timeout > 0:
        raise ConfigError("--timeout must be more than 0 seconds")
    target = args.target or _loopback(settings.listen)
    try:
        status = check_health(
            target, service=args.service, tls=_tls(settings, args), timeout_s=args.timeout
        )
    except HealthUnknown as exc:
        print(f"tactful: health: {target}: {exc}", file=sys.stderr)
        emit(args, {"target": target, "service": args.service, "status": "UNKNOWN"})
        return 1
    emit(args, {"target": target, "service": args.service, "status": status})
    if status != "SERVING":
        print(f"tactful: health: {target}: {status}", file=sys.stderr)
        return 1
    say(args, status)
    return 0


def _loopback(listen: str) -> str:
    """The address to ask a server listening on `listen` from its own host."""
    host, port = parse_listen(listen)
    host = _WILDCARDS.get(host.strip("[]"), host)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _tls(settings: Settings, args: argparse.Namespace) -> ProbeTls | None:
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ConfigError("--tls-cert and --tls-key go together (mutual TLS)")
    asked = args.tls_ca or args.tls_cert or args.tls_server_name
    if settings.tls is None and not asked:
        return None
    return ProbeTls(args.tls_ca, args.tls_cert, args.tls_key, args.tls_server_name)
