"""Invariant: after an erasure and the end of the vault key's epoch, nothing the erased
person left on any disk opens with any key the keyring still holds: not the
database's pages, not its write-ahead log, not a backup taken before the erasure.

The test is the attack: it captures the erased entry's sealed data key and sealed
identifier from the rows, erases the person, then carves every file of the engine's
data folders (and of a backup) for those bytes and tries every key of the keyring on
every occurrence. Before the rotation the attack must succeed (so the test can
fail); after it, nothing opens, and everyone else is still revealed.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from tactful.app.vault_rotation import rotate_vault
from tactful.lifecycle.vault_epoch import KeyringEpochs, VaultEpochRotation
from tactful.privacy import _crypto
from tactful.privacy.keyring import load_keyring
from tactful.privacy.vault import (
    IdentityVault,
    RewrapBatch,
    SealedEntry,
    _data_key_ad,
    _identity_ad,
)
from tactful.timestamps import to_us
from tests.conftest import T0
from tests.storage.engines import Engine, Stores

ERASED = "erased.canary+4d1e@example.com"
KEPT = [f"kept{i}@example.com" for i in range(12)]
T0_US = to_us(T0)


@pytest.fixture
def stores(engine: Engine, tmp_path: Path) -> Iterator[Stores]:
    opened = engine.open(engine.settings(tmp_path / "data"))
    opened.record(
        "support_widget",
        "support_triage",
        [(who, "page_viewed", T0_US, {"path": "/"}) for who in [ERASED, *KEPT]],
        now=T0,
    )
    yield opened
    opened.domain.close()


def _sealed(stores: Stores, email: str) -> SealedEntry:
    (pseudonym,) = stores.pseudonyms(email)
    entry = stores.domain.vault._rows.entry(pseudonym)  # the attacker reads the row
    assert entry is not None
    return entry


def _files(roots: list[Path]) -> Iterator[Path]:
    """The files of `roots`, each a folder (read whole) or a file."""
    for root in roots:
        yield from [root] if root.is_file() else (p for p in root.rglob("*") if p.is_file())


def _occurrences(roots: list[Path], blob: bytes) -> int:
    found = 0
    for path in (p for p in _files(roots) if p.stat().st_size):
        with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
            at = m.find(blob)
            while at != -1:
                found += 1
                at = m.find(blob, at + 1)
    return found


@dataclass(frozen=True)
class Carving:
    keys_found: int  # occurrences of the sealed data key on disk
    identifiers_found: int  # and of the sealed identifier
    opened: tuple[str, ...]  # identifiers the keyring's keys opened


def _carve(roots: list[Path], keyring: Path, entry: SealedEntry) -> Carving:
    """Every occurrence of the erased entry's bytes, tried with every key the keyring
    holds (any use, any version) under every version's associated data."""
    keys_found = _occurrences(roots, entry.sealed_key)
    identifiers_found = _occurrences(roots, entry.sealed_identifier)
    held = load_keyring(keyring)
    materials = {m for ks in vars(held).values() for m in ks.versions.values()}
    versions = range(1, max(max(ks.versions) for ks in vars(held).values()) + 2)
    pseudonym = entry.pseudonym.encode()
    opened = []
    if keys_found:
        for key in materials:
            for version in versions:
                try:
                    data_key = _crypto.open_sealed(
                        key, entry.sealed_key, _data_key_ad(pseudonym, version)
                    )
                except _crypto.SealError:
                    continue
                if identifiers_found:
                    identifier = _crypto.open_sealed(
                        data_key, entry.sealed_identifier, _identity_ad(pseudonym, entry.namespace)
                    )
                    opened.append(identifier.decode())
    return Carving(keys_found, identifiers_found, tuple(opened))


