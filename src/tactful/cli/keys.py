"""`tactful keys rotate | rekey | retire | rotate-vault`: key rotation while the
service runs. The vault key is rotated on its own (`rotate-vault`): its versions
are epochs that end by being destroyed (lifecycle/vault_epoch.py)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tactful.app import receipts, stores
from tactful.app.domain import open_domain
from tactful.app.settings import Settings
from tactful.app.vault_rotation import rotate_vault
from tactful.cli.job_metrics import job_report, metrics_file_option
from tactful.cli.progress import progress_for
from tactful.cli.report import emit, json_option, say
from tactful.lifecycle.rekey import Rekeyer
from tactful.lifecycle.vault_epoch import describe
from tactful.privacy.keyring import KEY_USES, load_keyring, retire_version, rotate_keyring

ROTATED_TOGETHER = tuple(use for use in KEY_USES if use != "vault")  # `keys rotate`


def register(
    keys: Any,
    settings_of: Callable[[argparse.Namespace], Settings],
    keyring_options: Callable[[argparse.ArgumentParser], None],
    config_option: Callable[[argparse.ArgumentParser], None],
) -> None:
    rotate = keys.add_parser(
        "rotate",
        help="add a new primary pseudonym or signing version; older ones stay readable until "
        "retired (the vault key: rotate-vault)",
    )
    rotate.add_argument(
        "--use",
        choices=(*ROTATED_TOGETHER, "all"),
        default="all",
        help="which key to rotate (default: all, i.e. pseudonym and signing)",
    )
    keyring_options(rotate)
    rotate.set_defaults(run=lambda args: _rotate(settings_of(args), args))
    rekey = keys.add_parser(
        "rekey",
        help="move every subject to the primary keys, in chunks, resumable, while the service runs",
    )
    config_option(rekey)
    json_option(rekey)
    rekey.set_defaults(run=lambda args: _rekey(settings_of(args), args))
    metrics_file_option(rekey, "keys_rekey")
    retire = keys.add_parser(
        "retire", help="remove a key version; refused while any data still uses it"
    )
    retire.add_argument("version", help="e.g. v1 or 1")
    retire.add_argument(
        "--use", choices=KEY_USES, default="pseudonym", help="whose version (default: pseudonym)"
    )
    config_option(retire)
    json_option(retire)
    retire.set_defaults(run=lambda args: _retire(settings_of(args), args))
    rotate_vault = keys.add_parser(
        "rotate-vault",
        help="end the vault key's epoch: a new vault key wraps every data key, the old "
        "one is destroyed (erased identities become unrecoverable from disk, WAL and backups)",
    )
    config_option(rotate_vault)
    json_option(rotate_vault)
    rotate_vault.set_defaults(run=lambda args: _rotate_vault(settings_of(args), args))


def keyring_path(settings: Settings, args: argparse.Namespace) -> Path:
    return args.keyring or settings.keyring_path


def record_key_change(
    settings: Settings, args: argparse.Namespace, action: str, reason: dict[str, object]
) -> None:
    """The access record of a change to the keyring the data folder's log is signed
    with; a keyring elsewhere (`--keyring` without its config) has no log to record in."""
    path = keyring_path(settings, args)
    if path.resolve() != settings.keyring_path.resolve():
        print(
            f"tactful: {path} is not the keyring of {settings.data_dir}; the change is not "
            "in any access log (give the --config that uses this keyring)",
            file=sys.stderr,
        )
        return
    reason = {"keyring": str(path), **reason}
    receipts.record_in(
        settings, "keys", action, role="admin", now=datetime.now(UTC), reason=_json(reason)
    )


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True)


def _rotate(settings: Settings, args: argparse.Namespace) -> int:
    uses = list(ROTATED_TOGETHER) if args.use == "all" else [args.use]
    added = rotate_keyring(keyring_path(settings, args), uses, now=datetime.now(UTC))
    record_key_change(settings, args, "rotate", {"primary": added})
    for use, version in added.items():
        say(args, f"{use}: v{version} is now primary")
    if "pseudonym" in added:
        say(args, "run `tactful keys rekey` to move existing subjects to the new keys")
    emit(args, {"primary": added, "rekey_needed": "pseudonym" in added})
    return 0


def _rotate_vault(settings: Settings, args: argparse.Namespace) -> int:
    domain = open_domain(settings)  # erasures cut short are finished first
    try:
        report = rotate_vault(
            settings,
            domain.vault,
            now=datetime.now(UTC),
            progress=progress_for(sys.stderr, "rotate-vault"),
        )
    finally:
        domain.close()
    say(args, f"rotate-vault: {describe(report)}")
    for pseudonym in report.unreadable:
        print(f"rotate-vault: cannot open the data key of {pseudonym}", file=sys.stderr)
    emit(
        args,
        {
            "primary": report.primary,
            "rewrapped": report.rewrapped,
            "destroyed": list(report.retired),
            "kept": list(report.kept),
            "unreadable": list(report.unreadable),
            "lost": report.lost,
        },
    )
    return 1 if report.unreadable or report.lost else 0


def _rekey(settings: Settings, args: argparse.Namespace) -> int:
    domain = open_domain(settings)
    try:
        report = Rekeyer(domain.pseudonymizer, domain.vault, domain.subject_data).run(
            now=datetime.now(UTC),
            progress=progress_for(sys.stderr, "rekey"),
        )
        job_report(args).moved["vault.identities"] = report.moved
        reason = {"moved": report.moved, "unreadable": len(report.unreadable)}
        receipts.record(
            domain.access_log,
            "keys",
            "rekey",
            role="admin",
            now=datetime.now(UTC),
            reason=_json(reason),
        )
    finally:
        domain.close()
    say(args, f"rekey: {report.moved} subjects on the primary keys")
    for pseudonym in report.unreadable:
        print(f"rekey: cannot read {pseudonym} (its vault key is gone)", file=sys.stderr)
    emit(args, {"moved": report.moved, "unreadable": list(report.unreadable)})
    if report.unreadable:
        job_report(args).failure = "unreadable_subjects"  # its metrics file counts it
        return 1
    return 0


def _retire(settings: Settings, args: argparse.Namespace) -> int:
    version = int(args.version.lstrip("v")) if args.version.lstrip("v").isdigit() else -1
    if version < 1:
        raise SystemExit(f"tactful: {args.version!r} is not a key version such as v1")
    refusal = _refusal(settings, args.use, version)
    if refusal:
        print(f"tactful: {args.use} key v{version} {refusal}", file=sys.stderr)
        return 1
    retire_version(settings.keyring_path, args.use, version)
    reason = _json({"use": args.use, "version": version})
    receipts.record_in(
        settings, "keys", "retire", role="admin", now=datetime.now(UTC), reason=reason
    )
    say(args, f"{args.use}: v{version} retired")
    emit(args, {"use": args.use, "version": version, "retired": True})
    return 0


def _refusal(settings: Settings, use: str, version: int) -> str:
    """Why the version cannot be retired, and the step that would let it be (only a
    step that can work), or "" if it can."""
    keyset = getattr(load_keyring(settings.keyring_path), use)
    if version not in keyset.versions:
        live = ", ".join(f"v{v}" for v in keyset.live_versions())
        return f"does not exist (live: {live})"
    in_use = _uses(settings, use, version)
    if use == "signing" and in_use:  # nothing moves a signature to another key
        return (
            f"signed {in_use}; it is kept for verification only (it signs nothing new "
            "once another version is primary) and cannot be retired: those checkpoints "
            "must stay verifiable"
        )
    if use == "vault" and (version == keyset.primary or in_use):
        return (
            f"{'is the primary, which writes' if version == keyset.primary else f'seals {in_use}'}"
            ": run `tactful keys rotate-vault`, which re-wraps every data key under a new"
            " version and retires this one"
        )
    if version == keyset.primary:
        then = "; then `tactful keys rekey`, then retire it" if use != "signing" else ""
        return f"is the primary, which writes: run `tactful keys rotate --use {use}` first{then}"
    if in_use:
        return f"is still used by {in_use}; run `tactful keys rekey` first"
    return ""


def _uses(settings: Settings, use: str, version: int) -> str:
    """What still needs the version, in words, or "" if nothing does."""
    if use == "signing":
        keys = load_keyring(settings.keyring_path).signing
        log = stores.open_access_log(settings, keys)
        try:
            signed = sum(1 for c in log.checkpoints() if c.key_version == version)
        finally:
            log.close()
        return f"{signed} access-log checkpoints" if signed else ""
    domain = open_domain(settings)
    try:
        if use == "pseudonym":
            vault = domain.vault.uses(pseudonym_version=version)
            behavior = domain.subject_data.count_with_prefix(f"hmac-sha256:v{version}:")
            parts = [f"{vault} vault entries"] * bool(vault) + [f"{behavior} behavior rows"] * bool(
                behavior
            )
        else:
            vault = domain.vault.uses(vault_version=version)
            parts = [f"{vault} data keys"] * bool(vault)
    finally:
        domain.close()
    return " and ".join(parts)
