"""The `tactful` command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from privacy.contract import load_contract
from privacy.errors import ContractError, KeyringError
from privacy.keyring import create_keyring, load_keyring
from server.app import create_server, utc_now
from server.auth import hash_token, new_token
from server.config import ConfigError, PrincipalConfig, Settings, load_settings

DEV_PRINCIPAL = "web_frontend"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return int(args.run(args))
    except (ConfigError, ContractError, KeyringError) as exc:
        print(f"tactful: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tactful",
        description="Privacy-preserving personalization over gRPC.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the gRPC service",
        description="Run the gRPC service. With no --config: the embedded development "
        "default (data in ./.tactful, keyring created on first start, the example "
        "contract, and a fresh development token printed at start).",
    )
    serve.add_argument("--config", type=Path, help="TOML config file (see docs/configuration.md)")
    serve.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="address to listen on (default 127.0.0.1:50051; port 0 picks a free port)",
    )
    serve.set_defaults(run=_serve)

    keys = commands.add_parser("keys", help="manage the keyring").add_subparsers(
        title="keys commands", metavar="COMMAND"
    )
    init = keys.add_parser("init", help="create a new keyring (mode 0600); never overwrites")
    init.add_argument("--keyring", type=Path, help="path (default: <data_dir>/keyring.json)")
    init.add_argument("--config", type=Path, help="TOML config file")
    init.set_defaults(run=_keys_init)
    show = keys.add_parser("show", help="list key versions (never the key material)")
    show.add_argument("--keyring", type=Path, help="path (default: <data_dir>/keyring.json)")
    show.add_argument("--config", type=Path, help="TOML config file")
    show.set_defaults(run=_keys_show)

    tokens = commands.add_parser("tokens", help="bearer tokens").add_subparsers(
        title="tokens commands", metavar="COMMAND"
    )
    new = tokens.add_parser(
        "new", help="print a new random token and the SHA-256 to put in the config"
    )
    new.set_defaults(run=_tokens_new)

    contracts = commands.add_parser("contracts", help="data contracts").add_subparsers(
        title="contracts commands", metavar="COMMAND"
    )
    check = contracts.add_parser("check", help="check a contract file; exit 1 if invalid")
    check.add_argument("file", type=Path, nargs="?", help="default: the configured contract")
    check.add_argument("--config", type=Path, help="TOML config file")
    check.set_defaults(run=_contracts_check)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None), os.environ)


def _serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.listen:
        settings = replace(settings, listen=args.listen)
    announce = []
    if settings.development:
        if not settings.keyring_path.exists():
            create_keyring(settings.keyring_path, now=utc_now())
            announce.append(f"created development keyring {settings.keyring_path}")
        token = new_token()
        contract = load_contract(settings.contract)
        purposes = frozenset(
            p.name for p in contract.purposes.values() if DEV_PRINCIPAL in p.principals
        )
        settings = settings.with_principal(
            PrincipalConfig(DEV_PRINCIPAL, hash_token(token), frozenset({"frontend"}), purposes)
        )
        announce.append(
            f"development token for principal {DEV_PRINCIPAL} (valid until "
            f"this process stops): {token}"
        )
    asyncio.run(_run(settings, announce))
    return 0


async def _run(settings: Settings, announce: list[str]) -> None:
    running = await create_server(settings)
    host = settings.listen.rpartition(":")[0]
    for line in announce:
        print(f"tactful: {line}", flush=True)
    print(f"tactful: listening on {host}:{running.port} (data in {settings.data_dir})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("tactful: stopping", flush=True)
    await running.stop(grace=5)


def _keyring_path(args: argparse.Namespace) -> Path:
    return args.keyring or _settings(args).keyring_path


def _keys_init(args: argparse.Namespace) -> int:
    path = _keyring_path(args)
    keyring = create_keyring(path, now=utc_now())
    print(
        f"created {path} (mode 0600) with pseudonym key v{keyring.pseudonym.primary} "
        f"and vault key v{keyring.vault.primary}"
    )
    return 0


def _keys_show(args: argparse.Namespace) -> int:
    keyring = load_keyring(_keyring_path(args))
    for keyset in (keyring.pseudonym, keyring.vault):
        versions = ", ".join(
            f"v{v}{' (primary)' if v == keyset.primary else ''}" for v in keyset.live_versions()
        )
        print(f"{keyset.use}: {versions}")
    return 0


def _tokens_new(args: argparse.Namespace) -> int:
    token = new_token()
    print(f"token (shown once; give it to the client): {token}")
    print(f"token_sha256 (put this in the config):     {hash_token(token)}")
    return 0


def _contracts_check(args: argparse.Namespace) -> int:
    path = args.file or _settings(args).contract
    try:
        contract = load_contract(path)
    except ContractError as exc:
        for problem in exc.problems:
            print(f"{exc.path}: {problem}", file=sys.stderr)
        print(
            f"{exc.path}: {len(exc.problems)} problem(s); the contract cannot be used",
            file=sys.stderr,
        )
        return 1
    print(f"{path}: ok ({len(contract.events)} event types, {len(contract.purposes)} purposes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
