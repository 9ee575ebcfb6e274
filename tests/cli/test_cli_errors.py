"""Input the command line cannot use is explained in one line on stderr, with a
non-zero exit: never a Python traceback."""

from __future__ import annotations

import importlib.metadata
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tactful.cli.main import main
from tests.cli.test_cli_audit import config_for
from tests.conftest import Tactful

TACTFUL = Path(sys.executable).parent / "tactful"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("subjects", "export", "--namespace", "mail", "--id", "ada@example.com"), "mail"),
        (("subjects", "erase", "--namespace", "email", "--id", ""), "identifier is empty"),
        (("audit", "query", "--namespace", "mail", "--id", "ada@example.com"), "mail"),
        (("audit", "export", "--namespace", "email", "--id", " "), "identifier is empty"),
    ],
    ids=["export unknown namespace", "erase empty id", "query unknown namespace", "export blank"],
)
def test_bad_subject_input_is_one_line_and_exit_1(
    tactful: Tactful,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
    says: str,
) -> None:
    tactful.stop()
    config = config_for(tactful, tmp_path)
    assert main([*argv, "--config", str(config)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1 and err.startswith("tactful: ") and says in err


def test_an_output_file_that_cannot_be_made_is_one_line(
    tactful: Tactful, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tactful.stop()
    config = config_for(tactful, tmp_path)
    missing = tmp_path / "no-such-folder" / "out.jsonl"
    assert main(["audit", "export", "--output", str(missing), "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "No such file or directory" in err


def test_serve_on_a_port_in_use_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(TACTFUL), "serve", "--listen", f"127.0.0.1:{port}"],
            env={**os.environ, "TACTFUL_DATA_DIR": str(tmp_path / "data")},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"tactful: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


def test_version_comes_from_the_installed_package(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"tactful {importlib.metadata.version('tactful')}"
