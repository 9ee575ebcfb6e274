"""Where a journey's versions are kept: the live one, the ones it replaced (for a
rollback) and a staged one with its share. The rules (what may be promoted, which
version a rollback restores) are releases.py's; a store only keeps and reads files'
contents.

Two stores: the contract's folder (`FileReleases`, below: the SQLite engine's, and any
single server's), and a table every server shares (storage/postgres/journey_releases.py,
chosen by the engine table, app/stores.py), where a change reaches every server through
the database. In the database, a journey with no release yet is served from the
contract's file (the seed): `live` answers None.

Files:

    playbooks/checkout_recovery.toml                     the live version
    playbooks/history/checkout_recovery/v1-0123456789ab.toml   versions it replaced
    playbooks/history/checkout_recovery/staged/v2-….toml       staged versions
    playbooks/history/checkout_recovery/staged.json            the staging (staging.py)
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tactful.journeys.errors import PlaybookError
from tactful.journeys.playbook import Playbook
from tactful.journeys.playbook_file import parse_playbook
from tactful.journeys.staging import FOLDER, POINTER, pointer_text, read_pointer
from tactful.privacy.contract import Contract


@dataclass(frozen=True)
class Kept:
    """One version's playbook file, as a store keeps it."""

    content: bytes
    source: str  # where, for messages: a file's path, or the database's name for it

    @property
    def content_hash(self) -> str:
        return "sha256:" + hashlib.sha256(self.content).hexdigest()

    def load(self, contract: Contract) -> Playbook:
        """The playbook, checked against the contract; PlaybookError naming every problem."""
        try:
            document = tomllib.loads(self.content.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise PlaybookError(self.source, [f"not valid TOML: {exc}"]) from None
        return parse_playbook(document, contract, source=self.source)


class ReleaseStore(Protocol):
    """A journey's kept versions. Each change is whole: a server sees the state before
    it or after it, never half of one."""

    def live(self, journey: str) -> Kept | None:
        """The live version; None: the contract's file (nothing released yet)."""
        ...

    def replaced(self, journey: str) -> list[Kept]:
        """Every version kept for a rollback (a live one replaced), in no order."""
        ...

    def staging(self, journey: str) -> tuple[Kept, float] | None:
        """The staged version and its share; None: nothing is staged."""
        ...

    def make_live(self, journey: str, content: bytes, version: int, *, replacing: Kept,
                  replacing_version: int) -> None:  # fmt: skip
        """Make `content` live, keep `replacing` (the live one) for a rollback, and end
        any staging."""
        ...

    def stage(self, journey: str, content: bytes, version: int, share: float) -> None:
        """Stage `content` for `share` of the treatment arm (or change the share of the
        staged version, given its content again)."""
        ...

    def withdraw(self, journey: str) -> None:
        """End the staging: the live version serves everyone."""
        ...

    def stamp(self, journey: str | None = None) -> Hashable:
        """Changes whenever `live` or `staging` may answer differently (but for the
        contract's files, which the catalogue looks at itself), for `journey` (None:
        for any journey): cheap, asked on every decision."""
        ...

    def close(self) -> None: ...


def playbook_path(contract: Contract, journey: str) -> Path:
    return Path(contract.path).parent / contract.journeys[journey].playbook


def history_folder(contract: Contract, journey: str) -> Path:
    """Where the versions a journey's live one replaced are kept, and its staging."""
    return playbook_path(contract, journey).parent / "history" / journey


def seed(contract: Contract, journey: str) -> Kept:
    """The contract's file for the journey."""
    path = playbook_path(contract, journey)
    try:
        return Kept(path.read_bytes(), str(path))
    except OSError as exc:
        raise PlaybookError(str(path), [f"cannot read: {exc.strerror}"]) from None


class FileReleases:
    """The versions in the contract's folder: the live one is the file the contract
    names. Files are replaced whole (written aside, then renamed)."""

    def __init__(self, contract: Contract) -> None:
        self._contract = contract
        # Looked at on every decision: the paths made once, as strings.
        self._pointers = {
            journey: str(history_folder(contract, journey) / POINTER)
            for journey in sorted(contract.journeys)
        }

    def live(self, journey: str) -> Kept | None:
        return seed(self._contract, journey)

    def replaced(self, journey: str) -> list[Kept]:
        folder = history_folder(self._contract, journey)
        return [Kept(p.read_bytes(), str(p)) for p in sorted(folder.glob("v*.toml"))]

    def staging(self, journey: str) -> tuple[Kept, float] | None:
        pointer = read_pointer(history_folder(self._contract, journey))
        if pointer is None:
            return None
        path, share = pointer
        try:
            return Kept(path.read_bytes(), str(path)), share
        except OSError as exc:
            raise PlaybookError(str(path), [f"cannot read: {exc.strerror}"]) from None

    def make_live(self, journey: str, content: bytes, version: int, *, replacing: Kept,
                  replacing_version: int) -> None:  # fmt: skip
        folder = history_folder(self._contract, journey)
        folder.mkdir(parents=True, exist_ok=True)
        kept = folder / _name(replacing_version, replacing.content)
        if not kept.exists():
            _replace(kept, replacing.content)
        # Live first, then the pointer: a server between the two serves the new version
        # to everyone either way.
        _replace(playbook_path(self._contract, journey), content)
        (folder / POINTER).unlink(missing_ok=True)

    def stage(self, journey: str, content: bytes, version: int, share: float) -> None:
        folder = history_folder(self._contract, journey)
        (folder / FOLDER).mkdir(parents=True, exist_ok=True)
        kept = folder / FOLDER / _name(version, content)
        if not kept.exists():  # named by its content: never changed once written
            _replace(kept, content)
        _replace(folder / POINTER, pointer_text(kept, share))

    def withdraw(self, journey: str) -> None:
        (history_folder(self._contract, journey) / POINTER).unlink(missing_ok=True)

    def stamp(self, journey: str | None = None) -> Hashable:
        if journey is None:
            return file_stamps(tuple(self._pointers.values()))
        return file_stamps((self._pointers[journey],))

    def close(self) -> None:
        pass


def file_stamps(paths: tuple[str, ...]) -> tuple[tuple[int, int, int], ...]:
    """Each file's inode, size and modification time ((0, 0, 0) when it is missing):
    what changes when a file is replaced whole. One `stat` each."""
    stamps = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            stamps.append((0, 0, 0))
        else:
            stamps.append((st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(stamps)


def _name(version: int, content: bytes) -> str:
    return f"v{version}-{hashlib.sha256(content).hexdigest()[:12]}.toml"


def _replace(path: Path, content: bytes) -> None:
    aside = path.with_name(f".{path.name}.new")
    aside.write_bytes(content)
    os.replace(aside, path)
