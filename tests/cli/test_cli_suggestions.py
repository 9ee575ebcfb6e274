"""A misspelt command, choice, purpose, journey or principal gets "did you mean …?"."""

from __future__ import annotations

from pathlib import Path

import pytest

from tactful.cli.main import main
from tests.cli.test_cli_json import write_config

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = str(ROOT / "examples" / "contract.toml")


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("TACTFUL_DATA_DIR", raising=False)
    return write_config(tmp_path)


def error_of(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as exited:  # argparse's usage errors
        code = int(exited.code or 0)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "meant"),
    [
        (["retenton", "run"], "'retention'"),
        (["keys", "rotat"], "'rotate'"),
        (["keys", "rotate", "--use", "pseudonim"], "'pseudonym'"),
        (["contracts", "explain", "suport_triage", "--file", CONTRACT], "'support_triage'"),
        (["journeys", "explain", "onbording", "--file", CONTRACT], "'onboarding'"),
    ],
)
def test_a_misspelt_name_gets_the_one_meant(
    capsys: pytest.CaptureFixture[str], argv: list[str], meant: str
) -> None:
    code, err = error_of(capsys, *argv)
    assert code in (1, 2)
    assert f"did you mean {meant}?" in err, err


def test_a_name_close_to_nothing_gets_the_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = error_of(capsys, "contracts", "explain", "marketing", "--file", CONTRACT)
    assert code == 1
    assert "did you mean" not in err and "declared: account_retention, " in err


def test_tokens_issue_suggests_a_configured_principal(
    config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, err = error_of(capsys, "tokens", "issue", "suport_widget", "--config", str(config))
    assert code == 1 and "did you mean 'support_widget'?" in err, err


def test_audit_warns_of_an_undeclared_purpose_and_still_searches(
    config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["keys", "init", "--config", str(config)]) == 0
    capsys.readouterr()
    code = main(["audit", "query", "--purpose", "suport_triage", "--config", str(config)])
    out, err = capsys.readouterr()
    assert code == 0 and out == ""
    assert "--purpose 'suport_triage' is not declared" in err
    assert "did you mean 'support_triage'?" in err
    main(["audit", "query", "--purpose", "support_triage", "--config", str(config)])
    assert capsys.readouterr().err == ""
