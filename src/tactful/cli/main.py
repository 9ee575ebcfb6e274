"""The `tactful` command line."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import sys
from collections.abc import Sequence
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

from tactful.app import receipts
from tactful.app.auth import hash_token, new_token
from tactful.app.config_file import load_settings
from tactful.app.domain import load_checked_contract, utc_now
from tactful.app.receipts import NotRecorded
from tactful.app.settings import ConfigError, Settings
from tactful.app.stores import open_tokens
from tactful.app.tokens import IssuedToken, TokenError
from tactful.cli import audit as cli_audit
from tactful.cli import certs as cli_certs
from tactful.cli import config as cli_config
from tactful.cli import console as cli_console
from tactful.cli import db as cli_db
from tactful.cli import health as cli_health
from tactful.cli import journeys as cli_journeys
from tactful.cli import keys as cli_keys
from tactful.cli import retention as cli_retention
from tactful.cli import scorecard as cli_scorecard
from tactful.cli import serve as cli_serve
from tactful.cli import subjects as cli_subjects
from tactful.cli.output import OutputRefused
from tactful.cli.report import emit, json_option, say
from tactful.journeys.catalogue import load_journeys
from tactful.lifecycle.errors import LifecycleError
from tactful.privacy.contract import load_contract, parse_duration
from tactful.privacy.errors import ContractError, PrivacyError
from tactful.privacy.explain import explain
from tactful.privacy.keyring import create_keyring, load_keyring, upgrade_keyring
from tactful.privacy.suggestions import closest, hint


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return int(args.run(args))
    except ContractError as exc:
        for problem in exc.problems:
            print(f"{exc.path}: {problem}", file=sys.stderr)
        print(
            f"{exc.path}: {len(exc.problems)} problem(s); the contract cannot be used",
            file=sys.stderr,
        )
        return 1
    except (
        ConfigError,
        TokenError,
        NotRecorded,
        OutputRefused,
        PrivacyError,
        LifecycleError,
    ) as exc:
        # The domain's errors (a bad identifier, an unknown namespace, a keyring others
        # can read) are the user's to fix: one line, never a traceback.
        print(f"tactful: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"tactful: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except SystemExit as exc:
        if isinstance(exc.code, str):  # a message for the user, raised by a command
            print(exc.code, file=sys.stderr)
            return 1
        raise


class _Parser(argparse.ArgumentParser):
    """argparse's parser, saying which command or choice a misspelt one was meant to be
    (every subcommand's parser is made from this class too)."""

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        choices = action.choices
        if isinstance(value, str) and choices is not None and value not in choices:
            near = closest(value, [str(c) for c in choices])
            if near is not None:
                message = f"invalid choice: {value!r}; did you mean {near!r}?"
                raise argparse.ArgumentError(action, message)
        super()._check_value(action, value)


def _parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = _Parser(
        prog="tactful",
        description="Privacy-preserving personalization over gRPC.",
    )
    parser.add_argument("--version", action="version", version=f"tactful {_version()}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    cli_serve.register(commands, _settings, _config_option)
    cli_health.register(commands, _settings, _config_option)

    keys = _group(commands, "keys", "manage the keyring")
    init = keys.add_parser("init", help="create a new keyring (mode 0600); never overwrites")
    _keyring_options(init)
    init.set_defaults(run=_keys_init)
    upgrade = keys.add_parser("upgrade", help="add the key uses an older keyring lacks")
    _keyring_options(upgrade)
    upgrade.set_defaults(run=_keys_upgrade)
    show = keys.add_parser("show", help="list key versions (never the key material)")
    _keyring_options(show)
    show.set_defaults(run=_keys_show)
    cli_keys.register(keys, _settings, _keyring_options, _config_option)

    tokens = _group(commands, "tokens", "bearer tokens (only their SHA-256 is stored)")
    issue = tokens.add_parser(
        "issue",
        help="issue a token for a configured principal; printed once, only its hash is stored",
    )
    issue.add_argument("principal", help="a principal the config declares")
    issue.add_argument(
        "--expires-in",
        metavar="DURATION",
        help='refused after this long, e.g. "90d" or "12h" (default: until revoked)',
    )
    _config_option(issue)
    json_option(issue)
    issue.set_defaults(run=_tokens_issue)
    revoke = tokens.add_parser("revoke", help="revoke a token by id, or all of a principal's")
    revoke.add_argument("token_id", nargs="?", help="as printed by `tokens issue` / `tokens list`")
    revoke.add_argument("--principal", help="revoke every active token of this principal")
    _config_option(revoke)
    json_option(revoke)
    revoke.set_defaults(run=_tokens_revoke)
    listing = tokens.add_parser("list", help="issued tokens: id, principal, dates (no secrets)")
    _config_option(listing)
    json_option(listing)
    listing.set_defaults(run=_tokens_list)
    new = tokens.add_parser(
        "new", help="print a random token and the token_sha256 to put in a config file"
    )
    json_option(new)
    new.set_defaults(run=_tokens_new)

    cli_audit.register(commands, _settings, _config_option)
    cli_subjects.register(commands, _settings, _config_option)
    cli_retention.register(commands, _settings, _config_option)
    cli_certs.register(commands, _settings, _config_option)
    cli_console.register(commands, _settings, _config_option)
    cli_db.register(commands, _settings, _config_option)
    cli_config.register(commands)
    cli_journeys.register(commands, _settings, _config_option)
    cli_scorecard.register(commands, _settings, _config_option)

    contracts = _group(commands, "contracts", "data contracts")
    check = contracts.add_parser("check", help="check a contract file; exit 1 if invalid")
    check.add_argument(
        "file", type=Path, nargs="?", help="the contract file (default: the configured one)"
    )
    _config_option(check)
    json_option(check)
    check.set_defaults(run=_contracts_check)
    explain_ = contracts.add_parser(
        "explain", help="what each purpose collects, keeps, releases, to whom and why"
    )
    explain_.add_argument("purpose", nargs="?", help="one purpose (default: all)")
    explain_.add_argument(
        "--file", type=Path, help="the contract file (default: the configured one)"
    )
    _config_option(explain_)
    json_option(explain_)
    explain_.set_defaults(run=_contracts_explain)
    _describe_every_command(parser)
    return parser


def _describe_every_command(parser: argparse.ArgumentParser) -> None:
    """Each command's --help opens with a description: its own, else its one-line help
    as a sentence (the help lists commands in lower case, without a full stop)."""
    for group in parser._actions:
        if not isinstance(group, argparse._SubParsersAction):
            continue
        helps = {choice.dest: choice.help for choice in group._choices_actions}
        for name, command in group.choices.items():
            summary = helps.get(name)
            if command.description is None and summary:
                command.description = summary[0].upper() + summary[1:] + "."
            _describe_every_command(command)


def _version() -> str:
    try:
        return importlib.metadata.version("tactful")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout never installed
        return "(not installed)"


def _group(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, summary: str
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    parser = commands.add_parser(name, help=summary)
    group = parser.add_subparsers(title=f"{name} commands", metavar="COMMAND")
    parser.set_defaults(run=lambda _args: _help(parser))
    return group


def _help(parser: argparse.ArgumentParser) -> int:
    """A group named without a command: its help, and the exit status of a usage error."""
    parser.print_help()
    return 2


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        help="TOML config file (default: $TACTFUL_CONFIG, else the development configuration)",
    )


def _keyring_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keyring", type=Path, help="the keyring file (default: <data_dir>/keyring.json)"
    )
    _config_option(parser)
    json_option(parser)


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None), os.environ)


