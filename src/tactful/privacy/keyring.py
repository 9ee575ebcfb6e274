"""Versioned keys, kept in one file outside every store.

A keyring holds key sets by use (``pseudonym`` for HMAC pseudonyms, ``vault``
for wrapping per-subject data keys, ``signing`` for Ed25519 access-log
checkpoints, ``suppression`` for the tombstones of erased people who asked not
to be collected again, ``holdout`` for assigning people to journey holdouts). Each
set has versions; the primary writes,
every live version reads, as with `MultiFernet`.

The vault key's versions are *epochs*: `tactful keys rotate-vault` (and the
server, every `[vault] epoch` hours) adds a version, re-wraps every data key
under it and retires the old one, so that what it wrapped never opens again
(lifecycle/vault_epoch.py). They are never derived from or stored with the other
uses' keys.

The suppression key is never rotated and no version of it is ever retired: a
tombstone names a person nobody can look up any more, so it can never be moved
to a new key and must stay checkable for good. Its versions beyond the first are
copies of pseudonym keys that tombstones from before this key use were keyed by
(`adopt_pseudonym_key`, see privacy/suppression.py).

The holdout key is never rotated or retired either: who is held out is a keyed
hash of the person's normalized identifier under it (journeys/holdout.py), and a new
key would move people between arms in the middle of an experiment. A keyring from
before it loads without it; the server adds it on start (`add_holdout_key`), as
`tactful keys upgrade` does. The key so added is derived from the suppression key's
first version (HMAC-SHA256 under it, of a label of its own), not drawn at random:
servers on shared stores each read their own host's copy of the keyring, and each
copy upgraded on its own must give every host the same holdout key, or one person
would be in different arms on different servers. A new keyring draws it at random.

The file is JSON, created with mode 0600; `load_keyring` refuses a file that
group or others may read and any key shorter than 256 bits.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from tactful.privacy import _crypto
from tactful.privacy.errors import KeyringError

FORMAT = "tactful-keyring/1"
KEY_USES = ("pseudonym", "vault", "signing")  # the uses `tactful keys rotate` may rotate
SUPPRESSION = "suppression"
HOLDOUT = "holdout"
NEVER_ROTATED = (SUPPRESSION, HOLDOUT)
ALL_KEY_USES = (*KEY_USES, *NEVER_ROTATED)
_REQUIRED_USES = (*KEY_USES, SUPPRESSION)  # a keyring from before the holdout key lacks it
MIN_KEY_BYTES = 32
_VERSION = re.compile(r"[1-9][0-9]{0,8}")


@dataclass(frozen=True)
class KeySet:
    """The versions of one key use; `primary` is the version new data is written with."""

    use: str
    primary: int
    versions: Mapping[int, bytes] = field(repr=False)

    def primary_key(self) -> tuple[int, bytes]:
        return self.primary, self.versions[self.primary]

    def key(self, version: int) -> bytes:
        try:
            return self.versions[version]
        except KeyError:
            raise KeyringError(f"{self.use} key version v{version} is not in the keyring") from None

    def snapshot(self) -> KeySet:
        return self

    def live_versions(self) -> tuple[int, ...]:
        """Every readable version, primary first, then newest to oldest."""
        others = sorted((v for v in self.versions if v != self.primary), reverse=True)
        return (self.primary, *others)


class Keys(Protocol):
    """What users of a key set need: a fixed KeySet, or one that follows the file."""

    @property
    def use(self) -> str: ...

    @property
    def primary(self) -> int: ...

    @property
    def versions(self) -> Mapping[int, bytes]: ...

    def primary_key(self) -> tuple[int, bytes]: ...

    def key(self, version: int) -> bytes: ...

    def live_versions(self) -> tuple[int, ...]: ...

    def snapshot(self) -> KeySet:
        """The versions as they are now, for several uses in one operation."""
        ...


@dataclass(frozen=True)
class Keyring:
    pseudonym: KeySet
    vault: KeySet
    signing: KeySet
    suppression: KeySet
    holdout: KeySet | None = None  # None in a keyring from before it: `add_holdout_key`


def create_keyring(path: Path, *, now: datetime) -> Keyring:
    """Write a new keyring with version 1 of every key use; refuses to overwrite."""
    document = {
        "format": FORMAT,
        "created_at": now.isoformat(),
        "keysets": {use: _new_keyset(now) for use in ALL_KEY_USES},
    }
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write_private(path, document, replace=False)
    return load_keyring(path)


def _new_keyset(now: datetime) -> dict[str, Any]:
    material = _b64(_crypto.new_key())
    return {"primary": 1, "keys": {"1": {"material": material, "created_at": now.isoformat()}}}


_HOLDOUT_LABEL = b"tactful-holdout-key/1 derived from suppression v1"


def _holdout_keyset(keysets: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The holdout key for a keyring from before it: the same on every copy of that
    keyring, derived from the suppression key's first version (itself never rotated);
    drawn at random only when there is none to derive from."""
    try:
        first = base64.b64decode(keysets[SUPPRESSION]["keys"]["1"]["material"], validate=True)
    except (KeyError, TypeError, ValueError):
        return _new_keyset(now)
    material = _b64(_crypto.hmac_sha256(first, _HOLDOUT_LABEL))
    return {"primary": 1, "keys": {"1": {"material": material, "created_at": now.isoformat()}}}


