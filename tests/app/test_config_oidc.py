"""The [console.oidc] table: read with its defaults, the client secret from a file or
the environment (never from the config file), and every mistake refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from tactful.app.config_file import load_settings
from tactful.app.settings import ConfigError

GOOD = """
[console.oidc]
issuer = "https://login.example.com/realms/staff"
client_id = "tactful-console"
redirect_url = "https://console.example.com/sign-in/oidc/callback"
compliance_groups = ["tactful-compliance"]
"""


def write(tmp_path: Path, text: str) -> Path:
    config = tmp_path / "tactful.toml"
    config.write_text(text, encoding="utf-8")
    return config


def test_the_table_is_read_with_its_defaults(tmp_path: Path) -> None:
    oidc = load_settings(write(tmp_path, GOOD), {}).console.oidc
    assert oidc is not None
    assert (oidc.issuer, oidc.client_id, oidc.client_secret) == (
        "https://login.example.com/realms/staff",
        "tactful-console",
        "",
    )
    assert (oidc.scopes, oidc.groups_claim, oidc.principal_claim) == (
        ("openid", "profile"),
        "groups",
        "sub",
    )
    assert oidc.roles_of(frozenset({"tactful-compliance", "staff"})) == {"compliance"}
    assert oidc.roles_of(frozenset({"staff"})) == frozenset()
    assert load_settings(write(tmp_path, "[console]\n"), {}).console.oidc is None


def test_the_client_secret_comes_from_its_file_or_the_environment(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("s3cret\n", encoding="utf-8")
    config = write(tmp_path, GOOD + 'client_secret_file = "secret"\n')
    oidc = load_settings(config, {}).console.oidc
    assert oidc is not None and oidc.client_secret == "s3cret"
    assert "s3cret" not in repr(oidc)
    from_env = load_settings(config, {"TACTFUL_OIDC_CLIENT_SECRET": "other"}).console.oidc
    assert from_env is not None and from_env.client_secret == "other"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ('issuer = "http://login.example.com"', "console.oidc.issuer must be an https URL"),
        ('redirect_url = "https://c.example.com/callback"', "must end in the console's"),
        ("compliance_groups = []", "name the provider's groups"),
        ('scopes = ["profile"]', 'scopes must include "openid"'),
        ('client_secret_file = "missing"', "client_secret_file: cannot read"),
        ('client_secret = "inline"', "console.oidc.client_secret: unknown key"),
        ("groups_claim = 3", "console.oidc.groups_claim must be text"),
        ('ca_file = "company-ca.pem"', "console.oidc.ca_file: .*company-ca.pem is not a file"),
    ],
)
def test_a_wrong_value_is_refused_by_name(tmp_path: Path, change: str, message: str) -> None:
    key = change.split(" = ")[0]
    lines = [ln for ln in GOOD.splitlines() if not ln.startswith(f"{key} =")]
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, "\n".join([*lines, change]) + "\n"), {})


def test_without_client_id_the_table_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace('client_id = "tactful-console"\n', "")
    with pytest.raises(ConfigError, match="console.oidc.client_id is required"):
        load_settings(write(tmp_path, text), {})