def _keyring_path(args: argparse.Namespace) -> Path:
    return args.keyring or _settings(args).keyring_path


def _keys_init(args: argparse.Namespace) -> int:
    path = _keyring_path(args)
    keyring = create_keyring(path, now=utc_now())
    cli_keys.record_key_change(_settings(args), args, "init", {})
    say(
        args,
        f"created {path} (mode 0600) with pseudonym key v{keyring.pseudonym.primary} "
        f"and vault key v{keyring.vault.primary}",
    )
    primary = {"pseudonym": keyring.pseudonym.primary, "vault": keyring.vault.primary}
    emit(args, {"keyring": str(path), "created": True, "primary": primary})
    return 0


def _keys_upgrade(args: argparse.Namespace) -> int:
    path = _keyring_path(args)
    added = upgrade_keyring(path, now=utc_now())
    if added:
        cli_keys.record_key_change(_settings(args), args, "upgrade", {"added": added})
    say(args, f"{path}: added {', '.join(added)} keys" if added else f"{path}: nothing to add")
    emit(args, {"keyring": str(path), "added": list(added)})
    return 0


def _keys_show(args: argparse.Namespace) -> int:
    path = _keyring_path(args)
    keyring = load_keyring(path)
    keysets = (keyring.pseudonym, keyring.vault, keyring.signing, keyring.suppression)
    shown = {}
    for keyset in (*keysets, *((keyring.holdout,) if keyring.holdout else ())):
        versions = ", ".join(
            f"v{v}{' (primary)' if v == keyset.primary else ''}" for v in keyset.live_versions()
        )
        say(args, f"{keyset.use}: {versions}")
        shown[keyset.use] = {"primary": keyset.primary, "live": list(keyset.live_versions())}
    emit(args, {"keyring": str(path), "keys": shown})
    return 0


