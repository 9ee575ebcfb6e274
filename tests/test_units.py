"""The shipped systemd units: what they run, how they are confined, and that systemd
itself accepts them (where systemd-analyze is installed)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parent.parent / "deploy" / "systemd"
NAMES = ("tactful.service", "tactful-retention.service", "tactful-retention.timer")
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


@pytest.fixture
def units_here(tmp_path: Path) -> Path:
    """The units, with ExecStart pointing at this venv's tactful: verify checks that the
    program exists, and /opt/tactful is not on a test machine."""
    tactful = Path(sys.executable).parent / "tactful"
    assert tactful.exists()
    for name in NAMES:
        text = (UNITS / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace(INSTALLED_TACTFUL, str(tactful)))
    return tmp_path


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
