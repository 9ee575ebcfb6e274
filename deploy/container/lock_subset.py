"""The part of requirements.lock that the service needs, exact versions and hashes kept.

The lock pins every extra at once, the development tools included (pytest, mypy,
scikit-learn, playwright); an image needs only `tactful[server,postgres]`. pip-compile
writes, under each pin, the packages that require it (`# via`); a pin is kept when
the extras asked for name it, or when a pin kept requires it. So the image installs
the lock's own versions with `pip install --require-hashes --no-deps`, and `pip
check` afterwards proves nothing is missing.

    python lock_subset.py requirements.lock pyproject.toml server postgres > server.lock
    python lock_subset.py requirements.lock pyproject.toml --only setuptools > build.lock

Standard library only: it runs in the image's build stage before anything is installed.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==\S+")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_VIA = re.compile(r"^\s*#\s+(?:via\s+)?([A-Za-z0-9][A-Za-z0-9._-]*)(?: \(.*\))?\s*$")


@dataclass(frozen=True)
class Pin:
    name: str  # normalized (PEP 503)
    text: str  # the lock's lines for it: the pin, its hashes, its `# via` comments
    required_by: frozenset[str]


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(text: str) -> list[Pin]:
    """Every pin of a pip-compile lock, in its order."""
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if _PIN.match(line):
            blocks.append([line])
        elif blocks and line.startswith((" ", "\t")):
            blocks[-1].append(line)
    pins = []
    for block in blocks:
        match = _PIN.match(block[0])
        assert match is not None
        via = set()
        for line in block[1:]:
            found = _VIA.match(line.replace("# via", "#", 1)) if "#" in line else None
            if found and found.group(1) != "via":
                via.add(normalize(found.group(1)))
        pins.append(Pin(normalize(match.group(1)), "\n".join(block), frozenset(via)))
    return pins


def requirements_of(pyproject: dict[str, object], extras: Iterable[str]) -> set[str]:
    """The names the project requires with `extras` (its own dependencies included)."""
    project = pyproject["project"]
    assert isinstance(project, dict)
    optional = project.get("optional-dependencies", {})
    wanted = list(project.get("dependencies", []))
    for extra in extras:
        if extra not in optional:
            raise SystemExit(f"lock_subset: pyproject.toml has no extra {extra!r}")
        wanted += optional[extra]
    names = set()
    for requirement in wanted:
        match = _NAME.match(requirement)
        assert match is not None, requirement
        names.add(normalize(match.group(1)))
    return names


def subset(pins: list[Pin], wanted: set[str], project: str) -> list[Pin]:
    """The pins `wanted` names and, again and again, those a kept pin requires."""
    known = {pin.name for pin in pins}
    missing = wanted - known
    if missing:
        raise SystemExit(f"lock_subset: not in the lock: {', '.join(sorted(missing))}")
    kept = set(wanted)
    grew = True
    while grew:
        grew = False
        for pin in pins:
            # `tactful (pyproject.toml)` requires every extra's packages: not a reason.
            parents = pin.required_by - {normalize(project)}
            if pin.name not in kept and parents & kept:
                kept.add(pin.name)
                grew = True
    return [pin for pin in pins if pin.name in kept]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lock", type=Path)
    parser.add_argument("pyproject", type=Path)
    parser.add_argument("extras", nargs="*", help="the project's extras to keep")
    parser.add_argument("--only", action="append", default=[], help="a package, not an extra")
    args = parser.parse_args(argv)
    pyproject = tomllib.loads(args.pyproject.read_text(encoding="utf-8"))
    if args.only:
        wanted = {normalize(name) for name in args.only}
    else:
        wanted = requirements_of(pyproject, args.extras)
    pins = subset(read_lock(args.lock.read_text(encoding="utf-8")), wanted, "tactful")
    what = ", ".join(args.only) if args.only else f"tactful[{','.join(args.extras)}]"
    print(f"# {what}: the pins of {args.lock.name} it needs (deploy/container/lock_subset.py)")
    for pin in pins:
        print(pin.text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
