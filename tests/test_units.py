"""The shipped systemd units: what they run, how they are confined, and that systemd
itself accepts them (where systemd-analyze is installed), with and without the
PostgreSQL drop-ins."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parent.parent / "deploy" / "systemd"
NAMES = ("tactful.service", "tactful-retention.service", "tactful-retention.timer")
DROP_INS = (
    "tactful.service.d/postgresql.conf",
    "tactful-retention.service.d/postgresql.conf",
)
# What keeps a process from opening a TCP connection to a database on another host.
TCP_BLOCKERS = ("PrivateNetwork", "RestrictAddressFamilies")
INSTALLED_TACTFUL = "/opt/tactful/.venv/bin/tactful"
CONFIG = "/etc/tactful/tactful.toml"
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "CapabilityBoundingSet": "",
    "RestrictSUIDSGID": "yes",
    "StateDirectory": "tactful",
}
ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is not installed (systemd is not on this machine)"
)


def settings(name: str) -> dict[tuple[str, str], list[str]]:
    """(section, key) -> every value given, in order: units may repeat a key."""
    found: dict[tuple[str, str], list[str]] = {}
    section = ""
    for line in (UNITS / name).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.setdefault((section, key), []).append(value)
    return found


def one(unit: dict[tuple[str, str], list[str]], section: str, key: str) -> str:
    (value,) = unit[(section, key)]
    return value


def test_the_server_unit_runs_tactful_serve_with_the_system_config() -> None:
    unit = settings("tactful.service")
    assert one(unit, "Service", "ExecStart") == f"{INSTALLED_TACTFUL} serve --config {CONFIG}"
    assert one(unit, "Service", "Restart") == "on-failure"
    assert one(unit, "Install", "WantedBy") == "multi-user.target"


@pytest.mark.parametrize("name", ["tactful.service", "tactful-retention.service"])
def test_each_service_runs_unprivileged_and_confined(name: str) -> None:
    unit = settings(name)
    assert one(unit, "Service", "User") == "tactful" or one(unit, "Service", "DynamicUser")
    for key, value in HARDENING.items():
        assert one(unit, "Service", key) == value, f"{name}: {key}"


def test_the_retention_job_shares_the_servers_user_and_state() -> None:
    server, job = settings("tactful.service"), settings("tactful-retention.service")
    assert one(job, "Service", "Type") == "oneshot"
    assert (
        one(job, "Service", "ExecStart") == f"{INSTALLED_TACTFUL} retention run --config {CONFIG}"
    )
    for key in ("User", "Group", "StateDirectory", "ConfigurationDirectory"):
        assert one(job, "Service", key) == one(server, "Service", key), key


def test_the_timer_starts_the_retention_job_hourly() -> None:
    timer = settings("tactful-retention.timer")
    assert one(timer, "Timer", "OnCalendar") == "hourly"
    assert one(timer, "Timer", "Unit") == "tactful-retention.service"
    assert one(timer, "Timer", "Persistent") == "true"
    assert one(timer, "Install", "WantedBy") == "timers.target"


# Settings a drop-in adds to rather than replaces; an empty value clears the list.
LISTS = ("RestrictAddressFamilies", "After", "Wants", "SystemCallFilter", "ReadWritePaths")


def with_drop_in(
    unit: dict[tuple[str, str], list[str]], drop_in: dict[tuple[str, str], list[str]]
) -> dict[tuple[str, str], list[str]]:
    """The unit as systemd reads it with the drop-in: a later value of a setting
    replaces the unit's, except for list settings, which it extends (empty: clears)."""
    merged = {key: list(values) for key, values in unit.items()}
    for key, values in drop_in.items():
        if key[1] not in LISTS:
            merged[key] = values[-1:]
            continue
        for value in values:
            merged[key] = [*merged.get(key, []), value] if value else []
    return merged


def address_families(unit: dict[tuple[str, str], list[str]]) -> set[str] | None:
    """The socket families a service may open; None: any."""
    values = unit.get(("Service", "RestrictAddressFamilies"))
    if not values:
        return None
    return {family for value in values for family in value.split()}


def what_blocks_tcp(unit: dict[tuple[str, str], list[str]]) -> list[str]:
    """The settings that keep a service from connecting to a database over TCP."""
    found = []
    if unit.get(("Service", "PrivateNetwork"), ["no"])[-1] in ("yes", "true", "1", "on"):
        found.append("PrivateNetwork")
    families = address_families(unit)
    if families is not None and not {"AF_INET", "AF_INET6"} <= families:
        found.append("RestrictAddressFamilies")
    if unit.get(("Service", "IPAddressDeny")):
        found.append("IPAddressDeny")
    return found


def test_the_retention_job_has_no_network_on_sqlite() -> None:
    job = settings("tactful-retention.service")
    assert what_blocks_tcp(job) == list(TCP_BLOCKERS)
    assert address_families(job) == {"AF_UNIX"}


