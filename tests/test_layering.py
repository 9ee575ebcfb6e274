"""The arrows between the rooms of src/tactful point down, read from the imports.

Layers, top to bottom (a package may import the ones below it, never one above it
nor a sibling on its own row):

    cli                        every `tactful …` command
    console, api               the browser's face and the gRPC face
    app                        settings, the engine table, the domain's wiring
    storage                    the engines, one folder each
    lifecycle > journeys > segments > privacy    the domain
    language                   intent, sentiment and language of a text: pure computation

Beside them: v1 (the generated wire code) and client.py, the frontends' client;
only api/, cli/ and client.py import v1. Root-level leaf modules (a .py file in
src/tactful/, e.g. timestamps.py) import nothing of tactful, and anyone may import
them. Imports inside functions count as much as those at the top of a module.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "tactful"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli",),
    ("console", "api"),
    ("app",),
    ("storage",),
    ("lifecycle",),
    ("journeys",),
    ("segments",),
    ("privacy",),
    ("language",),
)
RANK = {package: len(LAYERS) - row for row, names in enumerate(LAYERS) for package in names}
WIRE = "v1"  # generated from the .proto files
CLIENT = "client"  # client.py
V1_IMPORTERS = ("api", "cli", CLIENT)
DOMAIN = ("language", "privacy", "segments", "journeys", "lifecycle")
GRPC = (
    "grpc",
    "grpc_status",
    "grpc_health",
    "grpc_reflection",
    "google.protobuf",
    "google.rpc",
    "tactful.v1",
    "tactful.api",
)
DRIVERS = ("sqlite3", "sqlite_utils", "psycopg", "psycopg_pool")


@dataclass(frozen=True)
class Import:
    module: str  # e.g. tactful.console.pages
    line: int
    type_only: bool  # under `if TYPE_CHECKING:`: no import at run time


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _package_of(path: Path, root: Path) -> str:
    """The package a module's relative imports start from (its folder)."""
    return ".".join(path.relative_to(root.parent).parent.parts)


