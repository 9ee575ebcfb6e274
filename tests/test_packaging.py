"""A non-editable install works outside a checkout: the wheel carries every engine,
the console's pages, the development config, the example contract and the segments
data, builds without warnings, and its `tactful serve` serves from SQLite and from
PostgreSQL from a directory that holds no copy of the repository.

`pip install tactful` alone is the client a frontend needs: it passes `pip check` with
only grpcio, protobuf and googleapis-common-protos, and its `tactful` command says in
one line to install `tactful[server]`."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from packaging.requirements import Requirement

from tactful.app.settings import DEVELOPMENT_CONFIG, EXAMPLE_CONTRACT, EXAMPLES
from tactful.cli import entry
from tactful.v1 import personalization_pb2, personalization_pb2_grpc
from tests.conftest import bearer, email, page_view

ROOT = Path(__file__).resolve().parent.parent
# What a build reads; the copy keeps build/ and *.egg-info out of the work tree.
_NOT_BUILT_FROM = shutil.ignore_patterns(
    ".venv",
    ".git",
    ".tactful",
    ".hypothesis",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
)
_ABSENT_WARNING = "is absent from the `packages` configuration"


def test_the_server_reads_its_examples_from_the_package() -> None:
    assert EXAMPLES == ROOT / "src" / "tactful" / "app" / "examples"
    assert DEVELOPMENT_CONFIG.is_file() and EXAMPLE_CONTRACT.is_file()


@pytest.mark.parametrize("name", ["development.toml", "contract.toml"])
def test_the_repository_examples_are_the_packaged_ones(name: str) -> None:
    # Readers find them at examples/ (the README links there); the server reads them inside
    # the package. One file, two names: examples/ holds links, so they cannot drift.
    shown = ROOT / "examples" / name
    assert shown.is_symlink() and shown.resolve() == (EXAMPLES / name).resolve()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The wheel built from a copy of the source tree, and the build's output."""
    build = tmp_path_factory.mktemp("build")
    source = build / "source"
    shutil.copytree(ROOT, source, ignore=_NOT_BUILT_FROM)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation"]
        + ["--no-index", "--wheel-dir", str(build / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=120,
        env=_without_pythonpath(),
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (found,) = (build / "dist").glob("tactful-*.whl")
    return found, built.stdout + built.stderr


@pytest.mark.slow
def test_the_build_prints_no_setuptools_warning(wheel: tuple[Path, str]) -> None:
    _, output = wheel
    assert _ABSENT_WARNING not in output
    assert "BuildBackendWarning" not in output and "SetuptoolsDeprecationWarning" not in output


@pytest.mark.slow
def test_the_wheel_ships_the_data_files(wheel: tuple[Path, str]) -> None:
    path, _ = wheel
    names = set(zipfile.ZipFile(path).namelist())
    assert {
        "tactful/app/examples/development.toml",
        "tactful/app/examples/contract.toml",
        "tactful/app/examples/playbooks/checkout_recovery.toml",
        "tactful/segments/data/intent_examples.jsonl",
        "tactful/py.typed",
        "tactful/v1/personalization.proto",
        # Typed for the checkers of those who import it: messages and services.
        "tactful/v1/personalization_pb2.pyi",
        "tactful/v1/personalization_pb2_grpc.pyi",
        # What reflection serves: the .proto files' descriptors with their comments.
        "tactful/v1/descriptors.binpb",
        "tactful/client.py",
    } <= names
    assert not any(n.startswith("examples/") for n in names)


@pytest.fixture(scope="module")
def installed(wheel: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed (no dependencies: those of the project's
    venv are put on its path, so nothing is downloaded). Returns its bin directory."""
    venv = tmp_path_factory.mktemp("venv")
    python = _venv_with_the_wheel(venv, wheel[0])
    _add_path(python, Path(sysconfig.get_path("purelib")))
    return venv / "bin"


@pytest.mark.slow
def test_the_installed_server_runs_from_site_packages(installed: Path, tmp_path: Path) -> None:
    located = subprocess.run(
        [str(installed / "python"), "-c", "import tactful.app.settings as c; print(c.EXAMPLES)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=30,
        env=_without_pythonpath(),
    )
    assert located.returncode == 0, located.stderr
    examples = Path(located.stdout.strip())
    assert examples.is_relative_to(installed.parent) and ROOT not in examples.parents
    assert (examples / "development.toml").is_file() and (examples / "contract.toml").is_file()


@pytest.mark.slow
def test_the_installed_package_is_the_wheel_not_the_checkout(
    installed: Path, tmp_path: Path
) -> None:
    """Nothing of the checkout can stand in for what the wheel lacks: no PYTHONPATH, no
    editable finder, a working directory outside it; every file is the venv's copy."""
    assert ROOT not in tmp_path.parents
    probe = (
        "import json, sys, tactful, tactful.storage.postgres, tactful.console.app as c\n"
        "print(json.dumps([tactful.__file__, tactful.storage.postgres.__file__,"
        " str(c.HERE), sys.path]))"
    )
    ran = subprocess.run(
        [str(installed / "python"), "-c", probe],
        capture_output=True, text=True, cwd=tmp_path, timeout=60, env=_without_pythonpath(),
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    package, postgres, console, path = json.loads(ran.stdout)
    venv = installed.parent
    top = Path(package).parent
    assert top.is_relative_to(venv) and Path(postgres).is_relative_to(top)
    assert Path(console).is_relative_to(top)
    # On its path: the venv's own, the standard library, and the dependencies (the
    # project venv's site-packages, by the .pth line); nothing else of the checkout.
    dependencies = Path(sysconfig.get_path("purelib")).resolve()
    searched = [Path(p or tmp_path).resolve() for p in path]
    assert [p for p in searched if p.is_relative_to(ROOT) and p != dependencies] == []
    missing = [name for name in _source_files() if not (top.parent / name).is_file()]
    assert not missing


@pytest.mark.slow
def test_the_installed_tactful_serve_starts(installed: Path, tmp_path: Path) -> None:
    env = _without_pythonpath() | {
        "TACTFUL_LISTEN": "127.0.0.1:0",
        "TACTFUL_DATA_DIR": str(tmp_path / "data"),
    }
    with _serving(installed / "tactful", tmp_path, env) as lines:
        listening = _line_matching(lines, re.compile(r"listening on 127\.0\.0\.1:(\d+)"))
        port = int(listening.group(1))
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            reply = health.Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.slow
def test_the_wheel_holds_every_file_of_the_source_tree(wheel: tuple[Path, str]) -> None:
    """Every module and data file is packaged (storage/postgres once was not; the
    console's templates and style sheet are data files), and nothing but `tactful` is
    installed at the top."""
    path, _ = wheel
    names = set(zipfile.ZipFile(path).namelist())
    sources = _source_files()
    assert len(sources) > 100
    assert {"tactful/storage/postgres/__init__.py", "tactful/console/templates/base.html"} <= set(
        sources
    )
    for name in sources:
        assert name in names, name
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"tactful"}


@pytest.mark.slow
def test_the_installed_tactful_serves_from_sqlite(installed: Path, tmp_path: Path) -> None:
    from tests.postgres.servers import write_config

    config = write_config(tmp_path / "a", "", "", keyring=tmp_path / "keyring.json")
    assert _records_one_event(installed, config, tmp_path) == 1
    assert (tmp_path / "a" / "data" / "behavior.db").is_file()


@pytest.mark.slow
def test_the_installed_tactful_serves_from_postgresql(installed: Path, tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    from tests.postgres.servers import write_config
    from tests.postgres_cluster import fresh_database, shared_cluster

    cluster = shared_cluster()
    behavior, vault = fresh_database(cluster, "behavior"), fresh_database(cluster, "vault")
    config = write_config(tmp_path / "a", behavior, vault, keyring=tmp_path / "keyring.json")
    env = _without_tactful_variables()
    migrated = subprocess.run(
        [str(installed / "tactful"), "db", "migrate", "--config", str(config)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )  # fmt: skip
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert _records_one_event(installed, config, tmp_path) == 1
    assert not (tmp_path / "a" / "data" / "behavior.db").exists()


def _records_one_event(installed: Path, config: Path, cwd: Path) -> int:
    """Starts the installed `tactful serve --config`, records one event: how many stored."""
    env = _without_tactful_variables()
    with _serving(installed / "tactful", cwd, env, "--config", str(config)) as lines:
        listening = _line_matching(lines, re.compile(r"listening on 127\.0\.0\.1:(\d+)"))
        with grpc.insecure_channel(f"127.0.0.1:{listening.group(1)}") as channel:
            stub = personalization_pb2_grpc.PersonalizationStub(channel)
            request = personalization_pb2.RecordEventsRequest(
                purpose="support_triage", events=[page_view(email("ada@example.com"), _now())]
            )
            reply = stub.RecordEvents(request, metadata=bearer("support_widget"), timeout=30)
    return int(reply.stored)


def _without_tactful_variables() -> dict[str, str]:
    return {k: v for k, v in _without_pythonpath().items() if not k.startswith("TACTFUL_")}


# The slim install: the wheel alone, in a venv that holds only the client's
# dependencies.


@pytest.fixture(scope="module")
def client_only(wheel: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed and, on its path, only the distributions
    its base requirements need (links into the project's venv: nothing is downloaded).
    Returns its bin directory."""
    venv = tmp_path_factory.mktemp("client-venv")
    python = _venv_with_the_wheel(venv, wheel[0])
    linked = tmp_path_factory.mktemp("client-dependencies")
    for name in _base_requirements_closure(wheel[0]):
        _link_distribution(importlib.metadata.distribution(name), linked)
    _add_path(python, linked)
    return venv / "bin"


@pytest.mark.slow
def test_the_client_needs_only_grpcio_protobuf_and_googleapis_common_protos(
    wheel: tuple[Path, str],
) -> None:
    closure = _base_requirements_closure(wheel[0])
    assert {"grpcio", "protobuf", "googleapis-common-protos"} <= closure
    assert not closure & {"cryptography", "opendp", "sqlite-utils", "starlette", "grpcio-status"}


@pytest.mark.slow
def test_the_client_install_passes_pip_check(client_only: Path, tmp_path: Path) -> None:
    checked = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(client_only / "python"), "check"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, env=_without_pythonpath(),
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(client_only / "python"), "list"]
        + ["--format", "json"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, env=_without_pythonpath(),
    )  # fmt: skip
    names = {d["name"].lower() for d in json.loads(listed.stdout)}
    assert "tactful" in names and not names & {"cryptography", "opendp", "sqlite-utils"}


@pytest.mark.slow
def test_the_client_install_connects(client_only: Path, tmp_path: Path) -> None:
    program = (
        "from tactful.client import Event, Subject, connect\n"
        "connect('127.0.0.1:1', 'tf_x', plaintext=True).close()\n"
        "try:\n    import cryptography\nexcept ImportError:\n    print('slim')\n"
    )
    ran = subprocess.run(
        [str(client_only / "python"), "-c", program],
        capture_output=True, text=True, cwd=tmp_path, timeout=60, env=_without_pythonpath(),
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "slim\n"


@pytest.mark.slow
@pytest.mark.parametrize("argv", [["serve"], ["audit", "verify"], ["--version"]])
def test_the_client_installs_tactful_command_says_what_to_install(
    client_only: Path, tmp_path: Path, argv: list[str]
) -> None:
    ran = subprocess.run(
        [str(client_only / "tactful"), *argv],
        capture_output=True, text=True, cwd=tmp_path, timeout=60, env=_without_pythonpath(),
    )  # fmt: skip
    assert ran.returncode == 1 and ran.stdout == ""
    assert ran.stderr.count("\n") == 1 and "Traceback" not in ran.stderr
    assert ran.stderr.startswith("tactful: ")
    assert "pip install 'tactful[server]'" in ran.stderr


@pytest.mark.parametrize("missing", ["cryptography", "grpc_status._async"])
def test_a_missing_server_dependency_is_one_line(
    missing: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _import_of_main_fails(monkeypatch, missing)
    assert entry.main() == 1
    printed = capsys.readouterr()
    assert printed.out == "" and printed.err.count("\n") == 1
    assert f"no module named {missing.partition('.')[0]!r}" in printed.err
    assert "pip install 'tactful[server]'" in printed.err


def test_a_missing_module_of_tactful_is_not_taken_for_a_client_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _import_of_main_fails(monkeypatch, "tactful.storage.postgres")
    with pytest.raises(ModuleNotFoundError):
        entry.main()


def _import_of_main_fails(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    class Failing:
        def find_spec(self, name: str, path: object = None, target: object = None) -> None:
            if name == "tactful.cli.main":
                raise ModuleNotFoundError(f"No module named {missing!r}", name=missing)

    monkeypatch.delitem(sys.modules, "tactful.cli.main", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Failing(), *sys.meta_path])


def _venv_with_the_wheel(venv: Path, wheel: Path) -> Path:
    """A venv without pip, with the wheel installed and no dependency: its python."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60
    )
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
        + ["--no-deps", "--no-index", str(wheel)],
        check=True,
        timeout=120,
        env=_without_pythonpath(),
    )
    return python


def _add_path(python: Path, folder: Path) -> None:
    """A path line in a .pth file: appended after the venv's own site-packages, so the
    installed `tactful` is found first. The folder's own .pth files are not read, so
    the project's editable finder stays off."""
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()
    (Path(purelib) / "tactful-test-dependencies.pth").write_text(f"{folder}\n")


def _base_requirements_closure(wheel: Path) -> set[str]:
    """The distributions `pip install <wheel>` pulls without extras, read from the
    wheel's metadata and then from those installed in the project's venv."""
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        lines = archive.read(metadata).decode().splitlines()
    wanted = [line.partition(": ")[2] for line in lines if line.startswith("Requires-Dist: ")]
    closure: set[str] = set()
    while wanted:
        requirement = Requirement(wanted.pop())
        name = requirement.name.lower().replace("_", "-")
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue
        if name not in closure:
            closure.add(name)
            wanted += importlib.metadata.requires(name) or []
    return closure


def _link_distribution(distribution: importlib.metadata.Distribution, into: Path) -> None:
    """Links, file by file, to what one distribution installed in site-packages (its
    modules and its .dist-info), so that namespace folders such as google/ hold only
    the files of the distributions linked."""
    site = Path(sysconfig.get_path("purelib"))
    for file in distribution.files or []:
        if file.parts[0] == ".." or "__pycache__" in file.parts:
            continue  # scripts in bin/; byte code is made again
        link = into / file
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(site / file)


def _source_files() -> list[str]:
    """What the wheel must hold: every file under src/tactful, as a wheel names it."""
    src = ROOT / "src"
    return sorted(
        str(f.relative_to(src))
        for f in (src / "tactful").rglob("*")
        if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc"
    )


def _now() -> datetime:
    return datetime.now(UTC) - timedelta(seconds=1)


def _without_pythonpath() -> dict[str, str]:
    # A PYTHONPATH pointing at the checkout would hide what the wheel lacks.
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


class _Lines:
    """The lines a process prints, read on a thread so that a wait can be bounded."""

    def __init__(self, stream: object) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self._queue.put(line)
        self._queue.put(None)

    def next(self, timeout: float) -> str | None:
        line = self._queue.get(timeout=timeout)
        if line is not None:
            self.seen.append(line)
        return line


def _line_matching(lines: _Lines, pattern: re.Pattern[str]) -> re.Match[str]:
    while True:
        try:
            line = lines.next(timeout=30)
        except queue.Empty:
            pytest.fail("no 'listening on' within 30 s: " + "".join(lines.seen))
        if line is None:
            pytest.fail("tactful serve ended before listening: " + "".join(lines.seen))
        found = pattern.search(line)
        if found:
            return found


@contextlib.contextmanager
def _serving(program: Path, cwd: Path, env: dict[str, str], *argv: str) -> Iterator[_Lines]:
    process = subprocess.Popen(
        [str(program), "serve", *argv],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield _Lines(process.stdout)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        assert process.stdout is not None
        process.stdout.close()
