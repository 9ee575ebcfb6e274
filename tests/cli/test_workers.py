"""`tactful serve --workers N` on SQLite (refused, with why), `--workers 1` as a plain
`tactful serve`, and the supervisor's restart rule over real child processes that die.
The workers on PostgreSQL: tests/postgres/test_workers_pg.py."""

from __future__ import annotations

import os
import re
import signal
import socket
import sys
import threading
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tactful.app.settings import Settings
from tactful.cli import workers
from tactful.cli.main import main
from tests.conftest import serve_process

# A stand-in worker: it reads its job as a worker does, then dies (with code 3),
# after saying it serves when told to; real processes, so real exits and pipes.
DIES = "import pickle, sys; import tactful.cli.workers; pickle.load(sys.stdin.buffer); sys.exit(3)"
STARTS_SLOWLY = (
    "import pickle, sys, time; import tactful.cli.workers; pickle.load(sys.stdin.buffer);"
    " time.sleep(60)"
)
SERVES_THEN_DIES = (
    "import os, pickle, sys; import tactful.cli.workers; job = pickle.load(sys.stdin.buffer);"
    " os.write(job.ready_fd, b'serving\\n'); sys.exit(3)"
)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "data"
    monkeypatch.setenv("TACTFUL_DATA_DIR", str(path))
    monkeypatch.delenv("TACTFUL_LISTEN", raising=False)
    return path


def test_workers_on_sqlite_are_refused_saying_why_and_what_to_do(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--workers", "2", "--listen", "127.0.0.1:0"]) == 1
    said = capsys.readouterr().err
    assert "--workers 2 needs a storage engine that many servers share" in said
    assert "the access log is one chain in one file" in said
    assert "--workers 1, or move to PostgreSQL" in said
    assert not data_dir.exists()  # refused before anything was opened or created


def test_workers_from_the_config_file_are_refused_on_sqlite_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "tactful.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\nworkers = 3\n')
    assert main(["serve", "--config", str(config)]) == 1
    assert "--workers 3 needs a storage engine" in capsys.readouterr().err


def test_with_json_logs_the_refusal_is_a_json_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    config = tmp_path / "tactful.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\nworkers = 3\n[log]\nformat = "json"\n')
    with pytest.raises(SystemExit) as exit:
        main(["serve", "--config", str(config)])
    assert exit.value.code == 1
    (line,) = capsys.readouterr().err.splitlines()
    said = json.loads(line)
    assert said["level"] == "error" and "--workers 3 needs a storage engine" in said["event"]


@pytest.mark.parametrize("given", ["0", "257", "two", "-1"])
def test_a_worker_count_out_of_range_is_a_usage_error(
    given: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["serve", "--workers", given])
    assert exit.value.code == 2
    assert "is not a number of workers from 1 to 256" in capsys.readouterr().err


def test_serve_help_explains_workers(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--workers N serve from N processes sharing the port" in text
    assert "PostgreSQL only" in text and "restarts a worker that dies" in text


def test_one_worker_is_the_plain_server(data_dir: Path) -> None:
    env = {**os.environ, "TACTFUL_DATA_DIR": str(data_dir)}
    process, target, output = serve_process(["--workers", "1", "--listen", "127.0.0.1:0"], env)
    try:
        with grpc.insecure_channel(target) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=10
            )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert (data_dir / "serve.lock").read_text() == f"{process.pid}\n"  # no supervisor
        with socket.socket() as intruder:  # SO_REUSEPORT stays off: no share of the port
            intruder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            with pytest.raises(OSError):
                intruder.bind(("127.0.0.1", int(target.rpartition(":")[2])))
    finally:
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "workers serving" not in output + rest and "worker 0" not in output + rest


def supervise(command: str, count: int = 2) -> int:
    settings = Settings(listen="127.0.0.1:1", workers=count)
    return workers.Supervisor(settings, command=[sys.executable, "-c", command]).run()


def test_a_worker_that_dies_before_it_serves_stops_the_supervisor_non_zero(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert supervise(DIES) == 1
    said = capsys.readouterr()
    assert re.search(r"worker \d exited with code 3 before it served; stopping every", said.err)
    assert "restart" not in said.out


def test_a_worker_that_keeps_dying_young_is_restarted_with_growing_pauses_then_given_up(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workers, "FIRST_PAUSE_S", 0.01)
    assert supervise(SERVES_THEN_DIES, count=1) == 1
    said = capsys.readouterr()
    pauses = re.findall(r"worker 0 \(pid \d+\) exited with code 3 after [\d.]+ s; "
                        r"restarting it in ([\d.]+) s", said.out)  # fmt: skip
    assert pauses == ["0.02", "0.04", "0.08", "0.16"]
    assert said.out.count("worker 0 restarted") == 4
    assert (
        "worker 0 exited with code 3 within 10 s of its start 5 times in a row; stopping "
        "every worker rather than restart it in a loop" in said.err
    )


def test_sigterm_while_workers_start_stops_them_and_exits_zero(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Ctrl-C during a slow start is a clean stop: a worker killed before it served had
    nothing to drain."""
    threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM)).start()
    assert supervise(STARTS_SLOWLY) == 0
    said = capsys.readouterr()
    assert "stopping the workers" in said.out
    assert "killed" not in said.out + said.err
