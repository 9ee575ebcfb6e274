"""bench/cpu_budget.py runs (one short run, so it cannot rot), and its profile is split
into phases the way bench/_phases.py says: by module, builtins by their caller."""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
from argparse import Namespace
from dataclasses import replace
from pathlib import Path

import pytest

from bench._budget import COLUMNS, Column, print_budget
from bench._harness import Load
from bench._phases import PHASE_NAMES, PHASE_RULES, Entry, Key, Window, attribute, phase_of
from tests import postgres_cluster

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

CRYPTO: Key = (str(SRC / "tactful/privacy/_crypto.py"), 10, "hmac_sha256")
METRICS: Key = (str(SRC / "tactful/api/metrics.py"), 20, "observe_call")
EDGE: Key = (str(SRC / "tactful/api/edge.py"), 30, "run")
HMAC: Key = ("/usr/lib/python3.11/hmac.py", 40, "new")
WRAP: Key = ("/usr/lib/python3.11/functools.py", 50, "wrapper")
DIGEST: Key = ("~", 0, "<built-in method _hashlib.hmac_digest>")
ENCODE: Key = ("/usr/lib/python3.11/json/encoder.py", 60, "encode")


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_short_run_prints_every_phase_of_every_call_as_json(engine: str) -> None:
    if engine == "postgresql" and postgres_cluster.binaries() is None:
        postgres_cluster.missing("no initdb, pg_ctl and postgres on this machine")
    done = subprocess.run(
        [sys.executable, "bench/cpu_budget.py", "--seconds", "0.6", "--warmup", "0.2",
         "--subjects", "12", "--batch", "5", "--concurrency", "4", "--engine", engine, "--json"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    report = json.loads(done.stdout)
    assert report["phases"] == list(PHASE_NAMES)
    assert list(report["engines"]) == [engine]
    columns = report["engines"][engine]
    assert list(columns) == ["echo", "GetSegments", "RecordEvents", "NextAction", "RecordOutcome"]
    for name, column in columns.items():
        assert column["errors"] == 0, (name, column["first_error"])
        assert column["calls"] > 0 and column["profiled_calls"] > 0, name
        assert column["per"] == ("event" if name == "RecordEvents" else "call")
        phases = column["phases_us"]
        assert list(phases) == list(PHASE_NAMES), name
        assert all(us >= 0 for us in phases.values()), (name, phases)
        assert sum(phases.values()) == pytest.approx(column["total_us"], rel=0.01, abs=0.5), name
    echo, segments = columns["echo"]["phases_us"], columns["GetSegments"]["phases_us"]
    assert echo["record"] == echo["authenticate"] == echo["decode"] == 0.0
    for phase in ("decode", "authenticate", "pseudonymize", "read/write", "record", "observe"):
        assert segments[phase] > 0, (phase, segments)


def test_every_rule_on_a_tactful_module_names_one_that_exists() -> None:
    """A module renamed or moved must not fall silently into `other`."""
    modules = [f"{p.as_posix()}:f" for p in (SRC / "tactful").rglob("*.py")]
    for pattern, _ in PHASE_RULES:
        if "/tactful/" in pattern:
            assert fnmatch.filter(modules, pattern), pattern


def test_a_module_has_its_phase_and_the_standard_library_has_none() -> None:
    assert phase_of(CRYPTO) == "pseudonymize"
    assert phase_of(METRICS) == "observe"
    assert phase_of(EDGE) == "other"
    assert phase_of((str(SRC / "tactful/storage/sqlite/access_log.py"), 1, "append")) == "record"
    assert phase_of((str(SRC / "tactful/storage/sqlite/behavior.py"), 1, "read")) == "read/write"
    assert phase_of(HMAC) is None
    assert phase_of(DIGEST) is None


def test_a_library_function_is_split_between_its_callers_by_its_own_time_in_each() -> None:
    entries = [
        Entry(CRYPTO, inline_s=1.0, calls=10),
        Entry(METRICS, inline_s=2.0, calls=10),
        # json's encode: 3 s of its own from the crypto recipe, 5 s from metrics (and
        # what it called: 9 s and 6 s, which its callees' own entries account for)
        Entry(ENCODE, 8.0, 20, {CRYPTO: [3.0, 9.0, 10], METRICS: [5.0, 6.0, 10]}),
    ]
    phases, _ = attribute(entries)
    assert phases == {"pseudonymize": 4.0, "observe": 7.0}


def test_time_below_an_unphased_caller_goes_to_that_callers_callers() -> None:
    entries = [
        Entry(CRYPTO, 1.0, 1),
        Entry(EDGE, 1.0, 1),
        # a standard-library wrapper, called from _crypto.py three times as long as from the edge
        Entry(WRAP, 0.5, 4, {CRYPTO: [0.375, 6.0, 3], EDGE: [0.125, 2.0, 1]}),
        Entry(HMAC, 2.0, 4, {WRAP: [2.0, 6.0, 4]}),
        Entry(DIGEST, 4.0, 4, {HMAC: [4.0, 4.0, 4]}),
    ]
    phases, others = attribute(entries)
    assert phases == {"pseudonymize": 1.0 + 0.375 + 1.5 + 3.0, "other": 1.0 + 0.125 + 0.5 + 1.0}
    assert others == {EDGE: 2.625}


def test_time_no_known_caller_accounts_for_is_other_by_its_own_name() -> None:
    phases, others = attribute([Entry(DIGEST, 2.0, 1, {CRYPTO: [0.5, 0.5, 1]})])
    assert phases == {"pseudonymize": 0.5, "other": 1.5}
    assert others == {DIGEST: 1.5}


def test_the_profilers_cost_is_taken_off_each_function_by_its_calls() -> None:
    entries = [Entry(CRYPTO, 1.0, 100), Entry(METRICS, 1.0, 1000)]
    phases, _ = attribute(entries, cost_per_call_s=0.0005)
    assert phases == pytest.approx({"pseudonymize": 0.95, "observe": 0.5})
    phases, _ = attribute(entries, cost_per_call_s=0.005)
    assert phases == pytest.approx({"pseudonymize": 0.5})  # metrics never below zero


def _column(items_per_call: int) -> Column:
    """10 calls of 1,000 µs each unprofiled; profiled, 20 ms seen in _crypto.py over 20 calls
    and 5 ms of a thread no profile saw."""
    plain = Load(10, 0, 1.0, (), server_cpu_s=0.010)
    window = Window((Entry(CRYPTO, 0.020, 20),), {1: 0.020, 2: 0.005}, {1: 0.020})
    return Column(items_per_call, plain, replace(plain, server_cpu_s=0.025), window)


def test_the_table_has_a_row_per_phase_and_its_column_sums_to_the_unprofiled_total(
    capsys: pytest.CaptureFixture[str],
) -> None:
    columns = {name: _column(10 if name == "RecordEvents" else 1) for name in COLUMNS}
    budget = columns["GetSegments"].budget_us()
    # native: 5 ms / 10 calls; the rest, 500 µs, is the crypto recipe's once the
    # profiler's cost (20 ms seen - 5 ms unprofiled, over 20 calls) is taken off
    assert budget == pytest.approx({**dict.fromkeys(PHASE_NAMES, 0.0),
                                    "pseudonymize": 500.0, "native": 500.0})  # fmt: skip
    args = Namespace(batch=10, seconds=1.0, concurrency=4, quiet=False)
    print_budget(args, {"sqlite": columns})
    lines = capsys.readouterr().out.splitlines()
    rows = {line[:22].strip(): line[22:].split() for line in lines[4:]}
    assert list(rows)[: len(PHASE_NAMES) + 1] == ["phase", *PHASE_NAMES]
    assert rows["pseudonymize"] == ["500", "(50%)"] * 2 + ["50", "(50%)"] + ["500", "(50%)"] * 2
    assert rows["total (unprofiled)"] == ["1,000", "1,000", "100", "1,000", "1,000"]
    assert rows["profiled / unprofiled"] == ["2.5", "×"] * 5


def test_where_cprofile_allows_one_profiler_per_process_it_says_so_and_measures_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench import cpu_budget

    monkeypatch.setattr(sys, "version_info", (3, 12, 1, "final", 0))
    small = ["--seconds", "0.2", "--warmup", "0", "--subjects", "3", "--batch", "2"]
    assert cpu_budget.main(small) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert "needs Python 3.11" in err