def imports(path: Path, root: Path = PACKAGE) -> list[Import]:
    """Every import of a module, at its top and inside functions; a relative one
    resolved; `from package import module` as the module when it is one."""
    found: list[Import] = []

    def visit(node: ast.AST, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for inner in child.body:
                    visit_one(inner, True)
                for inner in child.orelse:
                    visit_one(inner, type_only)
            else:
                visit_one(child, type_only)

    def visit_one(node: ast.AST, type_only: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Import(a.name, node.lineno, type_only) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = _package_of(path, root).split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            found.append(Import(module, node.lineno, type_only))
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                if _module_path(sub, root) is not None:
                    found.append(Import(sub, node.lineno, type_only))
        visit(node, type_only)

    visit(ast.parse(path.read_text(), str(path)), False)
    return found


def imports_of(path: Path) -> set[str]:
    return {i.module for i in imports(path)}


def _module_path(module: str, root: Path) -> Path | None:
    parts = module.split(".")
    if parts[0] != root.name:
        return None
    base = root.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def sources(root: Path = PACKAGE) -> Iterator[Path]:
    yield from sorted(root.rglob("*.py"))


def room(path: Path, root: Path = PACKAGE) -> str:
    """The package (folder) a module lives in, or the root module's own name."""
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def room_of_module(module: str, root: Path = PACKAGE) -> str | None:
    """The room an imported `tactful.…` module belongs to; None outside tactful."""
    parts = module.split(".")
    if parts[0] != root.name:
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def leaves(root: Path = PACKAGE) -> set[str]:
    """The root-level modules other than client.py (e.g. timestamps.py)."""
    return {p.stem for p in root.glob("*.py") if p.stem not in ("__init__", CLIENT)}


def _is(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


# -- the layers ------------------------------------------------------------------------


def upward_imports(root: Path = PACKAGE) -> set[str]:
    """`module:line imports target`, for every import of a room above or beside the
    importer's own (a sibling on its row counts), of v1 by a room other than api/,
    cli/ and client.py, and of anything of tactful by a leaf module."""
    found = set()
    leaf = leaves(root)
    for path in sources(root):
        own = room(path, root)
        for imported in imports(path, root):
            target = room_of_module(imported.module, root)
            if target is None or target == own or target == "__init__":
                continue
            where = f"{path.relative_to(root)}:{imported.line} imports {imported.module}"
            if own in leaf:
                found.add(where)  # a leaf imports nothing of tactful
            elif target in leaf:
                continue  # anyone may import a leaf
            elif target == WIRE:
                if own not in V1_IMPORTERS:
                    found.add(where)
            elif own in (WIRE, CLIENT):
                found.add(where)  # the wire face stands on v1 alone
            elif target not in RANK or own not in RANK or RANK[target] >= RANK[own]:
                found.add(where)
    return found


def test_every_package_has_its_place_in_the_layers() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert packages == {*RANK, WIRE}, "add a new package to LAYERS (and to this docstring)"


def test_no_package_imports_one_above_it() -> None:
    assert upward_imports() == set()


def modules_reached(start: str, root: Path = PACKAGE) -> dict[str, str]:
    """Every module imported from the modules of room `start`, directly or through
    other tactful modules (at run time: type-only imports do not load): module ->
    the tactful module that imports it."""
    reached: dict[str, str] = {}
    stack = [p for p in sources(root) if room(p, root) == start]
    seen: set[Path] = set()
    while stack:
        path = stack.pop()
        if path in seen:
            continue
        seen.add(path)
        for imported in imports(path, root):
            if imported.type_only:
                continue
            reached.setdefault(imported.module, str(path.relative_to(root)))
            target = _module_path(imported.module, root)
            if target is not None:
                stack.append(target)
    return reached


def grpc_reached_from(start: str, root: Path = PACKAGE) -> set[str]:
    return {
        f"{importer} imports {module}"
        for module, importer in modules_reached(start, root).items()
        if _is(module, GRPC)
    }


def test_the_console_does_not_import_the_grpc_layer() -> None:
    """Not api/, not v1, not grpc: directly, or through anything it imports."""
    assert grpc_reached_from("console") == set()


def engine_namers(root: Path = PACKAGE) -> set[str]:
    """The modules outside storage/ that import an engine folder."""
    folders = tuple(f"{root.name}.storage.{e}" for e in engines(root))
    return {
        str(path.relative_to(root))
        for path in sources(root)
        if room(path, root) != "storage"
        and any(_is(i.module, folders) for i in imports(path, root))
    }


def test_exactly_one_module_outside_storage_names_an_engine() -> None:
    """The engine table (app/stores.py), as Feast maps a store type to its class."""
    assert engine_namers() == {"app/stores.py"}


ENGINE_CLASS = re.compile(r"(Sqlite|Postgres)[A-Z]\w*")


def engine_class_namers(root: Path = PACKAGE) -> set[str]:
    """`module: name` for every engine class (SqliteAccessLog, PostgresEngine …) that a
    module outside storage/ names: imported, called, or in an annotation."""
    found = set()
    for path in sources(root):
        if room(path, root) == "storage":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = (
                [node.id]
                if isinstance(node, ast.Name)
                else [node.attr]
                if isinstance(node, ast.Attribute)
                else [a.name for a in node.names]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            found |= {f"{path.relative_to(root)}: {n}" for n in names if ENGINE_CLASS.fullmatch(n)}
    return found


def test_only_the_engine_table_names_an_engine_class() -> None:
    assert {namer.partition(":")[0] for namer in engine_class_namers()} == {"app/stores.py"}


def cycles_in(package: str, root: Path = PACKAGE) -> list[list[str]]:
    """The import cycles between the modules of one package (run-time imports, at
    the top or inside functions), each as its modules, sorted."""
    folder = root / package
    names = {
        ".".join(p.relative_to(root.parent).with_suffix("").parts): p
        for p in sorted(folder.rglob("*.py"))
        if p.name != "__init__.py"
    }
    edges = {
        name: {i.module for i in imports(path, root) if not i.type_only} & names.keys() - {name}
        for name, path in names.items()
    }
    # Tarjan's strongly connected components.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for after in sorted(edges[node]):
            if after not in index:
                connect(after)
                low[node] = min(low[node], low[after])
            elif after in stack:
                low[node] = min(low[node], index[after])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for name in sorted(names):
        if name not in index:
            connect(name)
    return found


@pytest.mark.parametrize("package", sorted(RANK))
def test_no_import_cycle_inside_a_package(package: str) -> None:
    assert cycles_in(package) == []


# -- the domain, the engines, the dangerous primitives ------------------------------------


def _offending(paths: list[Path], forbidden: tuple[str, ...]) -> set[str]:
    return {
        f"{path.relative_to(PACKAGE)}: {module}"
        for path in paths
        for module in imports_of(path)
        if _is(module, forbidden)
    }


@pytest.mark.parametrize("package", DOMAIN)
def test_domain_package_imports_no_grpc(package: str) -> None:
    paths = sorted((PACKAGE / package).rglob("*.py"))
    assert paths, f"{package}/ has no modules"
    assert _offending(paths, GRPC) == set()


@pytest.mark.parametrize("package", DOMAIN)
def test_domain_package_imports_no_database_driver_and_no_engine(package: str) -> None:
    paths = sorted((PACKAGE / package).rglob("*.py"))
    assert _offending(paths, (*DRIVERS, "tactful.storage")) == set()


def test_raw_crypto_only_behind_one_door_per_use() -> None:
    """The domain's primitives (HMAC, AES-GCM, Ed25519) behind privacy/_crypto.py; the
    transport's certificates (TLS) behind app/_x509.py."""
    users = {
        str(path.relative_to(PACKAGE))
        for path in sources()
        if room(path) != "storage" and any(_is(m, ("cryptography",)) for m in imports_of(path))
    }
    assert users == {"privacy/_crypto.py", "app/_x509.py"}


def test_only_engine_folders_import_a_database_driver() -> None:
    paths = [path for path in sources() if room(path) != "storage"]
    assert _offending(paths, DRIVERS) == set()


def engines(root: Path = PACKAGE) -> list[str]:
    return sorted(p.name for p in (root / "storage").iterdir() if (p / "__init__.py").is_file())


def test_no_engine_folder_imports_another() -> None:
    assert "sqlite" in engines()
    for engine in engines():
        others = tuple(f"tactful.storage.{e}" for e in engines() if e != engine)
        paths = sorted((PACKAGE / "storage" / engine).rglob("*.py"))
        assert _offending(paths, others) == set(), engine


# -- the checks themselves ------------------------------------------------------------------


def test_the_check_sees_an_offending_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("import grpc\nfrom google.protobuf import timestamp_pb2\n")
    assert imports_of(module) == {"grpc", "google.protobuf"}


def test_the_check_sees_imports_inside_functions_and_relative_ones(tmp_path: Path) -> None:
    root = tmp_path / "tactful"
    (root / "app").mkdir(parents=True)
    for name in ("__init__.py", "app/__init__.py", "app/stores.py"):
        (root / name).write_text("")
    module = root / "app" / "wiring.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from tactful.cli import main\n"
        "def late():\n    from . import stores\n    import tactful.console.app\n"
    )
    found = {(i.module, i.type_only) for i in imports(module, root)}
    assert {
        ("tactful.cli", True),
        ("tactful.app", False),
        ("tactful.app.stores", False),
        ("tactful.console.app", False),
    } <= found


def test_every_servicer_method_is_declared_once_with_rpc() -> None:
    """The edge's work (authenticate, record, fail closed, map errors) is declared by
    `@rpc`, not written again in each method; each method is a few lines."""
    from tactful.api import servicers

    for _, cls in inspect.getmembers(servicers, inspect.isclass):
        if not cls.__name__.endswith("Servicer") or cls.__module__ != servicers.__name__:
            continue
        methods = [name for name in vars(cls) if name[0].isupper()]
        assert methods, cls
        for name in methods:
            body = getattr(cls, name).__wrapped__  # set by @rpc
            lines = inspect.getsource(body).splitlines()
            assert len(lines) <= 12, f"{cls.__name__}.{name} is {len(lines)} lines"
