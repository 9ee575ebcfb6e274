"""A key nobody reads is a mistake: the contract and the config refuse it by place,
with "did you mean" for a near miss, instead of silently doing nothing."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tactful.app.config_file import load_settings
from tactful.app.settings import ConfigError
from tactful.cli.main import main
from tactful.privacy.contract import parse_contract
from tactful.privacy.errors import ContractError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "contract.toml"
EXAMPLE_DOCUMENT: dict[str, Any] = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


def update(*path: str, **values: Any) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        for key in path:
            document = document[key]
        document.update(values)

    return edit


CONTRACT_CASES = {
    "purpose collect": (
        update("purposes", "onboarding", collect=["page_viewed"]),
        "purposes.onboarding.collect: unknown key; did you mean 'collects'?",
    ),
    "event descripton": (
        update("events", "page_viewed", descripton="A page."),
        "events.page_viewed.descripton: unknown key; did you mean 'description'?",
    ),
    "attribute max_len": (
        update("events", "page_viewed", "attributes", "path", max_len=3),
        "events.page_viewed.attributes.path.max_len: unknown key; did you mean 'max_length'?",
    ),
    "signal windows": (
        update("signals", "pages_viewed_24h", windows="24h"),
        "signals.pages_viewed_24h.windows: unknown key; did you mean 'window'?",
    ),
    "segment rules": (
        update("segments", "returning_trial", rules={}),
        "segments.returning_trial.rules: unknown key; did you mean 'rule'?",
    ),
    "top-level purpose": (
        update(purpose={}),
        "purpose: unknown key; did you mean 'purposes'?",
    ),
    "far from anything": (
        update("purposes", "analytics", owner="data team"),
        "purposes.analytics.owner: unknown key; known keys here: collects, description,"
        " legal_basis, principals, releases_segments, releases_signals, retention,"
        " undeclared_attributes",
    ),
}


@pytest.mark.parametrize(("edit", "problem"), CONTRACT_CASES.values(), ids=CONTRACT_CASES)
def test_an_unknown_contract_key_is_a_located_problem(
    edit: Callable[[dict[str, Any]], None], problem: str
) -> None:
    document = copy.deepcopy(EXAMPLE_DOCUMENT)
    edit(document)
    with pytest.raises(ContractError) as caught:
        parse_contract(document, source="broken.toml")
    assert caught.value.problems == (problem,)


def test_contracts_check_refuses_collect_for_collects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "contract.toml"
    text = EXAMPLE.read_text()
    broken.write_text(text.replace("collects = [", "collect = [", 1))
    assert main(["contracts", "check", str(broken)]) == 1
    err = capsys.readouterr().err
    assert "purposes.onboarding.collect: unknown key; did you mean 'collects'?" in err


def test_a_key_with_no_near_miss_lists_the_known_keys() -> None:
    from tactful.privacy.contract import unknown_keys

    assert unknown_keys("t", {"a": 1, "b": 2}, ["a"]) == ["t.b: unknown key; known keys here: a"]


CONFIG_CASES = {
    "principal max_message_bytes": (
        '[[principals]]\nname = "web"\nroles = ["frontend"]\nmax_message_bytes = 65536\n',
        "principals[0].max_message_bytes: unknown key; known keys here: name, purposes,"
        " require, roles, tls_subject, token_sha256",
    ),
    "principal role": (
        '[[principals]]\nname = "web"\nroles = ["frontend"]\n'
        '[[principals]]\nname = "x"\nrole = ["frontend"]\n',
        "principals[1].role: unknown key; did you mean 'roles'?",
    ),
    "top-level listen_adress": (
        'listen_adress = "127.0.0.1:1"\n',
        "listen_adress: unknown key; did you mean 'listen'?",
    ),
    "access_log checkpoint_evry": (
        "[access_log]\ncheckpoint_evry = 5\n",
        "access_log.checkpoint_evry: unknown key; did you mean 'checkpoint_every'?",
    ),
    "insights budgets": (
        "[insights]\nbudgets = 2.0\n",
        "insights.budgets: unknown key; did you mean 'budget'?",
    ),
}


@pytest.mark.parametrize(("text", "problem"), CONFIG_CASES.values(), ids=CONFIG_CASES)
def test_an_unknown_config_key_is_refused_by_place(tmp_path: Path, text: str, problem: str) -> None:
    config = tmp_path / "tactful.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config, {})
    assert str(caught.value) == f"{config}: {problem} (`tactful config keys` lists every key)"