def test_an_erased_identity_is_unrecoverable_from_disk_wal_and_backups_after_the_epoch(
    engine: Engine, stores: Stores, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = stores.settings
    entry = _sealed(stores, ERASED)
    engine.back_up(settings, tmp_path / "backup")  # last night's backup, before the erasure
    stores.erase(ERASED, suppress=False, now=T0 + timedelta(hours=1))
    assert stores.domain.vault.reveal(entry.pseudonym) is None  # nothing served, at once
    places = {"disk": engine.disk(settings), "backup": [tmp_path / "backup"]}

    before = {place: _carve(roots, settings.keyring_path, entry) for place, roots in places.items()}
    assert any(c.keys_found and c.identifiers_found for c in before.values())
    assert ERASED in {i for c in before.values() for i in c.opened}  # the attack works

    report = rotate_vault(settings, stores.domain.vault, now=T0 + timedelta(hours=2))
    assert report.retired == (1,) and report.rewrapped == len(KEPT)

    after = {place: _carve(roots, settings.keyring_path, entry) for place, roots in places.items()}
    assert [c.opened for c in after.values()] == [(), ()]
    with capsys.disabled():
        for moment, carvings in (("before the rotation", before), ("after it", after)):
            print(f"\n[{engine.name}] erased entry, {moment}:", end="")
            for place, c in carvings.items():
                print(
                    f" {place}: {c.keys_found} sealed data keys, {c.identifiers_found} sealed"
                    f" identifiers found, {len(c.opened)} opened;",
                    end="",
                )
        print()
    for email in KEPT:
        (pseudonym,) = stores.pseudonyms(email)
        revealed = stores.domain.vault.reveal(pseudonym)
        assert revealed is not None and revealed.identifier == email
    assert stores.domain.vault.sealed_versions() == {report.primary: len(KEPT)}


# -- a rotation killed anywhere is completed by the next one ------------------------------


class Killed(Exception):
    """The process died here."""


class _DiesInRewrap:
    """The vault of a rotation that dies after `survives` chunks were re-wrapped."""

    def __init__(self, vault: IdentityVault, survives: int) -> None:
        self._vault = vault
        self._left = survives

    def rewrap(self, *, after: str = "", limit: int = 1000) -> RewrapBatch:
        if self._left == 0:
            raise Killed
        self._left -= 1
        return self._vault.rewrap(after=after, limit=limit)

    def __getattr__(self, name: str) -> object:
        return getattr(self._vault, name)


class _DiesRetiring(KeyringEpochs):
    """Dies just before destroying the old version (`after`: just after)."""

    def __init__(self, path: Path, *, after: bool) -> None:
        super().__init__(path)
        self._after = after

    def retire(self, version: int) -> None:
        if self._after:
            super().retire(version)
        raise Killed


def _no_record(action: str, reason: dict[str, object]) -> None:
    pass


def _dies_on(action: str) -> Callable[[str, dict[str, object]], None]:
    def record(done: str, reason: dict[str, object]) -> None:
        if done == action:
            raise Killed  # the change is made; its record never written

    return record


KILLS: dict[str, Callable[[Stores], VaultEpochRotation]] = {
    "after adding the key": lambda s: VaultEpochRotation(
        KeyringEpochs(s.settings.keyring_path), s.domain.vault, _dies_on("rotate-vault")
    ),
    "before any chunk": lambda s: VaultEpochRotation(
        KeyringEpochs(s.settings.keyring_path), _DiesInRewrap(s.domain.vault, 0), _no_record,
        chunk=5,
    ),
    "mid re-wrap": lambda s: VaultEpochRotation(
        KeyringEpochs(s.settings.keyring_path), _DiesInRewrap(s.domain.vault, 2), _no_record,
        chunk=5,
    ),
    "before retiring": lambda s: VaultEpochRotation(
        _DiesRetiring(s.settings.keyring_path, after=False), s.domain.vault, _no_record
    ),
    "after retiring": lambda s: VaultEpochRotation(
        _DiesRetiring(s.settings.keyring_path, after=True), s.domain.vault, _no_record
    ),
}  # fmt: skip


@pytest.mark.parametrize("where", list(KILLS))
def test_a_rotation_killed_anywhere_is_completed_by_the_next(
    engine: Engine, stores: Stores, where: str
) -> None:
    with pytest.raises(Killed):
        KILLS[where](stores).run(now=T0)
    everyone = [ERASED, *KEPT]
    again = engine.open(stores.settings)  # another process, after the crash
    try:
        # Meanwhile, everyone's data key is under a version the keyring still holds.
        for email in everyone:
            (pseudonym,) = again.pseudonyms(email)
            assert again.domain.vault.reveal(pseudonym) is not None
        report = rotate_vault(again.settings, again.domain.vault, now=T0)
        keyring = load_keyring(again.settings.keyring_path)
        assert keyring.vault.live_versions() == (report.primary,)
        assert again.domain.vault.sealed_versions() == {report.primary: len(everyone)}
        for email in everyone:
            (pseudonym,) = again.pseudonyms(email)
            revealed = again.domain.vault.reveal(pseudonym)
            assert revealed is not None and revealed.identifier == email
    finally:
        again.domain.close()


def test_one_rotation_at_a_time(stores: Stores) -> None:
    from tactful.lifecycle.vault_epoch import RotationRunning

    with stores.domain.vault.exclusive() as held:
        assert held
        with pytest.raises(RotationRunning):
            rotate_vault(stores.settings, stores.domain.vault, now=T0)
    assert load_keyring(stores.settings.keyring_path).vault.live_versions() == (1,)


def test_a_host_whose_keyring_is_behind_refuses_to_rotate(stores: Stores, tmp_path: Path) -> None:
    """Two hosts, a keyring file each: after one rotated, the other must not (it would
    destroy the key it writes under and number its new key as the other's)."""
    import shutil

    from tactful.lifecycle.vault_epoch import KeyringBehind

    behind = tmp_path / "host-b-keyring.json"
    shutil.copy2(stores.settings.keyring_path, behind)
    rotate_vault(stores.settings, stores.domain.vault, now=T0)  # host A
    host_b = VaultEpochRotation(KeyringEpochs(behind), stores.domain.vault, _no_record)
    with pytest.raises(KeyringBehind, match="the vault knows vault key v2, which this keyring"):
        host_b.run(now=T0)
    assert load_keyring(behind).vault.live_versions() == (1,)  # left untouched


def test_people_remembered_while_a_rotation_runs_are_all_revealed_after_it(
    engine: Engine, stores: Stores
) -> None:
    """Another server keeps storing new people during the rotation: whoever read the
    old primary before the new key appeared is re-wrapped by a later pass; no data key
    stays under, or is written under, the destroyed key."""
    import threading

    from tactful.privacy.vault import Identity

    writer = engine.open(stores.settings)  # another server, following the keyring file
    stop, written = threading.Event(), []

    def remember() -> None:
        while not stop.is_set() and len(written) < 5000:
            batch = [
                Identity(
                    f"hmac-sha256:v1:{len(written) + i:064x}", "email", f"n{len(written) + i}@x"
                )
                for i in range(10)
            ]
            writer.domain.vault.remember(batch, now=T0)
            written.extend(batch)

    thread = threading.Thread(target=remember)
    thread.start()
    try:
        while len(written) < 50:
            threading.Event().wait(0.01)
        report = rotate_vault(
            stores.settings, stores.domain.vault, now=T0,
        )  # fmt: skip
    finally:
        stop.set()
        thread.join()
        writer.domain.close()
    assert report.lost == 0 and report.retired == (1,)
    assert set(stores.domain.vault.sealed_versions()) == {report.primary}
    for identity in written[:: max(1, len(written) // 200)]:
        assert stores.domain.vault.reveal(identity.pseudonym) == identity


# -- writers and rotations agree through the vault's database ------------------------------


def _visit(stores: Stores, email: str) -> None:
    stores.record("support_widget", "support_triage", [(email, "page_viewed", T0_US, {})], now=T0)


def _destroyed_versions_in_use(stores: Stores) -> dict[int, int]:
    """Data keys under a vault key version the keyring no longer holds: lost people."""
    live = set(load_keyring(stores.settings.keyring_path).vault.live_versions())
    return {v: n for v, n in stores.domain.vault.sealed_versions().items() if v not in live}


class _RotationBeforeInsert:
    """A writer's rows whose first insert runs after a whole rotation: the writer sealed
    its new entry under the old primary, and then the rotation ran to its end."""

    def __init__(self, rows: object, rotate: Callable[[], object]) -> None:
        self._rows = rows
        self._rotate: Callable[[], object] | None = rotate

    def insert_new(self, *args: object, **kwargs: object) -> object:
        if self._rotate is not None:
            rotate, self._rotate = self._rotate, None
            rotate()
        return self._rows.insert_new(*args, **kwargs)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self._rows, name)


def test_a_writer_that_sealed_under_the_old_key_writes_under_the_new_one_after_a_rotation(
    engine: Engine, stores: Stores
) -> None:
    """The race a rotation cannot see: a writer read the keyring (v1) and sealed, the
    rotation retired and destroyed v1, then the writer's insert ran. Its key is never
    committed under v1: the database refuses it, and the writer, whose keyring file
    now has v2, seals again under v2."""
    from tactful.privacy.vault import Identity

    writer = engine.open(stores.settings)  # another server, following the keyring file
    reports = []
    vault = writer.domain.vault
    vault._rows = _RotationBeforeInsert(  # type: ignore[assignment]
        vault._rows,
        lambda: reports.append(rotate_vault(stores.settings, stores.domain.vault, now=T0)),
    )
    late = Identity(f"hmac-sha256:v1:{'7' * 64}", "email", "late@example.com")
    try:
        assert vault.remember([late], now=T0) == 1
    finally:
        writer.domain.close()
    (report,) = reports
    assert report.retired == (1,)
    assert _destroyed_versions_in_use(stores) == {}
    assert stores.domain.vault.sealed_versions() == {report.primary: len(KEPT) + 2}
    assert stores.domain.vault.reveal(late.pseudonym) == late


def test_a_host_whose_keyring_copy_is_behind_refuses_new_people_and_loses_none(
    engine: Engine, stores: Stores, tmp_path: Path
) -> None:
    """Two hosts on one vault, a copy of the keyring each. After host A rotated, host B
    (its copy still has v1, which A destroyed) must not seal anyone under v1: it
    refuses new people, with a message saying what to do, until its keyring is
    replaced by the current one. Nobody's identity is lost on the way."""
    import shutil
    from dataclasses import replace

    from tactful.privacy.errors import StoreUnavailable

    copy = tmp_path / "host-b-keyring.json"
    shutil.copy2(stores.settings.keyring_path, copy)
    host_b = engine.open(replace(stores.settings, keyring=copy))
    try:
        before = "before.rotation@example.com"
        _visit(host_b, before)
        report = rotate_vault(stores.settings, stores.domain.vault, now=T0)  # host A
        assert report.retired == (1,) and report.lost == 0
        behind = r"keyring is behind the vault's key epochs \(v2 in the database, v1 here\)"
        newcomer = "newcomer@example.com"
        for _ in range(2):  # and again: nothing was written the first time
            with pytest.raises(StoreUnavailable, match=behind):
                _visit(host_b, newcomer)
        assert stores.identity_of(newcomer) is None
        # People the vault already knows are still recorded on host B (nothing to seal).
        _visit(host_b, KEPT[0])
        # Host A records a new person under v2: host B cannot reveal them, and says why.
        _visit(stores, "on.a@example.com")
        (on_a,) = stores.pseudonyms("on.a@example.com")
        with pytest.raises(StoreUnavailable, match=behind):
            host_b.domain.vault.reveal(on_a)
        assert _destroyed_versions_in_use(stores) == {}
        for email in [before, *KEPT]:
            assert stores.identity_of(email) is not None  # on host A, after the rotation
        # The operator installs the current keyring on host B: it writes again, at once.
        shutil.copy2(stores.settings.keyring_path, copy)
        _visit(host_b, newcomer)
        assert getattr(stores.identity_of(newcomer), "identifier", None) == newcomer
        assert getattr(host_b.identity_of("on.a@example.com"), "identifier", None) == (
            "on.a@example.com"
        )
    finally:
        host_b.close()
    assert _destroyed_versions_in_use(stores) == {}


def test_a_keyring_with_another_key_under_the_vaults_version_number_refuses_to_write(
    engine: Engine, stores: Stores, tmp_path: Path
) -> None:
    """A host whose keyring was made apart (a fresh `keys init`, a rotation of its own
    cut short) holds a v1 that is not the vault's v1: what it sealed would open on no
    other host. It refuses to write, and to rotate."""
    from dataclasses import replace

    from tactful.lifecycle.vault_epoch import KeyringBehind
    from tactful.privacy.errors import StoreUnavailable
    from tactful.privacy.keyring import create_keyring

    other = tmp_path / "other" / "keyring.json"
    create_keyring(other, now=T0)
    ours = load_keyring(stores.settings.keyring_path)
    assert ours.vault.versions[1] != load_keyring(other).vault.versions[1]
    host_b = engine.open(replace(stores.settings, keyring=other))
    try:
        with pytest.raises(StoreUnavailable, match="is not the one the vault's database knows"):
            _visit(host_b, "stranger@example.com")
        with pytest.raises(KeyringBehind, match="vault key v1 is not the vault's v1"):
            VaultEpochRotation(KeyringEpochs(other), host_b.domain.vault, _no_record).run(now=T0)
    finally:
        host_b.close()
    assert load_keyring(other).vault.live_versions() == (1,)
    assert set(stores.domain.vault.sealed_versions()) == {1}