def _write_private(path: Path, document: dict[str, Any], *, replace: bool) -> None:
    """Write with mode 0600: a fresh file, or atomically over the old one."""
    target = path.with_name(path.name + ".tmp") if replace else path
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyringError(f"{target}: already exists; it was left untouched") from None
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    if replace:
        os.replace(target, path)


def load_keyring(path: Path) -> Keyring:
    """Read and check a keyring file."""
    _check_mode(path)
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise KeyringError(f"{path}: cannot read keyring: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise KeyringError(f"{path}: not a {FORMAT} file")
    keysets = document.get("keysets")
    if not isinstance(keysets, dict):
        raise KeyringError(f"{path}: missing 'keysets'")
    missing = [use for use in _REQUIRED_USES if use not in keysets]
    if missing:
        raise KeyringError(
            f"{path}: no {', '.join(missing)} key; run `tactful keys upgrade` to add it"
        )
    present = [use for use in ALL_KEY_USES if use in keysets]
    return Keyring(**{use: _parse_keyset(path, use, keysets.get(use)) for use in present})


def upgrade_keyring(path: Path, *, now: datetime) -> list[str]:
    """Add version 1 of every key use the keyring lacks; returns the uses added."""
    _check_mode(path)
    document = json.loads(path.read_text())
    keysets = document.setdefault("keysets", {})
    added = [use for use in ALL_KEY_USES if use not in keysets]
    for use in added:
        keysets[use] = _new_keyset(now)
    if HOLDOUT in added:
        keysets[HOLDOUT] = _holdout_keyset(keysets, now)
    if added:
        _write_private(path, document, replace=True)
    load_keyring(path)
    return added


def add_holdout_key(path: Path, *, now: datetime) -> bool:
    """Add version 1 of the holdout key to a keyring from before it; True if added."""
    _check_mode(path)
    document = json.loads(path.read_text())
    keysets = document.setdefault("keysets", {})
    if HOLDOUT in keysets:
        return False
    keysets[HOLDOUT] = _holdout_keyset(keysets, now)
    _write_private(path, document, replace=True)
    load_keyring(path)
    return True


def _check_mode(path: Path) -> None:
    """Refuse a missing keyring, or one that group or others may read."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeyringError(f"{path}: no keyring; create one with `tactful keys init`") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyringError(
            f"{path}: readable by group or others (mode {stat.S_IMODE(mode):04o}); "
            f"run `chmod 600 {path}`"
        )


def _parse_keyset(path: Path, use: str, raw: Any) -> KeySet:
    where = f"{path}: keysets.{use}"
    if not isinstance(raw, dict) or not isinstance(raw.get("keys"), dict):
        raise KeyringError(f"{where}: missing or malformed")
    versions: dict[int, bytes] = {}
    for name, entry in raw["keys"].items():
        if not _VERSION.fullmatch(name) or not isinstance(entry, dict):
            raise KeyringError(f"{where}.keys.{name}: versions are positive integers")
        try:
            material = base64.b64decode(entry.get("material", ""), validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise KeyringError(f"{where}.keys.{name}: material is not base64") from None
        if len(material) < MIN_KEY_BYTES:
            raise KeyringError(
                f"{where}.keys.{name}: key is {len(material) * 8} bits; at least "
                f"{MIN_KEY_BYTES * 8} are required"
            )
        versions[int(name)] = material
    primary = raw.get("primary")
    if type(primary) is not int or primary not in versions:
        raise KeyringError(f"{where}: primary version {primary!r} is not among its keys")
    return KeySet(use=use, primary=primary, versions=versions)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class KeyringWatcher:
    """The keyring file, read again whenever it changes (one `stat` per look), so a
    running server follows `tactful keys rotate` and `retire` without a restart."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stamp: tuple[int, ...] = ()
        self._keyring = self.keyring()

    def keyring(self) -> Keyring:
        try:
            st = self._path.stat()
        except FileNotFoundError:
            raise KeyringError(
                f"{self._path}: no keyring; create one with `tactful keys init`"
            ) from None
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        if stamp != self._stamp:
            self._keyring = load_keyring(self._path)
            self._stamp = stamp
        return self._keyring

    def keys(self, use: str) -> LiveKeySet:
        return LiveKeySet(self, use)


class LiveKeySet:
    """A key set that is always the file's current one."""

    def __init__(self, watcher: KeyringWatcher, use: str) -> None:
        self._watcher = watcher
        self.use = use

    def snapshot(self) -> KeySet:
        keyset: KeySet | None = getattr(self._watcher.keyring(), self.use)
        if keyset is None:
            raise KeyringError(f"no {self.use} key; run `tactful keys upgrade` to add it")
        return keyset

    @property
    def primary(self) -> int:
        return self.snapshot().primary

    @property
    def versions(self) -> Mapping[int, bytes]:
        return self.snapshot().versions

    def primary_key(self) -> tuple[int, bytes]:
        return self.snapshot().primary_key()

    def key(self, version: int) -> bytes:
        return self.snapshot().key(version)

    def live_versions(self) -> tuple[int, ...]:
        return self.snapshot().live_versions()


def rotate_keyring(path: Path, uses: Sequence[str], *, now: datetime) -> dict[str, int]:
    """Add a new primary version to each of `uses`; older versions stay readable."""
    _check_mode(path)
    document = json.loads(path.read_text())
    if SUPPRESSION in uses:
        raise KeyringError(
            "the suppression key is never rotated: its tombstones must stay checkable"
        )
    if HOLDOUT in uses:
        raise KeyringError(
            "the holdout key is never rotated: a new one would move people between arms"
        )
    added = {}
    for use in uses:
        keyset = document["keysets"][use]
        version = max(int(v) for v in keyset["keys"]) + 1
        keyset["keys"][str(version)] = {
            "material": _b64(_crypto.new_key()),
            "created_at": now.isoformat(),
        }
        keyset["primary"] = version
        added[use] = version
    _write_private(path, document, replace=True)
    load_keyring(path)
    return added


def retire_version(path: Path, use: str, version: int) -> None:
    """Remove one non-primary version (the caller checks no data still needs it)."""
    _check_mode(path)
    if use == SUPPRESSION:
        raise KeyringError(
            "suppression keys are never retired: their tombstones must stay checkable"
        )
    if use == HOLDOUT:
        raise KeyringError("the holdout key is never retired: it keeps people in their arms")
    document = json.loads(path.read_text())
    keyset = document["keysets"][use]
    if keyset["primary"] == version:
        raise KeyringError(f"v{version} is the primary {use} key; rotate before retiring it")
    if str(version) not in keyset["keys"]:
        raise KeyringError(f"there is no {use} key v{version}")
    del keyset["keys"][str(version)]
    _write_private(path, document, replace=True)
    load_keyring(path)


def oldest_created_at(path: Path, use: str) -> datetime | None:
    """When the oldest live version of `use` was added (for the vault key: when the
    oldest epoch not yet ended began); None if the keyring does not say."""
    _check_mode(path)
    stamps = []
    for entry in json.loads(path.read_text())["keysets"][use]["keys"].values():
        try:
            stamps.append(datetime.fromisoformat(entry["created_at"]))
        except (KeyError, TypeError, ValueError):
            return None
    return min(stamps, default=None)


def adopt_pseudonym_key(path: Path, version: int, *, now: datetime) -> int:
    """The suppression key version that holds a copy of pseudonym key `version`, added
    if need be: tombstones keyed by that pseudonym key stay checkable after it retires.
    KeyringError if the pseudonym version is no longer in the keyring."""
    _check_mode(path)
    document = json.loads(path.read_text())
    keysets = document["keysets"]
    try:
        material = keysets["pseudonym"]["keys"][str(version)]["material"]
    except KeyError:
        raise KeyringError(f"pseudonym key v{version} is not in the keyring") from None
    suppression = keysets[SUPPRESSION]
    origin = f"pseudonym v{version}"
    for name, entry in suppression["keys"].items():
        if entry.get("copied_from") == origin:
            return int(name)
    adopted = max(int(v) for v in suppression["keys"]) + 1
    suppression["keys"][str(adopted)] = {
        "material": material,
        "created_at": now.isoformat(),
        "copied_from": origin,
    }
    _write_private(path, document, replace=True)
    load_keyring(path)
    return adopted
