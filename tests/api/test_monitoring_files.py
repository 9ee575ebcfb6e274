"""The shipped alert rules (deploy/prometheus) and dashboard (deploy/grafana): checked by
Prometheus's own promtool, and naming only metrics Tactful actually exports.

Without promtool (Debian's `prometheus` package: .ci/prometheus-deps) its tests skip,
except in CI (the CI variable set), where they fail instead."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tactful.cli.job_metrics import JobReport, count_failure, write_job_metrics
from tests.api.test_observability import busy_run, scrape
from tests.conftest import Tactful

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "tactful-alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "tactful-dashboard.json"
# What a rule or a panel may name: Tactful's families, the process collector's, and
# Prometheus's own `up`.
OURS = re.compile(r"\b((?:tactful|grpc_server|process|python)_[a-z0-9_]+)\b")


@pytest.fixture
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        message = "promtool is missing: run .ci/prometheus-deps (Debian's prometheus package)"
        if os.environ.get("CI"):
            pytest.fail(f"promtool tests cannot be skipped in CI: {message}")
        pytest.skip(message)
    return found


@pytest.fixture
def live(start_tactful: Callable[..., Tactful]) -> Iterator[str]:
    """A scrape of a server that answered calls of every kind."""
    tactful = start_tactful(metrics_listen="127.0.0.1:0", min_segment_size=2)
    busy_run(tactful)
    time.sleep(0.2)  # a refused call's outcome is told just after its answer leaves
    yield scrape(tactful)


def job_file(tmp_path: Path) -> str:
    """What a job's --metrics-file holds after a success and a failure."""
    path = tmp_path / "job.prom"
    report = JobReport()
    report.deleted["behavior.events"] = 3
    report.moved["vault.identities"] = 1
    report.rollbacks["checkout_recovery"] = 0
    report.guards_checked["checkout_recovery"] = 2
    write_job_metrics(path, "retention_run", report, time.time() - 1, time.time())
    count_failure(path, "retention_run", "store_unavailable", time.time())
    return path.read_text(encoding="utf-8")


def exported(*texts: str) -> set[str]:
    """Every sample name in `texts` (Prometheus text format)."""
    return {
        sample.name
        for text in texts
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def rule_exprs() -> list[str]:
    """Each rule's `expr:`, on its line or as a `|` block (no YAML library needed: promtool
    checks the file's YAML itself)."""
    exprs: list[str] = []
    lines = RULES.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        key, _, value = line.strip().partition(" ")
        if key != "expr:":
            continue
        if value != "|":
            exprs.append(value)
            continue
        indent = len(line) - len(line.lstrip())
        block = []
        for following in lines[number + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            block.append(following.strip())
        exprs.append(" ".join(block))
    return exprs


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert all(p.get("targets") for p in panels), "a panel without a query"
    return [target["expr"] for panel in panels for target in panel["targets"]]


def named(exprs: list[str]) -> set[str]:
    return {name for expr in exprs for name in OURS.findall(expr)}


def test_the_alert_rules_pass_promtool(promtool: str) -> None:
    done = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"SUCCESS: \d+ rules found", done.stdout), done.stdout


def test_the_alert_rules_fire_as_their_unit_tests_say(promtool: str) -> None:
    tests = RULES.with_name("tactful-alerts.test.yml")
    done = subprocess.run(
        [promtool, "test", "rules", str(tests)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout + done.stderr


def test_a_live_scrape_passes_promtool_check_metrics(promtool: str, live: str) -> None:
    done = subprocess.run(
        [promtool, "check", "metrics"], input=live, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stdout + done.stderr


def test_a_jobs_metrics_file_passes_promtool_check_metrics(promtool: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [promtool, "check", "metrics"],
        input=job_file(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stdout + done.stderr


def test_every_metric_the_rules_and_the_dashboard_name_is_exported(
    live: str, tmp_path: Path
) -> None:
    names = exported(live, job_file(tmp_path))
    rules, panels = named(rule_exprs()), named(dashboard_exprs())
    assert len(rule_exprs()) == RULES.read_text().count("- alert:")  # every rule's expr
    assert len(rules) >= 8 and len(panels) >= 15  # the pattern does find them
    assert sorted((rules | panels) - names) == []
    # And the families every gRPC dashboard reads are among them.
    assert {"grpc_server_handled_total", "grpc_server_handling_seconds_bucket",
            "grpc_server_started_total", "grpc_server_in_flight_requests"} <= panels  # fmt: skip


def test_the_dashboard_is_a_grafana_dashboard() -> None:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] == "tactful" and dashboard["schemaVersion"] >= 36
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        position = panel["gridPos"]
        assert position["x"] + position["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    variables = [v["name"] for v in dashboard["templating"]["list"]]
    assert variables == ["datasource", "instance"]
