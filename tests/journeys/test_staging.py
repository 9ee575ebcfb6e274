"""A staged rollout: a new version serves a declared share of the treatment arm, the live
one the rest; widened, completed or withdrawn; one at a time; followed by a running
server's catalogue; each change recorded in the access log first, with its share."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tactful.app import stores
from tactful.app.config_file import load_settings
from tactful.cli.main import main
from tactful.journeys.catalogue import JourneyCatalogue
from tactful.journeys.engine import JourneyEngine
from tactful.journeys.errors import PlaybookError
from tactful.journeys.holdout import Arm, Holdouts
from tactful.journeys.memory import MemoryJourneyMemory, Remembered
from tactful.journeys.next_action import Ask
from tactful.journeys.outcomes import OutcomeReport, RecordedOutcome
from tactful.journeys.release_store import history_folder, playbook_path
from tactful.journeys.releases import (
    complete,
    history,
    live,
    promote,
    rollback,
    stage,
    staged,
    widen,
)
from tactful.journeys.scorecard import Bounds, Scorecards
from tactful.journeys.staging import POINTER, StagedRollout
from tactful.privacy.contract import Contract
from tactful.privacy.keyring import KeyringWatcher, create_keyring
from tactful.segments.ingest import SubjectInput
from tactful.segments.reader import Reader
from tactful.segments.replay import ReplayedBehavior
from tactful.segments.store import JourneyEvent
from tactful.timestamps import to_us
from tests.api.test_journeys import next_action
from tests.conftest import T0, Tactful, email
from tests.journeys.test_engine import FRONTEND, Consent, Handoffs, Pseudonyms
from tests.journeys.test_releases import (
    LIVE_CASE,
    configured,
    contract_of,
    folder,
    records,
    version_2,
)
from tests.journeys.test_scorecard import ANALYST, Ledger, Rows, no_noise, scored

__all__ = ["folder"]  # the fixture, shared with test_releases

JOURNEY = "checkout_recovery"
NOW = datetime(2026, 5, 6, 12, 0, tzinfo=UTC)


def version_3(folder: Path) -> Path:
    path = folder / "candidate3.toml"
    path.write_text(version_2(folder).read_text().replace("version = 2", "version = 3", 1))
    return path


def test_stage_widen_complete_makes_it_live_and_keeps_the_old_one(folder: Path) -> None:
    contract = contract_of(folder)
    staging = stage(contract, JOURNEY, version_2(folder), 0.1)
    assert (staging.version.version, staging.share) == (2, 0.1)
    assert live(contract, JOURNEY).version == 1 and history(contract, JOURNEY) == []
    before, after = widen(contract, JOURNEY, 0.5)
    assert (before.share, after.share) == (0.1, 0.5)
    assert after.version.content_hash == staging.version.content_hash
    released = complete(contract, JOURNEY)
    assert (released.before.version, released.after.version) == (1, 2)
    assert live(contract, JOURNEY).content_hash == staging.version.content_hash
    assert [v.version for v in history(contract, JOURNEY)] == [1]
    assert staged(contract, JOURNEY) is None


def test_a_rollback_while_staged_withdraws_it_and_the_live_one_keeps_serving(
    folder: Path,
) -> None:
    contract = contract_of(folder)
    first = live(contract, JOURNEY)
    stage(contract, JOURNEY, version_2(folder), 0.3)
    released = rollback(contract, JOURNEY)
    assert (released.before.version, released.after.version) == (2, 1)
    assert staged(contract, JOURNEY) is None
    assert live(contract, JOURNEY) == first and history(contract, JOURNEY) == []


@pytest.mark.parametrize("share", [0.0, 1.0, -0.1, float("nan")])
def test_a_share_outside_0_to_1_is_refused(folder: Path, share: float) -> None:
    with pytest.raises(PlaybookError, match="less than 1 of the treatment arm"):
        stage(contract_of(folder), JOURNEY, version_2(folder), share)
    assert staged(contract_of(folder), JOURNEY) is None


def test_one_staged_version_at_a_time_and_nothing_else_changes_meanwhile(folder: Path) -> None:
    contract = contract_of(folder)
    stage(contract, JOURNEY, version_2(folder), 0.1)
    for change in (
        lambda: stage(contract, JOURNEY, version_3(folder), 0.2),
        lambda: promote(contract, JOURNEY, version_3(folder)),
    ):
        with pytest.raises(PlaybookError, match="version 2 is staged at share 0.1"):
            change()
    assert live(contract, JOURNEY).version == 1
    staging = staged(contract, JOURNEY)
    assert staging is not None and (staging.version.version, staging.share) == (2, 0.1)


def test_a_candidate_that_fails_its_cases_is_not_staged(folder: Path) -> None:
    with pytest.raises(PlaybookError, match="expected cart_kept"):
        stage(contract_of(folder), JOURNEY, version_2(folder, breaking=True), 0.1)
    assert not (history_folder(contract_of(folder), JOURNEY) / POINTER).exists()


def test_with_nothing_staged_there_is_nothing_to_widen_or_complete(folder: Path) -> None:
    for change in (
        lambda: widen(contract_of(folder), JOURNEY, 0.5),
        lambda: complete(contract_of(folder), JOURNEY),
    ):
        with pytest.raises(PlaybookError, match="no version of checkout_recovery is staged"):
            change()


def test_the_catalogue_follows_a_staging_and_keeps_the_last_good_one(folder: Path) -> None:
    contract = contract_of(folder)
    catalogue = JourneyCatalogue(contract)
    assert catalogue.served().staged == {}
    stage(contract, JOURNEY, version_2(folder), 0.1)
    served = catalogue.served()
    assert served.live[JOURNEY].version == 1
    assert (served.staged[JOURNEY].playbook.version, served.staged[JOURNEY].share) == (2, 0.1)
    assert catalogue.served() is served  # nothing changed: the same object
    widen(contract, JOURNEY, 0.5)
    assert catalogue.served().staged[JOURNEY].share == 0.5
    pointer = history_folder(contract, JOURNEY) / POINTER
    pointer.write_text(json.dumps({"file": "staged/missing.toml", "share": 0.9}))
    kept = catalogue.served()
    assert kept.staged[JOURNEY].share == 0.5
    assert catalogue.problem is not None and "missing.toml" in catalogue.problem
    rollback(contract, JOURNEY)  # withdrawn: the pointer is gone
    assert catalogue.served().staged == {} and catalogue.problem is None


def test_a_decisions_look_at_its_own_journey_sees_every_change_to_it_at_once(
    folder: Path,
) -> None:
    """A decision looks only at its journey's files (two `stat`s, not two per journey):
    every change to that journey still reaches the very next decision, and a change to
    another journey the next look at that one."""
    contract = contract_of(folder)
    catalogue = JourneyCatalogue(contract)
    other = next(j for j in sorted(contract.journeys) if j != JOURNEY)
    third, second = version_3(folder), version_2(folder)  # both from the live version 1
    first = catalogue.served(JOURNEY)
    assert catalogue.served(JOURNEY) is first and catalogue.served(other) is first
    promote(contract, JOURNEY, second)
    assert catalogue.served(JOURNEY).live[JOURNEY].version == 2
    stage(contract, JOURNEY, third, 0.1)
    assert catalogue.served(JOURNEY).staged[JOURNEY].share == 0.1
    widen(contract, JOURNEY, 0.5)
    assert catalogue.served(JOURNEY).staged[JOURNEY].share == 0.5
    rollback(contract, JOURNEY)  # the staging withdrawn
    assert catalogue.served(JOURNEY).staged == {}
    rollback(contract, JOURNEY)
    assert catalogue.served(JOURNEY).live[JOURNEY].version == 1
    edited = playbook_path(contract, other)
    edited.write_text(
        edited.read_text().replace("version = 1", 'version = 2\nchanges = "edited"', 1)
    )
    assert catalogue.served(JOURNEY).live[other].version == 1  # not this journey's file
    assert catalogue.served(other).live[other].version == 2
    edited.write_text(edited.read_text().replace("version = 2", "version = 3", 1))
    assert catalogue.served().live[other].version == 3  # a look without a journey: all


def test_each_version_s_compiled_conditions_serve_from_the_very_next_decision(
    folder: Path,
) -> None:
    """A version's conditions are compiled once, for as long as it is served: a
    promotion that changes an eligibility, and the rollback, reach the next decision."""
    contract = contract_of(folder)
    never_after = folder / "never_after_a_processing_error.toml"
    text = (folder / "playbooks" / f"{JOURNEY}.toml").read_text()
    text = text.replace("version = 1", 'version = 2\nchanges = "no retry"', 1)
    text = text.replace(
        'value = ["fraud_suspected"', 'value = ["processing_error", "fraud_suspected"'
    )
    never_after.write_text(
        text.replace(LIVE_CASE, 'expect = { action = "talk_to_billing", rung = "human" }')
    )
    catalogue = JourneyCatalogue(contract)
    events = [
        JourneyEvent("checkout_started", to_us(NOW) - 300_000_000, {"value": 42.0}),
        JourneyEvent(
            "payment_failed", to_us(NOW) - 240_000_000, {"error_code": "processing_error"}
        ),
    ]
    engine = JourneyEngine(
        contract, catalogue.playbooks(), Pseudonyms(), Consent(),  # type: ignore[arg-type]
        Reader(contract, ReplayedBehavior(events)), MemoryJourneyMemory(), Handoffs(),
        catalogue=catalogue,
    )  # fmt: skip
    ask, person = Ask(JOURNEY, "web", "payment"), SubjectInput("email", "ada@example.com")

    def decided() -> tuple[int, str | None]:
        decision = engine.next_action(FRONTEND, person, ask, now=NOW).decision
        return decision.playbook_version, decision.action

    assert decided() == (1, "retry_payment")
    promote(contract, JOURNEY, never_after)
    assert decided() == (2, "talk_to_billing")
    rollback(contract, JOURNEY)
    assert decided() == (1, "retry_payment")


def _engine(contract: Contract, keyring: Path) -> JourneyEngine:
    watcher = KeyringWatcher(keyring)
    catalogue = JourneyCatalogue(contract)
    return JourneyEngine(
        contract,
        catalogue.playbooks(),
        Pseudonyms(),  # type: ignore[arg-type]
        Consent(),  # type: ignore[arg-type]
        Reader(contract, ReplayedBehavior([])),
        MemoryJourneyMemory(),
        Handoffs(),
        holdouts=Holdouts(contract, watcher.keys("holdout")),
        catalogue=catalogue,
        staging=StagedRollout(watcher.keys("holdout")),
    )


def test_the_staged_version_serves_its_share_of_treatment_only_and_keeps_its_people(
    folder: Path, tmp_path: Path
) -> None:
    contract = contract_of(folder)
    spec = replace(contract.journeys[JOURNEY], holdout=0.2)
    contract = replace(contract, journeys={**contract.journeys, JOURNEY: spec})
    create_keyring(tmp_path / "keyring.json", now=T0)
    engine = _engine(contract, tmp_path / "keyring.json")
    people = [SubjectInput("email", f"person{i}@example.com") for i in range(800)]
    ask = Ask(JOURNEY, "web", "payment")

    def served() -> list[tuple[Arm, int]]:
        decided = [engine.next_action(FRONTEND, p, ask, now=NOW).decision for p in people]
        return [(d.arm, d.playbook_version) for d in decided]

    assert {v for _, v in served()} == {1}
    stage(contract, JOURNEY, version_2(folder), 0.3)
    at_30 = served()
    treated = [v for arm, v in at_30 if arm is Arm.TREATMENT]
    assert all(v == 1 for arm, v in at_30 if arm is not Arm.TREATMENT)
    assert len(treated) < len(people)  # some are held out
    share, n = treated.count(2) / len(treated), len(treated)
    assert abs(share - 0.3) <= 5 * (0.3 * 0.7 / n) ** 0.5, share
    widen(contract, JOURNEY, 0.6)
    at_60 = served()
    on_2 = {i for i, (_, v) in enumerate(at_60) if v == 2}
    assert {i for i, (_, v) in enumerate(at_30) if v == 2} < on_2  # nobody moved back
    assert all(v == 1 for arm, v in at_60 if arm is not Arm.TREATMENT)
    complete(contract, JOURNEY)
    assert {v for arm, v in served() if arm is Arm.TREATMENT} == {2}


def test_the_commands_stage_widen_complete_and_withdraw_recording_each_share(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = ("--config", str(configured(folder, tmp_path)))
    promote_, v3 = ["journeys", "promote", JOURNEY], str(version_3(folder))
    assert main([*promote_, str(version_2(folder)), "--share", "0.1", "--reason", "try", *c]) == 0
    assert main(["journeys", "status", JOURNEY, *c]) == 0
    out = capsys.readouterr().out
    assert "checkout_recovery: staged version 2 (sha256:" in out
    assert "for 0.1 of the treatment arm" in out
    assert "checkout_recovery: version 1 (sha256:" in out
    assert "staged: version 2 (sha256:" in out and "serving 0.1 of the treatment arm" in out
    assert main([*promote_, "--share", "0.5", "--reason", "fine so far", *c]) == 0
    assert main([*promote_, "--complete", "--reason", "all good", *c]) == 0
    assert "promoted from version 1 to 2" in capsys.readouterr().out
    assert main([*promote_, v3, "--share", "0.2", "--reason", "v3", *c]) == 0
    assert main(["journeys", "rollback", JOURNEY, "--reason", "complaints", *c]) == 0
    assert "rolled back from version 3 to 2" in capsys.readouterr().out
    assert live(contract_of(folder), JOURNEY).version == 2
    prefix = "journey checkout_recovery: version"
    assert records(tmp_path / "data") == [
        ("tactful.cli/journeys.promote", f"{prefix} 1 -> 2 (staged at share 0.1): try"),
        ("tactful.cli/journeys.promote",
         f"{prefix} 1 -> 2 (staged, share 0.1 -> 0.5): fine so far"),
        ("tactful.cli/journeys.promote", f"{prefix} 1 -> 2 (completed from share 0.5): all good"),
        ("tactful.cli/journeys.promote", f"{prefix} 2 -> 3 (staged at share 0.2): v3"),
        ("tactful.cli/journeys.rollback",
         f"{prefix} 3 -> 2 (staged at share 0.2, withdrawn): complaints"),
    ]  # fmt: skip


def test_the_commands_refuse_before_recording_anything(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = ("--config", str(configured(folder, tmp_path)))
    promote_ = ["journeys", "promote", JOURNEY]
    assert main([*promote_, "--reason", "nothing", *c]) != 0
    assert "give FILE (with --share to stage it)" in capsys.readouterr().err
    assert main([*promote_, "--complete", "--reason", "nothing staged", *c]) != 0
    assert "no version of checkout_recovery is staged" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main([*promote_, str(version_2(folder)), "--share", "1.5", "--reason", "x", *c])
    assert usage.value.code == 2 and "less than 1" in capsys.readouterr().err
    assert main([*promote_, str(version_2(folder)), "--share", "0.1", "--reason", "x", *c]) == 0
    assert main([*promote_, str(version_3(folder)), "--reason", "again", *c]) == 1
    assert "version 2 is staged at share 0.1" in capsys.readouterr().err
    assert len(records(tmp_path / "data")) == 1


def test_a_running_server_follows_a_staging_and_its_completion(
    start_tactful: object, folder: Path
) -> None:
    running: Tactful = start_tactful(contract=folder / "contract.toml")  # type: ignore[operator]
    people = [email(f"person{i}@example.com") for i in range(40)]

    def versions() -> set[int]:
        return {next_action(running, p).playbook_version for p in people}

    assert versions() == {1}
    stage(contract_of(folder), JOURNEY, version_2(folder), 0.5)
    assert versions() == {1, 2}
    complete(contract_of(folder), JOURNEY)
    assert versions() == {2}


def test_guard_withdraws_a_staged_version_that_raised_complaints(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = configured(folder, tmp_path)
    c = ("--config", str(config))
    stage(contract_of(folder), JOURNEY, version_2(folder), 0.2)
    settings = load_settings(config, {})
    memory, outcomes = stores.open_journey_memory(settings), stores.open_journey_outcomes(settings)
    now_us = to_us(datetime.now(UTC))
    for version, complaints in ((1, 8), (2, 60)):  # 2 % of 400 on the live one, then 15 %
        for i in range(400):
            decision, who = f"d{version}-{i}", f"p{version}-{i}"
            memory.remember(Remembered(decision, who, JOURNEY, JOURNEY, "retry_payment",
                                       "retry", "none", version,
                                       now_us - 60_000_000 + version))  # fmt: skip
            outcomes.record(RecordedOutcome(decision, who, JOURNEY, JOURNEY,
                                            now_us - 30_000_000,
                                            OutcomeReport(complaint=i < complaints)))  # fmt: skip
    memory.close()
    outcomes.close()
    assert main(["journeys", "guard", "--dry-run", *c]) == 0
    assert "would roll back staged version 2: complaint rose" in capsys.readouterr().out
    assert main(["journeys", "guard", *c]) == 1
    assert "checkout_recovery: rolled back from version 2 to 1" in capsys.readouterr().out
    assert staged(contract_of(folder), JOURNEY) is None
    assert live(contract_of(folder), JOURNEY).version == 1
    method, reason = records(tmp_path / "data")[-1]
    assert method == "tactful.cli/journeys.guard"
    assert reason.startswith(
        "journey checkout_recovery: version 2 -> 1 (staged at share 0.2, withdrawn): "
        "guardrail: complaint rose from 2.0%"
    )


def test_guard_leaves_a_staged_version_it_cannot_judge_yet(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = ("--config", str(configured(folder, tmp_path)))
    stage(contract_of(folder), JOURNEY, version_2(folder), 0.2)
    assert main(["journeys", "guard", JOURNEY, *c]) == 0
    assert "checkout_recovery: staged version 2 not judged yet" in capsys.readouterr().out
    assert staged(contract_of(folder), JOURNEY) is not None


def test_a_staging_that_does_not_read_is_withdrawn_by_a_rollback_and_recorded(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = ("--config", str(configured(folder, tmp_path)))
    pointer = history_folder(contract_of(folder), JOURNEY) / POINTER
    pointer.parent.mkdir(parents=True)
    pointer.write_text(json.dumps({"file": "staged/gone.toml", "share": 0.1}))
    assert main(["journeys", "rollback", JOURNEY, "--reason", "clean up", *c]) == 0
    assert "rolled back from version 1 to 1" in capsys.readouterr().out
    assert not pointer.exists()
    [(method, reason)] = records(tmp_path / "data")
    assert method == "tactful.cli/journeys.rollback"
    assert reason.startswith("journey checkout_recovery: version 1 -> 1 (a staging that does not")
    assert "gone.toml" in reason and reason.endswith(": clean up")


def test_the_scorecard_counts_a_staged_versions_decisions(folder: Path) -> None:
    """The scorecard's cells run to the highest version the journey has had, staged
    ones included: a staging's decisions are the ones its guard and its owner judge."""
    contract = contract_of(folder)
    stage(contract, JOURNEY, version_2(folder), 0.5)
    catalogue = JourneyCatalogue(contract)
    rows = Rows([replace(scored(f"p{i}", action="retry_payment"), playbook_version=1 + i % 2)
                 for i in range(40)])  # fmt: skip
    cards = Scorecards(contract, catalogue.playbooks, rows, Ledger(), budget=1.0,
                       bounds=Bounds(min_people=1), noise=no_noise)  # fmt: skip
    card = cards.release(ANALYST, JOURNEY, 0, 86_400_000_000, 1.0, now=T0)
    people = {(g.playbook_version, g.arm): g.people for g in card.groups if g.action == ""}
    assert people[(1, "treatment")] == 20 and people[(2, "treatment")] == 20
