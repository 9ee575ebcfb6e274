"""Holdouts on a real server: a contract that holds people out of checkout_recovery
gives them the playbook's baseline, says which arm in the reply, the client's value,
the access record and the journey memory; everyone else gets the ladder as before."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tactful.app.settings import EXAMPLE_CONTRACT
from tactful.cli.main import main
from tactful.client import Subject as ClientSubject
from tactful.client import connect
from tactful.journeys.holdout import Arm, assign, subject_key
from tactful.privacy.keyring import load_keyring
from tactful.privacy.pseudonym import normalize
from tactful.v1 import common_pb2, personalization_pb2
from tests.api.test_access_log_service import query
from tests.api.test_journeys import (
    CHECKOUT,
    FRONTEND,
    METHOD,
    checkout,
    failed_payment,
    minutes_ago,
    record,
)
from tests.api.test_journeys import next_action as ask
from tests.api.test_signals import event
from tests.conftest import Tactful, bearer, email, token_for, write_contract

GLOBAL_SHARE = 0.2
JOURNEY_SHARE = 0.3


def held_out_contract(directory: Path) -> Path:
    text = EXAMPLE_CONTRACT.read_text()
    journey = f'[journeys.{CHECKOUT}]\nplaybook = "playbooks/{CHECKOUT}.toml"\nholdout = '
    edited = text.replace("[holdout]\nshare = 0.0 ", f"[holdout]\nshare = {GLOBAL_SHARE} ").replace(
        f"{journey}0.0 ", f"{journey}{JOURNEY_SHARE} "
    )
    assert edited.count(f"= {GLOBAL_SHARE} ") == text.count(f"= {GLOBAL_SHARE} ") + 1
    assert f"{journey}{JOURNEY_SHARE} " in edited
    directory.mkdir(exist_ok=True)
    return write_contract(directory / "contract.toml", edited)


def person_in(tactful: Tactful, arm: Arm) -> str:
    """An email address whose person is in `arm` on checkout_recovery, found as an
    analyst with the keyring would."""
    holdout = load_keyring(tactful.settings.keyring_path).holdout
    assert holdout is not None
    _, key = holdout.primary_key()
    for i in range(1000):
        address = f"person{i}@example.com"
        subject = subject_key("email", normalize("email", address))
        if assign(key, subject, CHECKOUT, JOURNEY_SHARE, GLOBAL_SHARE) is arm:
            return address
    raise AssertionError(f"nobody in {arm} among 1000 people")


@pytest.fixture
def held_out(start_tactful: Callable[..., Tactful], tmp_path: Path) -> Tactful:
    return start_tactful(contract=held_out_contract(tmp_path / "contract"))


@pytest.mark.parametrize("arm", [Arm.GLOBAL_HOLDOUT, Arm.JOURNEY_HOLDOUT])
def test_a_held_out_person_gets_the_baseline_and_is_told_the_arm(
    held_out: Tactful, arm: Arm
) -> None:
    address = person_in(held_out, arm)
    record(held_out, *_for(address, checkout(3), failed_payment(2)))
    reply = ask(held_out, email(address))
    assert (reply.action.id, reply.rung, reply.arm) == ("change_method", "none", str(arm))
    assert list(reply.reasons) == ["held_out"]
    assert list(reply.data_categories) == []  # nothing about them was read
    [logged] = [r for r in query(held_out, method=METHOD) if f"arm:{arm}" in r.released]
    assert list(logged.released) == [
        f"decision:{reply.decision_id}",
        "action:change_method",
        "rung:none",
        f"arm:{arm}",
    ]
    assert "held_out" in logged.reason
    with sqlite3.connect(held_out.settings.data_dir / "behavior.db") as behavior:
        rows = behavior.execute(
            "SELECT action, arm FROM journey_memory WHERE decision_id = ?", (reply.decision_id,)
        ).fetchall()
    assert rows == [("change_method", str(arm))]


def test_the_arm_is_stable_and_treatment_gets_the_ladder(held_out: Tactful) -> None:
    treated, global_ = person_in(held_out, Arm.TREATMENT), person_in(held_out, Arm.GLOBAL_HOLDOUT)
    for address in (treated, global_):
        record(held_out, *_for(address, checkout(3), failed_payment(2)))
    with connect(held_out.target, token_for(FRONTEND), plaintext=True) as client:
        first = client.next_action(ClientSubject("email", treated), CHECKOUT, step="payment")
        again = client.next_action(ClientSubject("email", global_.upper()), CHECKOUT)
        once_more = client.next_action(ClientSubject("email", global_), CHECKOUT)
    assert (first.action, first.rung, first.arm) == ("retry_payment", "none", "treatment")
    assert (again.action, again.arm) == ("change_method", "global_holdout")
    assert (once_more.action, once_more.arm) == ("change_method", "global_holdout")
    with_arm = [r for r in query(held_out, method=METHOD) if "arm:" in str(r.released)]
    assert len(with_arm) == 2  # a treatment decision's record names no arm


def test_without_holdouts_everyone_is_in_treatment(tactful: Tactful) -> None:
    record(tactful, checkout(3), failed_payment(2))
    assert ask(tactful).arm == "treatment"


def _for(address: str, *events: common_pb2.Event) -> list[common_pb2.Event]:
    """The events, each for the person at `address`."""
    for e in events:
        e.subject.CopyFrom(email(address))
    return list(events)


def test_an_analyst_asks_the_arm_and_gets_the_servers(
    held_out: Tactful, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = Path(__file__).resolve().parents[2]
    development = (root / "examples" / "development.toml").read_text()
    contract = tmp_path / "contract" / "contract.toml"
    config = tmp_path / "tactful.toml"
    config.write_text(
        f'data_dir = "{held_out.settings.data_dir}"\n'
        f'keyring = "{held_out.settings.keyring_path}"\n'
        + development.replace('contract = "contract.toml"', f'contract = "{contract}"')
    )
    for arm in Arm:
        address = person_in(held_out, arm)
        record(held_out, *_for(address, checkout(3), failed_payment(2)))
        served = ask(held_out, email(address)).arm
        subject = ["--namespace", "email", "--id", address]
        assert main(["journeys", "arm", CHECKOUT, *subject, "--config", str(config)]) == 0
        assert capsys.readouterr().out == f"{served}\n" == f"{arm}\n"


def test_the_handoff_recommends_the_baseline_for_a_global_holdout(held_out: Tactful) -> None:
    agent = "agent_console"
    for address, expected in (
        (person_in(held_out, Arm.GLOBAL_HOLDOUT), ("send_article", "global_holdout")),
        (person_in(held_out, Arm.TREATMENT), ("fix_payment", "treatment")),
    ):
        declined = event(
            "payment_failed", minutes_ago(2), email(address), error_code="card_declined"
        )
        record(held_out, checkout_for(address), declined, purpose="agent_assist", principal=agent)
        request = personalization_pb2.GetHandoffContextRequest(
            subject=email(address), purpose="agent_assist"
        )
        reply = held_out.personalization.GetHandoffContext(
            request, metadata=bearer(agent), timeout=10
        )
        assert (reply.recommended.action.id, reply.recommended.arm) == expected


def checkout_for(address: str) -> common_pb2.Event:
    return event("checkout_started", minutes_ago(3), email(address), value=42.0)
