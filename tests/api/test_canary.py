"""Canary: a raw identifier exists nowhere but (encrypted) in the identity vault."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

from tests.conftest import T0, Tactful, email, page_view

CANARY = "Canary.Person+7f3a@Example.com"


def forbidden_forms(identifier: str) -> list[bytes]:
    """The identifier in any case, and its plain SHA-256 hex (raw and normalized)."""
    forms = {identifier, identifier.strip().casefold()}
    hashes = {hashlib.sha256(f.encode()).hexdigest() for f in forms}
    return sorted({f.lower().encode() for f in forms | hashes})


def files_holding(data_dir: Path, needles: list[bytes]) -> dict[str, list[bytes]]:
    hits: dict[str, list[bytes]] = {}
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        content = path.read_bytes().lower()
        found = [n for n in needles if n in content]
        if found:
            hits[path.name] = found
    return hits


def test_canary_identifier_only_in_the_vault_and_never_in_plain(tactful: Tactful) -> None:
    canary = email(f"  {CANARY} ")
    tactful.record(
        "support_triage", *(page_view(canary, T0 - timedelta(seconds=i)) for i in range(50))
    )
    assert tactful.segments(email(CANARY.upper())) == ["new_visitor"]

    data_dir = tactful.settings.data_dir
    names = {p.name for p in data_dir.iterdir()}
    assert {"behavior.db", "behavior.db-wal", "vault.db"} <= names, names  # WAL still live
    assert files_holding(data_dir, forbidden_forms(CANARY)) == {}

    tactful.stop()  # checkpoint the WAL into the main files, then look again
    assert files_holding(data_dir, forbidden_forms(CANARY)) == {}


def test_the_scan_would_find_a_leak(tactful: Tactful) -> None:
    leak = tactful.settings.data_dir / "debug.log"
    leak.write_text(f"subject={CANARY.upper()}\n")
    assert files_holding(tactful.settings.data_dir, forbidden_forms(CANARY)) == {
        "debug.log": [CANARY.lower().encode()]
    }
    leak.write_text(hashlib.sha256(CANARY.casefold().encode()).hexdigest().upper())
    assert "debug.log" in files_holding(tactful.settings.data_dir, forbidden_forms(CANARY))
