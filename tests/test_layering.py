"""Domain packages know nothing of gRPC, protobuf, the generated code, or any storage
engine; engines live in storage/, one folder each, and never import one another."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "tactful"
DOMAIN = ("privacy", "segments", "lifecycle")
FORBIDDEN = (
    "grpc",
    "grpc_status",
    "grpc_health",
    "grpc_reflection",
    "google.protobuf",
    "google.rpc",
    "tactful.v1",
    "tactful.api",
    "tactful.app",
    "tactful.cli",
    "tactful.console",
)


def imports_of(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


@pytest.mark.parametrize("package", DOMAIN)
def test_domain_package_imports_no_grpc(package: str) -> None:
    sources = sorted((PACKAGE / package).rglob("*.py"))
    assert sources, f"{package}/ has no modules"
    offending = {
        f"{path.relative_to(PACKAGE)}: {module}"
        for path in sources
        for module in imports_of(path)
        if any(module == f or module.startswith(f + ".") for f in FORBIDDEN)
    }
    assert offending == set()


def test_raw_crypto_only_behind_one_door_per_use() -> None:
    """The domain's primitives (HMAC, AES-GCM, Ed25519) behind privacy/_crypto.py; the
    transport's certificates (TLS) behind app/_x509.py."""
    users = {
        str(path.relative_to(PACKAGE))
        for package in (*DOMAIN, "api", "app", "cli")
        for path in (PACKAGE / package).rglob("*.py")
        if any(m.startswith("cryptography") for m in imports_of(path))
    }
    assert users == {"privacy/_crypto.py", "app/_x509.py"}


DRIVERS = ("sqlite3", "sqlite_utils", "psycopg", "psycopg_pool")


def _offending(sources: list[Path], forbidden: tuple[str, ...]) -> set[str]:
    return {
        f"{path.relative_to(PACKAGE)}: {module}"
        for path in sources
        for module in imports_of(path)
        if any(module == f or module.startswith(f + ".") for f in forbidden)
    }


@pytest.mark.parametrize("package", DOMAIN)
def test_domain_package_imports_no_database_driver_and_no_engine(package: str) -> None:
    sources = sorted((PACKAGE / package).rglob("*.py"))
    assert _offending(sources, (*DRIVERS, "tactful.storage")) == set()


def test_only_engine_folders_import_a_database_driver() -> None:
    sources = [
        path
        for package in (*DOMAIN, "api", "app", "cli", "console")
        if (PACKAGE / package).is_dir()
        for path in sorted((PACKAGE / package).rglob("*.py"))
    ]
    assert _offending(sources, DRIVERS) == set()


def engines() -> list[str]:
    return sorted(p.name for p in (PACKAGE / "storage").iterdir() if (p / "__init__.py").is_file())


def test_no_engine_folder_imports_another() -> None:
    assert "sqlite" in engines()
    for engine in engines():
        others = tuple(f"tactful.storage.{e}" for e in engines() if e != engine)
        sources = sorted((PACKAGE / "storage" / engine).rglob("*.py"))
        assert _offending(sources, others) == set(), engine


def test_the_check_sees_an_offending_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("import grpc\nfrom google.protobuf import timestamp_pb2\n")
    assert imports_of(module) == {"grpc", "google.protobuf"}


def test_every_servicer_method_is_declared_once_with_rpc() -> None:
    """The edge's work (authenticate, record, fail closed, map errors) is declared by
    `@rpc`, not written again in each method; each method is a few lines."""
    import inspect

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
