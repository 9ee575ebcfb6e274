"""Issued bearer tokens: `tactful tokens issue/revoke/list`, and a running server's view."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import grpc
import pytest

from tactful.app.auth import Authenticator, Unauthenticated
from tactful.app.config_file import load_settings
from tactful.app.settings import DEVELOPMENT_CONFIG
from tactful.app.tokens import TokenError, TokenStore
from tactful.cli.main import main
from tactful.privacy.keyring import create_keyring
from tactful.v1 import personalization_pb2
from tests.conftest import T0, Tactful, email, page_view

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    # The CLI reads TACTFUL_DATA_DIR; a developer's shell must not redirect these tests.
    monkeypatch.delenv("TACTFUL_DATA_DIR", raising=False)
    monkeypatch.delenv("TACTFUL_LISTEN", raising=False)


def write_config(tmp_path: Path, keyring: Path) -> Path:
    """The development configuration, moved to tmp_path with its own keyring."""
    development = (ROOT / "examples" / "development.toml").read_text()
    development = development.replace('listen = "127.0.0.1:50051"', "").replace(
        'contract = "contract.toml"', f'contract = "{ROOT / "examples" / "contract.toml"}"'
    )
    config = tmp_path / "tactful.toml"
    config.write_text(
        f'data_dir = "data"\nkeyring = "{keyring}"\nlisten = "127.0.0.1:0"\n{development}'
    )
    return config


@pytest.fixture
def config(tmp_path: Path) -> Path:
    # The keyring signs the access log each issue and revocation is recorded in.
    create_keyring(tmp_path / "keyring.json", now=T0)
    return write_config(tmp_path, tmp_path / "keyring.json")


def tokens_file(config: Path) -> Path:
    return config.parent / "data" / "tokens.json"


def issue(config: Path, principal: str, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """Issue through the CLI; the token id and the token as printed."""
    assert main(["tokens", "issue", principal, "--config", str(config)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 2, out
    token_id = lines[0].split()[1]
    assert token_id.startswith("tok_") and principal in lines[0]
    return token_id, lines[1]


# -- the command line -------------------------------------------------------------------


def test_issue_prints_the_token_once_and_keeps_only_its_hash(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token_id, token = issue(config, "checkout_service", capsys)
    assert token.startswith("tf_") and len(token) > 40
    path = tokens_file(config)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = path.read_text()
    assert token not in raw
    assert token.removeprefix("tf_") not in raw
    document = json.loads(raw)
    assert document["format"] == "tactful-tokens/1"
    [entry] = document["tokens"]
    assert entry["id"] == token_id
    assert entry["principal"] == "checkout_service"
    assert entry["sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert entry["revoked_at"] is None
    assert not path.with_name("tokens.json.tmp").exists()


def test_every_issue_is_a_new_token(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = issue(config, "web_frontend", capsys)
    second = issue(config, "web_frontend", capsys)
    assert first[0] != second[0] and first[1] != second[1]
    raw = tokens_file(config).read_text()
    assert first[1] not in raw and second[1] not in raw
    assert len(json.loads(raw)["tokens"]) == 2
    assert stat.S_IMODE(tokens_file(config).stat().st_mode) == 0o600


def test_issue_for_an_unknown_principal_exits_1(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tokens", "issue", "mallory", "--config", str(config)]) == 1
    captured = capsys.readouterr()
    assert "mallory" in captured.err and "web_frontend" in captured.err
    assert "tf_" not in captured.out + captured.err
    assert not tokens_file(config).exists()


def test_list_shows_ids_principals_and_state_but_no_secret(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kept_id, kept = issue(config, "support_widget", capsys)
    revoked_id, revoked = issue(config, "agent_console", capsys)
    assert main(["tokens", "revoke", revoked_id, "--config", str(config)]) == 0
    assert f"revoked {revoked_id} (agent_console)" in capsys.readouterr().out
    assert main(["tokens", "list", "--config", str(config)]) == 0
    listing = capsys.readouterr().out
    rows = {line.split()[0]: line for line in listing.splitlines()}
    assert set(rows) == {kept_id, revoked_id}
    assert "support_widget" in rows[kept_id] and rows[kept_id].rstrip().endswith("active")
    assert "agent_console" in rows[revoked_id] and "revoked 20" in rows[revoked_id]
    for token in (kept, revoked):
        assert token not in listing
        assert hashlib.sha256(token.encode()).hexdigest() not in listing


def test_list_with_no_tokens_prints_nothing(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tokens", "list", "--config", str(config)]) == 0
    assert capsys.readouterr().out == ""


def test_revoke_by_principal_revokes_only_that_principals_active_tokens(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = issue(config, "web_frontend", capsys)[0]
    b = issue(config, "web_frontend", capsys)[0]
    other = issue(config, "analyst", capsys)[0]
    argv = ["tokens", "revoke", "--principal", "web_frontend", "--config", str(config)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert a in out and b in out and other not in out
    state = {t.id: t.revoked_at for t in TokenStore(tokens_file(config)).all()}
    assert state[a] is not None and state[b] is not None and state[other] is None


@pytest.mark.parametrize(
    "arguments",
    [
        ["tok_00000000"],
        ["--principal", "web_frontend"],
        [],  # names nothing
    ],
    ids=["unknown id", "principal without tokens", "nothing named"],
)
def test_revoke_with_no_match_exits_1(
    config: Path, capsys: pytest.CaptureFixture[str], arguments: list[str]
) -> None:
    issue(config, "analyst", capsys)
    before = tokens_file(config).read_bytes()
    assert main(["tokens", "revoke", *arguments, "--config", str(config)]) == 1
    assert capsys.readouterr().err.startswith("tactful: ")
    assert tokens_file(config).read_bytes() == before


def test_revoking_twice_exits_1_the_second_time(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token_id, _ = issue(config, "analyst", capsys)
    assert main(["tokens", "revoke", token_id, "--config", str(config)]) == 0
    assert main(["tokens", "revoke", token_id, "--config", str(config)]) == 1
    assert "no active token" in capsys.readouterr().err


def test_store_revoke_with_no_match_raises(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    with pytest.raises(TokenError):
        store.revoke(token_id="tok_missing", now=T0)
    with pytest.raises(TokenError):
        store.revoke(now=T0)


# -- a running server -------------------------------------------------------------------


def record_with(tactful: Tactful, token: str) -> personalization_pb2.RecordEventsResponse:
    request = personalization_pb2.RecordEventsRequest(
        purpose="support_triage", events=[page_view(email("ada@example.com"))]
    )
    metadata = (("authorization", f"Bearer {token}"),)
    return tactful.personalization.RecordEvents(request, metadata=metadata, timeout=10)


def refused_code(tactful: Tactful, token: str) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        record_with(tactful, token)
    code: grpc.StatusCode = caught.value.code()
    return code


def test_server_accepts_an_issued_token_and_refuses_it_right_after_revocation(
    start_tactful: Callable[..., Tactful],
) -> None:
    tactful = start_tactful()
    store = TokenStore(tactful.settings.tokens_path)
    issued, token = store.issue("support_widget", now=T0)
    assert record_with(tactful, token).stored == 1
    store.revoke(token_id=issued.id, now=T0 + timedelta(seconds=1))
    assert refused_code(tactful, token) is grpc.StatusCode.UNAUTHENTICATED
    assert refused_code(tactful, token) is grpc.StatusCode.UNAUTHENTICATED


def test_revoking_one_token_leaves_the_others_working(
    start_tactful: Callable[..., Tactful],
) -> None:
    tactful = start_tactful()
    store = TokenStore(tactful.settings.tokens_path)
    first, first_token = store.issue("support_widget", now=T0)
    _, second_token = store.issue("support_widget", now=T0)
    assert record_with(tactful, first_token).stored == 1
    assert record_with(tactful, second_token).stored == 1
    store.revoke(token_id=first.id, now=T0)
    assert refused_code(tactful, first_token) is grpc.StatusCode.UNAUTHENTICATED
    assert record_with(tactful, second_token).stored == 1
    # Configured tokens are untouched by the token file.
    assert tactful.record("support_triage", page_view(email("ada@example.com"))).stored == 1


def test_issued_token_acts_with_its_principals_roles_and_purposes(
    start_tactful: Callable[..., Tactful],
) -> None:
    tactful = start_tactful()
    _, token = TokenStore(tactful.settings.tokens_path).issue("analyst", now=T0)
    # An analyst may not collect: authenticated, then denied.
    assert refused_code(tactful, token) is grpc.StatusCode.PERMISSION_DENIED


def test_token_issued_while_running_works_without_a_restart(
    start_tactful: Callable[..., Tactful],
) -> None:
    tactful = start_tactful()
    # The server has looked at the (absent) token file before the token exists.
    assert refused_code(tactful, "tf_not-issued-yet") is grpc.StatusCode.UNAUTHENTICATED
    _, token = TokenStore(tactful.settings.tokens_path).issue("support_widget", now=T0)
    assert record_with(tactful, token).stored == 1


def test_cli_issue_and_revoke_reach_a_running_server(
    start_tactful: Callable[..., Tactful], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tactful = start_tactful()
    # The config's data_dir ("data") is the one the fixture's server uses.
    config = write_config(tmp_path, tactful.settings.keyring_path)
    assert tokens_file(config) == tactful.settings.tokens_path
    token_id, token = issue(config, "support_widget", capsys)
    assert record_with(tactful, token).stored == 1
    assert main(["tokens", "revoke", token_id, "--config", str(config)]) == 0
    assert refused_code(tactful, token) is grpc.StatusCode.UNAUTHENTICATED


# -- the token file's mode ----------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o666, 0o640, 0o604, 0o620], ids=oct)
def test_a_token_file_others_may_read_or_write_is_refused_by_the_cli(
    config: Path, capsys: pytest.CaptureFixture[str], mode: int
) -> None:
    issue(config, "analyst", capsys)
    os.chmod(tokens_file(config), mode)
    for argv in (["tokens", "list"], ["tokens", "issue", "privacy_ops"]):
        assert main([*argv, "--config", str(config)]) == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        (line,) = captured.err.splitlines()
        assert f"(mode {mode:04o})" in line and f"chmod 600 {tokens_file(config)}" in line


def test_serve_refuses_to_start_with_a_token_file_others_may_write(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    issue(config, "analyst", capsys)
    os.chmod(tokens_file(config), 0o666)
    served = subprocess.run(
        [str(Path(sys.executable).parent / "tactful"), "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,  # a server that starts never returns
    )
    assert served.returncode == 1
    (line,) = served.stderr.splitlines()
    assert "group or others (mode 0666)" in line and "chmod 600" in line


def test_a_running_server_refuses_issued_tokens_while_the_file_is_loose(
    start_tactful: Callable[..., Tactful],
) -> None:
    tactful = start_tactful()
    store = TokenStore(tactful.settings.tokens_path)
    _, token = store.issue("support_widget", now=T0)
    assert record_with(tactful, token).stored == 1
    os.chmod(store.path, 0o666)  # anyone on the machine could now add a privacy_ops token
    assert refused_code(tactful, token) is grpc.StatusCode.UNAUTHENTICATED
    # Configured tokens do not come from the file.
    assert tactful.record("support_triage", page_view(email("ada@example.com"))).stored == 1
    os.chmod(store.path, 0o600)
    assert record_with(tactful, token).stored == 1


def test_a_left_over_temporary_file_does_not_loosen_the_token_file(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    leftover = tmp_path / "tokens.json.tmp"
    leftover.write_text("{}")
    os.chmod(leftover, 0o644)
    store.issue("analyst", now=T0)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert len(store.all()) == 1


# -- expiry ---------------------------------------------------------------------------------


def test_an_issued_token_is_refused_from_its_expiry_on(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    _, token = store.issue("analyst", now=T0, expires_in=timedelta(hours=1))
    principals = load_settings(DEVELOPMENT_CONFIG, {}).principals
    authenticator = Authenticator(principals, store, clock=lambda: T0)
    metadata = [("authorization", f"Bearer {token}")]
    assert authenticator.authenticate(metadata).name == "analyst"  # the clock: T0
    just_before = T0 + timedelta(minutes=59, seconds=59)
    assert authenticator.authenticate(metadata, now=just_before).name == "analyst"
    with pytest.raises(Unauthenticated, match="expired"):
        authenticator.authenticate(metadata, now=T0 + timedelta(hours=1))


def test_a_running_server_refuses_an_expired_token(
    start_tactful: Callable[..., Tactful],
) -> None:
    tactful = start_tactful()
    store = TokenStore(tactful.settings.tokens_path)
    long_ago = T0 - timedelta(days=100)  # the server runs on the test clock, at T0
    _, expired = store.issue("support_widget", now=long_ago, expires_in=timedelta(days=90))
    _, valid = store.issue("support_widget", now=long_ago, expires_in=timedelta(days=365))
    assert refused_code(tactful, expired) is grpc.StatusCode.UNAUTHENTICATED
    assert record_with(tactful, valid).stored == 1


def test_cli_issue_with_an_expiry_and_list_shows_it(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["tokens", "issue", "analyst", "--expires-in", "90d", "--config", str(config)]
    assert main(argv) == 0
    first, token = capsys.readouterr().out.splitlines()
    token_id = first.split()[1]
    (issued,) = TokenStore(tokens_file(config)).all()
    assert issued.expiry() is not None and token.startswith("tf_")
    lifetime = issued.expiry() - datetime.fromisoformat(issued.issued_at)  # type: ignore[operator]
    assert lifetime == timedelta(days=90)
    assert f"valid until {issued.expires_at}" in first
    assert main(["tokens", "list", "--config", str(config)]) == 0
    (row,) = capsys.readouterr().out.splitlines()
    assert row.startswith(token_id) and row.endswith(f"active until {issued.expires_at}")


def test_list_says_a_token_has_expired(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = TokenStore(tokens_file(config))
    store.issue("analyst", now=T0 - timedelta(days=2), expires_in=timedelta(days=1))
    assert main(["tokens", "list", "--config", str(config)]) == 0
    assert "expired " in capsys.readouterr().out


def test_a_bad_expiry_is_one_line(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["tokens", "issue", "analyst", "--expires-in", "soon", "--config", str(config)]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("tactful: --expires-in: 'soon'")
    assert not tokens_file(config).exists()
