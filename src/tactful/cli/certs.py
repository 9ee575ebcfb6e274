"""`tactful certs dev DIR`: certificates to try TLS and mutual TLS in five minutes.

A folder it makes for them is its owner's alone (0700, keys 0600) and carries a
`.gitignore` that ignores all of it, so that in a checkout the keys are never
offered to `git add`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tactful.app._x509 import TlsFileError, principal_uri, write_development_pki
from tactful.app.settings import ConfigError, Settings


def register(
    commands: Any,
    settings_of: Callable[[argparse.Namespace], Settings],
    config_option: Callable[[argparse.ArgumentParser], None],
) -> None:
    certs = commands.add_parser(
        "certs", help="TLS certificates for development", description="TLS certificates."
    )
    group = certs.add_subparsers(title="certs commands", metavar="COMMAND")
    certs.set_defaults(run=lambda _args: certs.print_help() or 2)
    dev = group.add_parser(
        "dev",
        help="write a development CA, a server certificate for localhost and 127.0.0.1, and "
        "a client certificate per configured principal (not for production)",
    )
    dev.add_argument(
        "directory",
        type=Path,
        help="where to write them; must not hold them yet. A new folder is made mode 0700 "
        "with a .gitignore, so that git never adds the keys (mode 0600)",
    )
    dev.add_argument("--days", type=int, default=30, help="how long they are valid (30)")
    config_option(dev)
    dev.set_defaults(run=lambda args: _dev(settings_of(args), args))


def _dev(settings: Settings, args: argparse.Namespace) -> int:
    if not 1 <= args.days <= 825:
        raise ConfigError("--days must be from 1 to 825")
    names = [p.name for p in settings.principals]
    ignored = _make_ignored_folder(args.directory)
    try:
        written = ignored + write_development_pki(
            args.directory, names, now=datetime.now(UTC), days=args.days
        )
    except TlsFileError as exc:
        raise ConfigError(str(exc)) from None
    for path in written:
        print(f"wrote {path}")
    where = args.directory.resolve()
    print("\nTo serve TLS and ask for client certificates, add to the config file:\n")
    print(f'[tls]\ncert = "{where / "server.pem"}"\nkey = "{where / "server.key"}"')
    print(f'client_ca = "{where / "ca.pem"}"    # leave out for TLS without client certificates')
    print("\nand bind principals to their certificates, e.g.:\n")
    for name in names[:1]:
        print(f'[[principals]]\nname = "{name}"\ntls_subject = "{principal_uri(name)}"')
        print('require = ["tls", "token"]    # or ["tls"]: the certificate alone')
    return 0


def _make_ignored_folder(directory: Path) -> list[Path]:
    """A folder that does not exist yet, made private (0700) and ignored by git (a
    `.gitignore` of `*`): the .gitignore written, or nothing for an existing folder,
    which is left as it is (its own .gitignore, if any, is the user's)."""
    if directory.exists():
        return []
    directory.mkdir(mode=0o700, parents=True)
    directory.chmod(0o700)  # whatever the umask
    ignore = directory / ".gitignore"
    ignore.write_text("# Written by `tactful certs dev`: private keys, never to commit.\n*\n")
    return [ignore]
