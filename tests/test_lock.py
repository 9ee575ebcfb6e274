"""requirements.lock: the exact versions `make` installs, within pyproject.toml's ranges."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", re.MULTILINE)


def locked() -> dict[str, str]:
    return {canonicalize_name(n): v for n, v in _PIN.findall(LOCK.read_text(encoding="utf-8"))}


def extras() -> dict[str, list[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return project["optional-dependencies"]  # type: ignore[no-any-return]


def declared() -> list[Requirement]:
    """The base requirements (the client's) and those of every extra (the server's,
    postgres, otel, dev): make installs them all."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = project["dependencies"] + [r for extra in extras().values() for r in extra]
    return [Requirement(r) for r in wanted]


def test_every_declared_dependency_is_pinned_within_its_range() -> None:
    pins = locked()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in requirements.lock: run make lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, outside {requirement}: run make lock"
        )


def test_every_pin_is_exact_and_hashed() -> None:
    text = LOCK.read_text(encoding="utf-8")
    entries = [e for e in re.split(r"\n(?=[A-Za-z])", text) if _PIN.match(e)]
    assert len(entries) == len(locked()) > len(declared())  # the transitive ones too
    for entry in entries:
        assert "--hash=sha256:" in entry, f"no hash for {entry.splitlines()[0]}"
    # pip and setuptools are pinned too: they install and build everything else.
    assert {"pip", "setuptools"} <= set(locked())


def test_the_installed_versions_are_the_locked_ones() -> None:
    # make installs from the lock (and reinstalls when it changes): what runs the suite
    # is what the lock says.
    for name, pinned in locked().items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            pytest.fail(f"{name}=={pinned} is locked but not installed: run make")
        assert installed == pinned, f"{name} {installed} installed, {pinned} locked: run make"


def test_make_installs_from_the_lock_and_rebuilds_when_it_changes() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^LOCK := requirements\.lock$", makefile, re.MULTILINE)
    stamp = re.search(r"^\$\(STAMP\): (.*)\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert stamp is not None
    assert "$(LOCK)" in stamp.group(1).split()
    recipe = stamp.group(2)
    assert "--require-hashes -r $(LOCK)" in recipe
    assert "--no-deps" in recipe  # tactful itself resolves nothing beyond the lock
    assert re.search(r"^lock: .*\n\t\$\(BIN\)/pip-compile ", makefile, re.MULTILINE)


def test_make_lock_compiles_every_extra() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^lock: .*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe is not None
    assert set(re.findall(r"--extra (\S+)", recipe.group(1))) == set(extras())
    # An extra naming tactful itself would lock the checkout (tactful @ file://...).
    assert not re.search(r"^\S+ @ ", LOCK.read_text(encoding="utf-8"), re.MULTILINE)
