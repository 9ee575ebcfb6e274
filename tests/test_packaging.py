"""A non-editable install works outside a checkout: the wheel carries the development
config, the example contract and the segments data, builds without warnings, and its
`tactful serve` starts from a directory that holds no copy of the repository."""

from __future__ import annotations

import contextlib
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

from tactful.app.settings import DEVELOPMENT_CONFIG, EXAMPLE_CONTRACT, EXAMPLES
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
        "tactful/segments/data/intent_examples.jsonl",
        "tactful/py.typed",
        "tactful/v1/personalization.proto",
        # Typed for the checkers of those who import it: messages and services.
        "tactful/v1/personalization_pb2.pyi",
        "tactful/v1/personalization_pb2_grpc.pyi",
        "tactful/client.py",
    } <= names
    assert not any(n.startswith("examples/") for n in names)


@pytest.fixture(scope="module")
def installed(wheel: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed (no dependencies: those of the project's
    venv are put on its path, so nothing is downloaded). Returns its bin directory."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60
    )
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
        + ["--no-deps", "--no-index", str(wheel[0])],
        check=True,
        timeout=120,
        env=_without_pythonpath(),
    )
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()
    # A path line in a .pth file: appended after the venv's own site-packages, so the
    # installed `tactful` is found first, and the project's editable finder stays off.
    dependencies = sysconfig.get_path("purelib")
    (Path(purelib) / "tactful-test-dependencies.pth").write_text(dependencies + "\n")
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
def test_the_wheel_holds_every_package_of_the_source_tree(wheel: tuple[Path, str]) -> None:
    """Every folder of Python modules is packaged (storage/postgres once was not), and
    nothing but `tactful` is installed at the top."""
    path, _ = wheel
    names = set(zipfile.ZipFile(path).namelist())
    sources = sorted((ROOT / "src" / "tactful").rglob("*.py"))
    assert len(sources) > 100
    for module in sources:
        assert str(module.relative_to(ROOT / "src")) in names, module
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"tactful"}


@pytest.mark.slow
def test_the_installed_tactful_serves_from_postgresql(installed: Path, tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    from tests.postgres.servers import write_config
    from tests.postgres_cluster import fresh_database, shared_cluster

    cluster = shared_cluster()
    behavior, vault = fresh_database(cluster, "behavior"), fresh_database(cluster, "vault")
    config = write_config(tmp_path / "a", behavior, vault, keyring=tmp_path / "keyring.json")
    env = {k: v for k, v in _without_pythonpath().items() if not k.startswith("TACTFUL_")}
    migrated = subprocess.run(
        [str(installed / "tactful"), "db", "migrate", "--config", str(config)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )  # fmt: skip
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    with _serving(installed / "tactful", tmp_path, env, "--config", str(config)) as lines:
        listening = _line_matching(lines, re.compile(r"listening on 127\.0\.0\.1:(\d+)"))
        with grpc.insecure_channel(f"127.0.0.1:{listening.group(1)}") as channel:
            stub = personalization_pb2_grpc.PersonalizationStub(channel)
            request = personalization_pb2.RecordEventsRequest(
                purpose="support_triage", events=[page_view(email("ada@example.com"), _now())]
            )
            reply = stub.RecordEvents(request, metadata=bearer("support_widget"), timeout=30)
    assert reply.stored == 1


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
