"""The container image definition and the Compose file (deploy/container/), checked by
what runs without a container engine: the Containerfile read instruction by
instruction, the Compose file as YAML, each command they run is a `tactful` command
that exists, the lock subset the image installs is complete, and the Compose shape
(migrate, keyring, TLS files, two servers, their health checks) run as processes on
a throwaway PostgreSQL with the Compose file's own config and commands.

What needs an engine and a registry (building the image, `docker compose up`) is in
docs/operations/containers.md, not faked here."""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

from tactful.app.config_file import load_settings
from tactful.cli.main import _parser, main

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "deploy" / "container"
CONTAINERFILE = HERE / "Containerfile"
COMPOSE = HERE / "compose.yaml"
TACTFUL = Path(sys.executable).parent / "tactful"

sys.path.insert(0, str(HERE))
import lock_subset  # noqa: E402

sys.path.remove(str(HERE))


# The Containerfile -------------------------------------------------------------------


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, its arguments) in order: continuation lines joined, comments and
    blank lines skipped (inside a continued instruction too, as the builder does)."""
    found: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        if not pending and not line.strip():
            continue
        if line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        word, _, rest = whole.partition(" ")
        found.append((word.upper(), " ".join(rest.split())))
    assert not pending, "the file ends inside a continued instruction"
    return found


def stages(text: str) -> list[list[tuple[str, str]]]:
    """The instructions of each build stage (from one FROM to the next)."""
    found: list[list[tuple[str, str]]] = []
    for instruction in instructions(text):
        if instruction[0] == "FROM":
            found.append([])
        elif not found:
            assert instruction[0] == "ARG", f"{instruction[0]} before the first FROM"
            continue
        found[-1].append(instruction)
    return found


def arguments(stage: list[tuple[str, str]], word: str) -> list[str]:
    return [rest for instruction, rest in stage if instruction == word]


def exec_form(rest: str) -> list[str]:
    """The JSON array of an exec-form CMD, ENTRYPOINT or HEALTHCHECK CMD."""
    value = json.loads(rest)
    assert isinstance(value, list) and all(isinstance(word, str) for word in value), rest
    return value


@pytest.fixture(scope="module")
def build_and_run() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    text = CONTAINERFILE.read_text(encoding="utf-8")
    (build, run) = stages(text)
    return build, run


def test_the_parser_reads_continuations_and_skips_comments() -> None:
    text = "FROM a AS b\n# note\nRUN one \\\n  # inside\n  && two\n\nUSER 1:1\n"
    assert instructions(text) == [("FROM", "a AS b"), ("RUN", "one && two"), ("USER", "1:1")]


def test_two_stages_on_python_311_slim() -> None:
    text = CONTAINERFILE.read_text(encoding="utf-8")
    froms = [rest for word, rest in instructions(text) if word == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]
    (image,) = [rest for word, rest in instructions(text) if word == "ARG"]
    assert re.fullmatch(r"PYTHON_IMAGE=\S*/python:3\.11-slim(-\w+)?", image), image


def copied(stage: list[tuple[str, str]]) -> list[str]:
    """The build-context sources of a stage's COPY instructions (not --from)."""
    sources = []
    for rest in arguments(stage, "COPY"):
        words = rest.split()
        if any(word.startswith("--from") for word in words):
            continue
        sources += [word for word in words[:-1] if not word.startswith("--")]
    return sources


def test_every_copied_file_is_in_the_checkout_and_the_build_context(
    build_and_run: tuple[list[tuple[str, str]], list[tuple[str, str]]],
) -> None:
    build, run = build_and_run
    sources = copied(build) + copied(run)
    assert sources
    kept = [
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.startswith("!")
    ]
    for source in sources:
        assert (ROOT / source).exists(), source
        assert source.rstrip("/") in kept, f"{source}: excluded by .dockerignore"
    readme = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["readme"]
    assert readme in sources  # the wheel's build reads it


def test_the_build_context_sends_no_key_data_or_virtualenv() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules[0] == "**"  # everything out, then only what the image needs back in
    assert {"**/*.key", "**/keyring.json"} <= set(rules)