def test_the_postgresql_drop_in_lifts_exactly_what_blocks_tcp() -> None:
    job = settings("tactful-retention.service")
    on_postgres = with_drop_in(job, settings("tactful-retention.service.d/postgresql.conf"))
    assert what_blocks_tcp(on_postgres) == []
    assert address_families(on_postgres) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    changed = {
        key
        for key in job.keys() | on_postgres.keys()
        if key[0] == "Service" and job.get(key) != on_postgres.get(key)
    }
    assert changed == {("Service", key) for key in TCP_BLOCKERS}


def test_the_server_reaches_postgresql_without_a_drop_in() -> None:
    server = settings("tactful.service")
    assert what_blocks_tcp(server) == []
    drop_in = settings("tactful.service.d/postgresql.conf")
    assert {section for section, _key in drop_in} == {"Unit"}
    assert "postgresql.service" in one(drop_in, "Unit", "After").split()


def units_copy(root: Path, drop_ins: bool) -> Path:
    """The units (with the PostgreSQL drop-ins, or not), with ExecStart pointing at
    this venv's tactful: verify checks that the program exists, and /opt/tactful is
    not on a test machine."""
    tactful = Path(sys.executable).parent / "tactful"
    assert tactful.exists()
    root.mkdir(parents=True, exist_ok=True)
    for name in NAMES + (DROP_INS if drop_ins else ()):
        text = (UNITS / name).read_text(encoding="utf-8")
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_text(text.replace(INSTALLED_TACTFUL, str(tactful)))
    return root


@pytest.fixture(params=[False, True], ids=["sqlite", "postgresql"])
def units_here(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """systemd reads a unit's drop-ins from the folder beside it (name.service.d)."""
    return units_copy(tmp_path, drop_ins=request.param)


@needs_systemd_analyze
def test_systemd_analyze_verify_accepts_the_units(units_here: Path) -> None:
    checked = subprocess.run(
        [str(ANALYZE), "verify", *(str(units_here / n) for n in NAMES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # verify reports unknown keys and bad values on stderr, some with exit status 0.
    assert (checked.returncode, checked.stderr) == (0, ""), checked.stderr


@needs_systemd_analyze
@pytest.mark.parametrize("name", ["tactful.service", "tactful-retention.service"])
def test_systemd_rates_each_service_well_confined(units_here: Path, name: str) -> None:
    rated = subprocess.run(
        [str(ANALYZE), "security", "--offline=yes", "--no-pager", str(units_here / name)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "--offline" in rated.stderr and rated.returncode != 0:
        pytest.skip("this systemd-analyze cannot rate a unit file offline (systemd < 250)")
    level = re.search(r"Overall exposure level for \S+: ([0-9.]+)", rated.stdout)
    assert level is not None, rated.stdout + rated.stderr
    # 0 is fully confined, 10 not at all; systemd calls up to 2 "OK" or "SAFE".
    assert float(level.group(1)) <= 2.0, rated.stdout


def _exposure(root: Path, name: str) -> str:
    rated = subprocess.run(
        [str(ANALYZE), "security", "--offline=yes", "--no-pager", str(root / name)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "--offline" in rated.stderr and rated.returncode != 0:
        pytest.skip("this systemd-analyze cannot rate a unit file offline (systemd < 250)")
    assert rated.stderr == "", rated.stderr
    return rated.stdout


@needs_systemd_analyze
def test_systemd_reads_the_drop_in_as_giving_the_job_the_network(tmp_path: Path) -> None:
    """systemd's own reading of the merged unit, not ours."""
    sqlite = _exposure(units_copy(tmp_path / "sqlite", drop_ins=False), "tactful-retention.service")
    postgres = _exposure(units_copy(tmp_path / "pg", drop_ins=True), "tactful-retention.service")
    no_network = ("✓ PrivateNetwork=", "✓ RestrictAddressFamilies=~AF_(INET|INET6)")
    for line in no_network:
        assert line in sqlite, sqlite
        assert line.replace("✓", "✗") in postgres, postgres


SYSUSERS = shutil.which("systemd-sysusers")


@pytest.mark.skipif(SYSUSERS is None, reason="systemd-sysusers is not installed")
def test_the_sysusers_file_creates_the_units_user(tmp_path: Path) -> None:
    """Into an empty root of its own (--root), as on a host that lacks the user."""
    (tmp_path / "etc").mkdir()
    made = subprocess.run(
        [str(SYSUSERS), f"--root={tmp_path}", str(UNITS / "tactful.sysusers")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    passwd = (tmp_path / "etc" / "passwd").read_text().splitlines()
    groups = (tmp_path / "etc" / "group").read_text().splitlines()
    for name in ("tactful.service", "tactful-retention.service"):
        unit = settings(name)
        user, group = one(unit, "Service", "User"), one(unit, "Service", "Group")
        state = "/var/lib/" + one(unit, "Service", "StateDirectory")
        (entry,) = [line.split(":") for line in passwd if line.startswith(f"{user}:")]
        assert entry[5] == state  # its home is the state directory
        assert [line for line in groups if line.startswith(f"{group}:")]
