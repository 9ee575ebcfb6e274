"""bench/soak.py runs on both engines (a few seconds each, so it cannot rot): every call
answers, and each window carries the server's CPU and RSS, on PostgreSQL the database's
CPU too, and the stores' sizes, which grow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from argparse import Namespace
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests import postgres_cluster

ROOT = Path(__file__).resolve().parents[1]
SIZES = {
    "sqlite": ["behavior.db", "behavior.db-wal", "access_log.db", "access_log.db-wal"],
    "postgresql": ["behavior database", "vault database", "pg_wal"],
}


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_short_soak_reports_every_window_with_the_stores_sizes(engine: str) -> None:
    if engine == "postgresql" and postgres_cluster.binaries() is None:
        postgres_cluster.missing("no initdb, pg_ctl and postgres on this machine")
    done = subprocess.run(
        [sys.executable, "bench/soak.py", "--minutes", "0.1", "--window", "2", "--subjects", "20",
         "--concurrency", "4", "--batch", "5", "--engine", engine, "--json"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    (line,) = done.stdout.splitlines()
    report = json.loads(line)
    assert report["engine"] == engine
    assert report["errors"] == 0, report["first_error"]
    assert sum(report["errors_by_kind"].values()) == report["errors"]
    windows = report["per_window"]
    assert len(windows) >= 2 and report["ratio_last_first_window"] > 0
    for window in windows:
        assert window["ops_per_s"] > 0 and window["server_cpu"] > 0, window
        assert window["rss_mb"] > 0
        assert list(window["sizes_mb"]) == SIZES[engine]
        if engine == "postgresql":
            assert window["database_cpu"] > 0, window
        else:
            assert window["database_cpu"] is None
    # The stores grow (on SQLite, in the WALs at first; on PostgreSQL, in the databases).
    first, last = (sum(w["sizes_mb"].values()) for w in (windows[0], windows[-1]))
    assert last > first > 0


def test_both_engines_run_one_after_the_other_sqlite_first_a_report_each(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench import soak
    from bench._soak_report import Soak

    @contextmanager
    def store(engine: str, data: Path) -> Iterator[soak.Store]:
        events.append(f"open {engine}")
        yield soak.Store(engine, None, (), dict, lambda: None)
        events.append(f"close {engine}")

    def run(store: soak.Store, home: Path, args: Namespace) -> Soak:
        events.append(f"run {store.engine}")
        return Soak(store.engine, (), [], 1.0)

    events: list[str] = []
    monkeypatch.setattr(soak, "_postgresql_here", lambda: True)
    monkeypatch.setattr(soak, "_store", store)
    monkeypatch.setattr(soak, "_run", run)
    assert soak.main(["--engine", "both", "--json"]) == 0
    assert events == [f"{step} {engine}" for engine in ("sqlite", "postgresql")
                      for step in ("open", "run", "close")]  # fmt: skip
    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["engine"] for r in reports] == ["sqlite", "postgresql"]


BURN = """
import sys, time
began = time.process_time()
while time.process_time() - began < 0.4:
    pass
print("burnt", flush=True)
sys.stdin.read()
"""


def _own_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_clusters_cpu_is_its_postmasters_and_its_childrens_live_or_exited() -> None:
    from bench.soak import cluster_cpu_seconds

    with subprocess.Popen([sys.executable, "-c", BURN], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as child:  # fmt: skip
        assert child.stdin is not None and child.stdout is not None
        assert child.stdout.readline() == "burnt\n"
        burnt = _own_cpu_s(child.pid)
        assert burnt >= 0.35
        # A process without children: its own time, not its parent's (this test's).
        assert cluster_cpu_seconds(child.pid) == pytest.approx(burnt, abs=0.02)
        # This process as the postmaster: its time and its live child's.
        assert cluster_cpu_seconds(os.getpid()) >= _own_cpu_s(os.getpid()) + burnt - 0.02
        child.stdin.close()
        child.wait()
    # The child has exited and been waited for: its time is still counted.
    assert cluster_cpu_seconds(os.getpid()) >= _own_cpu_s(os.getpid()) + burnt - 0.02


def test_failed_calls_are_counted_by_method_and_status(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import soak
    from bench._soak_report import Soak, Window, print_report, report

    kinds = {"RecordEvents UNAVAILABLE": 3, "GetSegments DEADLINE_EXCEEDED": 1}
    window = Window(0.0, 30.0, dict.fromkeys(("RecordEvents", "GetSegments", "GetSignals"), 10), 4)
    run = Soak("postgresql", (), [window], 30.0, "RecordEvents UNAVAILABLE: internal error",
               errors_by_kind=kinds)  # fmt: skip
    args = soak._parser().parse_args([])
    assert report(args, run)["errors_by_kind"] == kinds
    print_report(args, run)
    out = capsys.readouterr().out
    assert "failed calls by method and status: RecordEvents UNAVAILABLE 3, " in out
    assert "GetSegments DEADLINE_EXCEEDED 1\n" in out