def _tokens_issue(args: argparse.Namespace) -> int:
    settings = _settings(args)
    names = sorted(p.name for p in settings.principals)
    if args.principal not in names:
        configured = hint(args.principal, names, what="configured")
        print(
            f"tactful: no principal {args.principal!r} in the config; {configured}", file=sys.stderr
        )
        return 1
    try:
        lifetime = parse_duration(args.expires_in) if args.expires_in else None
    except ValueError as exc:
        raise SystemExit(f"tactful: --expires-in: {exc}") from None
    with closing(open_tokens(settings, listen=False)) as store:
        issued, token = store.issue(args.principal, now=utc_now(), expires_in=lifetime)
    reason = json.dumps(
        {"token": issued.id, "for": issued.principal, "expires_at": issued.expires_at},
        sort_keys=True,
    )
    receipts.record_in(settings, "tokens", "issue", role="admin", now=utc_now(), reason=reason)
    until = f", valid until {issued.expires_at}" if issued.expires_at else ""
    say(args, f"issued {issued.id} for {issued.principal}{until}; the token is shown this once:")
    say(args, token)
    emit(
        args,
        {"id": issued.id, "principal": issued.principal, "expires_at": issued.expires_at,
         "token": token},
    )  # fmt: skip
    return 0


def _tokens_revoke(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with closing(open_tokens(settings, listen=False)) as store:
        revoked = store.revoke(token_id=args.token_id, principal=args.principal, now=utc_now())
    reason = json.dumps({"tokens": [t.id for t in revoked]}, sort_keys=True)
    receipts.record_in(settings, "tokens", "revoke", role="admin", now=utc_now(), reason=reason)
    for token in revoked:
        kind = ", a development server's token" if token.development else ""
        say(args, f"revoked {token.id} ({token.principal}{kind})")
    emit(args, {"revoked": [_token(token) for token in revoked]})
    return 0


def _tokens_list(args: argparse.Namespace) -> int:
    now = utc_now()
    with closing(open_tokens(_settings(args), listen=False)) as store:
        tokens = store.all()
    for token in tokens:
        kind = "  (development)" if token.development else ""
        issued = f"issued {token.issued_at}{kind}"
        say(args, f"{token.id}  {token.principal:<20}  {issued}  {token.state(now)}")
    emit(args, {"tokens": [{**_token(t), "state": t.state(now)} for t in tokens]})
    return 0


def _token(token: IssuedToken) -> dict[str, object]:
    """A token as `--json` shows it: everything but its hash."""
    return {
        "id": token.id,
        "principal": token.principal,
        "issued_at": token.issued_at,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
        "development": token.development,
    }


def _tokens_new(args: argparse.Namespace) -> int:
    token = new_token()
    say(args, f"token (shown once; give it to the client): {token}")
    say(args, f"token_sha256 (put this in the config):     {hash_token(token)}")
    emit(args, {"token": token, "token_sha256": hash_token(token)})
    return 0


def _contracts_check(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.file:
        settings = replace(settings, contract=args.file)
    contract = load_checked_contract(settings)
    playbooks = load_journeys(contract)
    cases = sum(len(p.cases) for p in playbooks.values())
    counts = {
        "event_types": len(contract.events),
        "signals": len(contract.signals),
        "segments": len(contract.segments),
        "purposes": len(contract.purposes),
        "journeys": len(playbooks),
        "journey_test_cases": cases,
    }
    emit(args, {"contract": str(settings.contract), "ok": True, **counts})
    say(
        args,
        f"{settings.contract}: ok ({len(contract.events)} event types, "
        f"{len(contract.signals)} signals, {len(contract.segments)} segments, "
        f"{len(contract.purposes)} purposes, {len(playbooks)} journey(s) whose {cases} test "
        "cases pass; principals match the config)",
    )
    return 0


def _contracts_explain(args: argparse.Namespace) -> int:
    contract = load_contract(args.file or _settings(args).contract)
    if args.purpose and args.purpose not in contract.purposes:
        print(
            f"tactful: no purpose {args.purpose!r}; {hint(args.purpose, contract.purposes)}",
            file=sys.stderr,
        )
        return 1
    say(args, explain(contract, args.purpose), end="")
    emit(args, {"purpose": args.purpose, "explanation": explain(contract, args.purpose)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