def test_the_build_installs_the_locked_versions_with_their_hashes(
    build_and_run: tuple[list[tuple[str, str]], list[tuple[str, str]]],
) -> None:
    build, _ = build_and_run
    script = " ".join(arguments(build, "RUN"))
    assert "lock_subset.py requirements.lock pyproject.toml server postgres > server.lock" in script
    assert "pip install --require-hashes --no-deps -r server.lock" in script
    assert "pip check" in script
    assert "pip install --no-deps /wheels/tactful-" in script


def test_the_image_runs_as_an_unprivileged_user(
    build_and_run: tuple[list[tuple[str, str]], list[tuple[str, str]]],
) -> None:
    _, run = build_and_run
    (user,) = arguments(run, "USER")
    uid, _, gid = user.partition(":")
    # Numeric, so that a runtime checking "not root" (runAsNonRoot) can tell.
    assert uid.isdigit() and gid.isdigit() and int(uid) != 0 and int(gid) != 0
    script = " ".join(arguments(run, "RUN"))
    assert f"--uid {uid}" in script and f"--gid {gid}" in script


def test_what_the_server_writes_is_a_volume(
    build_and_run: tuple[list[tuple[str, str]], list[tuple[str, str]]],
) -> None:
    _, run = build_and_run
    (volume,) = arguments(run, "VOLUME")
    volumes = set(json.loads(volume))
    settings = compose_settings()
    assert {str(settings.data_dir), str(settings.keyring_path.parent)} <= volumes
    env = " ".join(arguments(run, "ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "TACTFUL_CONFIG=/etc/tactful/tactful.toml" in env


def help_exits_0(argv: list[str]) -> None:
    """`tactful ARGV` names a command that exists, with options it takes: its --help
    exits 0, and the parser takes ARGV as it is (--help alone would exit before an
    unknown option is found)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0, argv
    assert out.getvalue().startswith("usage: tactful"), out.getvalue()
    with contextlib.redirect_stderr(io.StringIO()) as err:
        try:
            parsed = _parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"tactful {' '.join(argv)}: {err.getvalue()}")
    assert hasattr(parsed, "run"), argv


def test_the_image_runs_tactful_serve_and_checks_its_health(
    build_and_run: tuple[list[tuple[str, str]], list[tuple[str, str]]],
) -> None:
    _, run = build_and_run
    (entrypoint,) = arguments(run, "ENTRYPOINT")
    (command,) = arguments(run, "CMD")
    assert exec_form(entrypoint) == ["tactful"]
    help_exits_0(exec_form(command))
    (check,) = arguments(run, "HEALTHCHECK")
    options, _, probe = check.partition(" CMD ")
    assert re.search(r"--timeout=(\d+)s", options)
    tactful, *argv = exec_form(probe)
    assert tactful == "tactful" and argv[0] == "health"
    help_exits_0(argv)


# The lock subset -----------------------------------------------------------------------


def _normalize(name: str) -> str:
    return lock_subset.normalize(name)


def needed(project: str, extras: set[str]) -> set[str]:
    """What the installed packages' own metadata says `project[extras]` requires."""
    found: set[str] = set()
    todo = [(project, frozenset(extras))]
    seen = set()
    while todo:
        name, wanted = todo.pop()
        if (name, wanted) in seen:
            continue
        seen.add((name, wanted))
        for line in importlib.metadata.requires(name) or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker and not any(marker.evaluate({"extra": e}) for e in (wanted or {""})):
                continue
            found.add(_normalize(requirement.name))
            todo.append((_normalize(requirement.name), frozenset(requirement.extras)))
    return found


def test_the_lock_subset_is_exactly_what_the_server_extras_need() -> None:
    pins = lock_subset.read_lock((ROOT / "requirements.lock").read_text(encoding="utf-8"))
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = lock_subset.requirements_of(pyproject, ["server", "postgres"])
    kept = {pin.name for pin in lock_subset.subset(pins, wanted, "tactful")}
    assert kept == needed("tactful", {"server", "postgres"})
    assert not {"pytest", "mypy", "scikit-learn", "playwright"} & kept
    assert all("--hash=sha256:" in pin.text for pin in pins if pin.name in kept)


def test_the_lock_subset_refuses_an_unknown_extra_or_package(tmp_path: Path) -> None:
    argv = [str(ROOT / "requirements.lock"), str(ROOT / "pyproject.toml")]
    with pytest.raises(SystemExit, match="no extra 'sever'"):
        lock_subset.main([*argv, "sever"])
    with pytest.raises(SystemExit, match="not in the lock: nothing-here"):
        lock_subset.main([*argv, "--only", "nothing-here"])


# The Compose file ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def tactful_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose["services"]
    return {name: s for name, s in services.items() if name != "postgres"}


def compose_settings() -> Any:
    return load_settings(HERE / "tactful.toml", {})


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Where each volume of a service is mounted: target -> source."""
    found = {}
    for volume in service.get("volumes", []):
        source, target, *_options = volume.split(":")
        found[target] = source
    return found


def test_the_shape_two_servers_one_database_and_one_shot_jobs(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "migrate", "keys", "certs", "tactful-1", "tactful-2"}
    migrate = services["migrate"]
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for server in ("tactful-1", "tactful-2"):
        assert services[server]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"}
        }
    # The jobs run once, on demand: never again at each `up`.
    assert services["keys"]["profiles"] == services["certs"]["profiles"] == ["setup"]
    assert "healthcheck" in services["postgres"]
    declared = set(compose["volumes"])
    for service in services.values():
        for target, source in mounts(service).items():
            assert source.startswith("./") or source in declared, (target, source)
            if source.startswith("./"):
                assert (HERE / source).exists(), source


def test_every_tactful_container_is_read_only_unprivileged_and_confined(
    compose: dict[str, Any],
) -> None:
    text = CONTAINERFILE.read_text(encoding="utf-8")
    (user,) = arguments(stages(text)[-1], "USER")
    for name, service in tactful_services(compose).items():
        assert service["read_only"] is True, name
        assert service["user"] == user, name
        assert "/tmp" in service["tmpfs"], name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
    assert compose["services"]["postgres"]["read_only"] is True


def test_what_each_tactful_container_writes_is_mounted(compose: dict[str, Any]) -> None:
    """On a read-only root, the data folder, the keyring's folder and the TLS folder
    must be volumes, each server's data folder its own."""
    settings = compose_settings()
    assert settings.tls is not None
    writes = {
        str(settings.data_dir),
        str(settings.keyring_path.parent),
        str(settings.tls.cert.parent),
    }
    data_volumes = []
    for name, service in tactful_services(compose).items():
        mounted = mounts(service)
        assert writes <= set(mounted), name
        assert mounted["/etc/tactful/tactful.toml"] == "./tactful.toml", name
        assert service["volumes"][0].endswith(":ro"), name
        if name.startswith("tactful-"):
            data_volumes.append(mounted[str(settings.data_dir)])
    assert len(set(data_volumes)) == len(data_volumes) == 2


def test_the_config_is_for_this_shape(compose: dict[str, Any]) -> None:
    settings = compose_settings()
    assert settings.storage_url.startswith("postgresql://")
    assert "@postgres:" in settings.storage_url  # the service's name on compose's network
    assert settings.listen.startswith("0.0.0.0:")
    container = str(settings.listen).rpartition(":")[2]
    for server in ("tactful-1", "tactful-2"):
        (port,) = compose["services"][server]["ports"]
        assert port.startswith("127.0.0.1:") and port.endswith(f":{container}"), port


def test_every_command_is_a_tactful_command(compose: dict[str, Any]) -> None:
    for name, service in tactful_services(compose).items():
        help_exits_0(service["command"])
        check = service.get("healthcheck")
        if name.startswith("tactful-"):
            assert check is not None, name
        if check:
            kind, tactful, *argv = check["test"]
            assert (kind, tactful) == ("CMD", "tactful"), name
            help_exits_0(argv)


def test_the_database_password_comes_from_an_ignored_env_file(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for value in service.get("environment", {}).values():
            assert "${TACTFUL_DB_PASSWORD:?" in value or "PASSWORD" not in value, name
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(HERE / ".env")], cwd=ROOT, timeout=30
    )
    assert ignored.returncode == 0, "deploy/container/.env would be committed"


# The Compose shape, as processes on a throwaway PostgreSQL -------------------------------


def in_the_test(text: str, data: Path, root: Path, url: str, port: int) -> str:
    """The container's paths and names mapped to this test's."""
    text = text.replace("/var/lib/tactful-keys", str(root / "keys"))
    text = text.replace("/var/lib/tactful", str(data))
    text = text.replace("/etc/tactful/tls", str(root / "tls"))
    text = re.sub(r"postgresql://[^\"]+", url, text)
    return text.replace("0.0.0.0:50051", f"0.0.0.0:{port}")


@contextlib.contextmanager
def serving(env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [str(TACTFUL), "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "listening on" in line:
            break
    assert process.poll() is None, "".join(lines)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)


@pytest.mark.slow
def test_the_compose_shape_runs_migrate_keys_certs_and_two_healthy_servers(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    from tests.postgres_cluster import free_port, fresh_database, shared_cluster

    pytest.importorskip("psycopg")
    url = fresh_database(shared_cluster(), "compose")
    services = compose["services"]
    for folder in ("keys", "tls"):  # the image makes the volumes' mount points, 0700
        (tmp_path / folder).mkdir(mode=0o700)
    config_text = (HERE / "tactful.toml").read_text(encoding="utf-8")
    ports = {"tactful-1": free_port(), "tactful-2": free_port()}

    def env_of(name: str) -> dict[str, str]:
        data = tmp_path / f"data-{name}"
        data.mkdir(mode=0o700, exist_ok=True)
        config = tmp_path / f"{name}.toml"
        config.write_text(in_the_test(config_text, data, tmp_path, url, ports.get(name, 50051)))
        env = {k: v for k, v in os.environ.items() if not k.startswith("TACTFUL_")}
        return {**env, "TACTFUL_CONFIG": str(config)}  # as the image sets it

    def run(name: str, argv: list[str]) -> str:
        argv = [in_the_test(word, tmp_path / f"data-{name}", tmp_path, url, 0) for word in argv]
        done = subprocess.run(
            [str(TACTFUL), *argv], env=env_of(name), capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"{name}: {done.stdout}{done.stderr}"
        return done.stdout

    # The documented order: `run keys` (after migrate), `run certs`, then `up`.
    for name in ("migrate", "keys", "certs", "migrate"):
        run(name, services[name]["command"])
    keyring = tmp_path / "keys" / "keyring.json"
    assert stat.S_IMODE(keyring.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "tls" / "server.key").stat().st_mode) == 0o600
    with serving(env_of("tactful-1")), serving(env_of("tactful-2")):
        for name in ports:
            _cmd, _tactful, *probe = services[name]["healthcheck"]["test"]
            assert run(name, probe) == "SERVING\n"
        issued = run("tactful-1", ["tokens", "issue", "web_frontend"])
        assert issued.splitlines()[-1].startswith("tf_")


# Nothing written outside the volumes: what a read-only root file system needs -----------

STRACE = shutil.which("strace")
WRITING_CALLS = (
    "creat,mkdir,mkdirat,rename,renameat,renameat2,unlink,unlinkat,link,linkat,"
    "symlink,symlinkat,truncate"
)
_CALL = re.compile(r"^\d+\s+(\w+)\((.*)$")
_AT_PATH = re.compile(r'(?:AT_FDCWD|\d+)<([^>]*)>,\s*"([^"]*)"')
_PATH = re.compile(r'"([^"]*)"')


def written_paths(trace: str, cwd: Path) -> set[str]:
    """Every path a traced process created, opened for writing, renamed, linked or
    removed (strace -f -y output), attempts cut short by a thread switch included."""
    found: set[str] = set()
    for line in trace.splitlines():
        call = _CALL.match(line)
        if call is None:
            continue
        name, rest = call.groups()
        if re.search(r"\) += -1 ", rest):
            continue  # refused: nothing written
        if name in ("open", "openat") and not re.search(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC", rest):
            continue
        if name not in ("open", "openat") and name not in WRITING_CALLS.split(","):
            continue
        at = dict((relative, base) for base, relative in _AT_PATH.findall(rest))
        for path in _PATH.findall(rest):
            if not path.startswith("/"):
                path = str(Path(at.get(path, str(cwd))) / path)
            found.add(os.path.normpath(path))
    return found


def test_written_paths_reads_strace_lines(tmp_path: Path) -> None:
    trace = (
        '7 openat(AT_FDCWD</w>, "a.db", O_RDWR|O_CREAT|O_CLOEXEC, 0644) = 3</w/a.db>\n'
        '7 openat(AT_FDCWD</w>, "/etc/x", O_RDONLY|O_CLOEXEC) = 3</etc/x>\n'
        '7 openat(AT_FDCWD</w>, "/etc/y", O_WRONLY <unfinished ...>\n'
        '8 rename("/k/.new", "/k/keyring.json") = 0\n'
        '8 unlinkat(5</d>, "lock", 0) = 0\n'
        '8 mkdir("/root/.cache", 0777) = -1 EACCES (Permission denied)\n'
    )
    assert written_paths(trace, Path("/w")) == {
        "/w/a.db",
        "/etc/y",
        "/k/.new",
        "/k/keyring.json",
        "/d/lock",
    }


@pytest.mark.slow
@pytest.mark.skipif(STRACE is None, reason="strace is not installed")
def test_the_server_and_its_jobs_write_only_to_the_volumes(tmp_path: Path) -> None:
    """The image's environment (its config variable, no bytecode, the data folder as
    working directory and home) on SQLite: keys init, tokens issue, serve (asked for its
    health), retention run, each traced; every path written is on a volume, in /dev/shm
    (a tmpfs in every container) or in /tmp outside this test's folders (a tmpfs)."""
    from tests.postgres_cluster import free_port

    data, keys = tmp_path / "data", tmp_path / "keys"
    for folder in (data, keys):
        folder.mkdir(mode=0o700)
    principals = (HERE / "tactful.toml").read_text(encoding="utf-8").partition("[[principals]]")
    config = tmp_path / "tactful.toml"
    port = free_port()
    config.write_text(
        f'listen = "127.0.0.1:{port}"\ndata_dir = "{data}"\nkeyring = "{keys}/keyring.json"\n'
        + principals[1]
        + principals[2]
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TACTFUL_", "PYTHON"))}
    env |= {"TACTFUL_CONFIG": str(config), "PYTHONDONTWRITEBYTECODE": "1", "HOME": str(data)}
    traces = []

    def traced(name: str, *argv: str) -> list[str]:
        trace = tmp_path / f"{name}.trace"
        traces.append(trace)
        calls = f"trace=open,openat,{WRITING_CALLS}"
        return [str(STRACE), "-f", "-qq", "-y", "-e", calls, "-o", str(trace), str(TACTFUL), *argv]

    def run(name: str, *argv: str) -> str:
        done = subprocess.run(
            traced(name, *argv), cwd=data, env=env, capture_output=True, text=True, timeout=120
        )
        if "ptrace" in done.stderr and done.returncode != 0:
            pytest.skip(f"strace cannot trace here: {done.stderr.strip()}")
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    run("keys", "keys", "init")
    run("tokens", "tokens", "issue", "web_frontend")
    server = subprocess.Popen(
        traced("serve", "serve"), cwd=data, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert server.stdout is not None
    for line in server.stdout:
        if "listening on" in line:
            break
    try:
        assert main(["health", "--target", f"127.0.0.1:{port}"]) == 0
    finally:
        # strace's child is the server: stop it as a container engine does (SIGTERM).
        (child,) = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        os.kill(int(child), signal.SIGTERM)
        server.communicate(timeout=60)
    run("retention", "retention", "run")

    def under(path: str, *folders: str) -> bool:
        return any(path == f or path.startswith(f + "/") for f in folders)

    written: set[str] = set()
    for trace in traces:
        written |= written_paths(trace.read_text(), data)
    assert any(path.startswith(str(data)) for path in written)  # the trace sees writes
    # This test's own folders are no tmpfs, wherever tmp_path is (in /dev/shm, maybe).
    outside = {
        path
        for path in written
        if not under(path, str(data), str(keys))
        and (
            under(path, str(tmp_path))
            or not (under(path, "/dev/shm", "/dev/null") or path.startswith("/tmp/"))
        )
    }
    assert outside == set()
