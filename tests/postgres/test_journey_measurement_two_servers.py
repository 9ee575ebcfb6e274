"""Two `tactful serve` processes on one PostgreSQL database, sharing one keyring, over
a contract that holds people out of checkout_recovery: a person's arm is the same
through either server, an outcome reported through one for a decision made through
the other is kept, the scorecard through either sees what both recorded and spends
one privacy budget, and an erasure through one takes the person's decisions and
outcomes away for the other."""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from tactful.app import stores
from tactful.app.settings import EXAMPLE_CONTRACT
from tactful.journeys.holdout import Holdouts
from tactful.journeys.outcomes import OutcomeReport, ScoredDecision
from tactful.privacy.contract import load_contract
from tactful.privacy.keyring import load_keyring
from tactful.privacy.pseudonym import Pseudonymizer, normalize
from tactful.v1 import (
    common_pb2,
    insights_pb2,
    insights_pb2_grpc,
    journeys_pb2,
    journeys_pb2_grpc,
    personalization_pb2,
    personalization_pb2_grpc,
    subjects_pb2,
    subjects_pb2_grpc,
)
from tests.api.test_signals import event
from tests.conftest import bearer, email, violations
from tests.postgres.servers import Server, settings_of, write_config
from tests.postgres_cluster import fresh_database, shared_cluster

pytest.importorskip("psycopg")

JOURNEY = "checkout_recovery"
FRONTEND = "web_frontend"
GLOBAL_SHARE, JOURNEY_SHARE = 0.2, 0.3  # treatment: 0.8 x 0.7 = 0.56 of people
PEOPLE = 120  # each arm is empty with a chance below 0.8^120 (about 2e-12)
RECOVERED = 1000.0  # every outcome's amount: the scorecard's cap, so no clamping
BUDGET, EPSILON = 25.0, 10.0  # two scorecards fit in the budget, a third does not


@dataclass(frozen=True)
class Host:
    server: Server
    config: Path


@dataclass(frozen=True)
class Deployment:
    a: Host
    b: Host
    contract: Path
    keyring: Path


def holding_out(contract: str) -> str:
    """The example contract with a global holdout and one on checkout_recovery, whose
    outcomes are cut to three: the scorecard splits its epsilon over fewer statistics,
    so its noise is small next to 120 people."""
    journey = f"[journeys.{JOURNEY}]\n"
    head, tail = contract.split(journey)
    head, n = re.subn(r"\[holdout\]\nshare = 0\.0", f"[holdout]\nshare = {GLOBAL_SHARE}", head)
    assert n == 1
    tail, n = re.subn(r"\nholdout = 0\.0", f"\nholdout = {JOURNEY_SHARE}", tail, count=1)
    assert n == 1
    outcomes = 'outcomes = ["converted", "recovered_amount", "complaint"]'
    tail, n = re.subn(r"\noutcomes = \[.*\]\n", f"\n{outcomes}\n", tail, count=1)
    assert n == 1
    return head + journey + tail


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    cluster = shared_cluster()
    root = tmp_path_factory.mktemp("two-servers-measurement")
    shutil.copytree(EXAMPLE_CONTRACT.parent / "playbooks", root / "playbooks")
    contract = root / "contract.toml"
    contract.write_text(holding_out(EXAMPLE_CONTRACT.read_text()))
    behavior, vault = fresh_database(cluster, "behavior"), fresh_database(cluster, "vault")
    keyring = root / "keyring.json"
    configs = [write_config(root / n, behavior, vault, keyring=keyring) for n in ("a", "b")]
    for config in configs:
        text = config.read_text().replace(str(EXAMPLE_CONTRACT), str(contract))
        config.write_text(text + f"[insights]\nbudget = {BUDGET}\n")
    stores.migrate(settings_of(configs[0]))  # as `tactful db migrate` does
    a = Server(configs[0])
    try:
        b = Server(configs[1])
    except BaseException:
        a.stop()
        raise
    try:
        yield Deployment(Host(a, configs[0]), Host(b, configs[1]), contract, keyring)
    finally:
        a.stop()
        b.stop()


def _now() -> datetime:
    return datetime.now(UTC)


def failed_checkout(server: Server, person: common_pb2.SubjectRef) -> None:
    """A checkout and a declined payment: checkout_recovery decides on it."""
    events = [
        event("checkout_started", _now() - timedelta(minutes=3), person, value=42.0),
        event("payment_failed", _now() - timedelta(minutes=2), person,
              error_code="processing_error"),
    ]  # fmt: skip
    request = personalization_pb2.RecordEventsRequest(purpose=JOURNEY, events=events)
    stub = personalization_pb2_grpc.PersonalizationStub(server.channel)
    assert stub.RecordEvents(request, metadata=bearer(FRONTEND), timeout=30).stored == 2


def next_action(server: Server, person: common_pb2.SubjectRef) -> journeys_pb2.NextActionResponse:
    request = journeys_pb2.NextActionRequest(
        subject=person, journey=JOURNEY, channel="web", step="payment"
    )
    stub = journeys_pb2_grpc.JourneysStub(server.channel)
    reply: journeys_pb2.NextActionResponse = stub.NextAction(
        request, metadata=bearer(FRONTEND), timeout=30
    )
    return reply


def record_outcome(
    server: Server, person: common_pb2.SubjectRef, decision_id: str, **fields: object
) -> journeys_pb2.RecordOutcomeResponse:
    request = journeys_pb2.RecordOutcomeRequest(
        subject=person,
        decision_id=decision_id,
        **fields,  # type: ignore[arg-type]
    )
    stub = journeys_pb2_grpc.JourneysStub(server.channel)
    reply: journeys_pb2.RecordOutcomeResponse = stub.RecordOutcome(
        request, metadata=bearer(FRONTEND), timeout=30
    )
    return reply


def scorecard(server: Server, epsilon: float = EPSILON) -> insights_pb2.GetScorecardResponse:
    request = insights_pb2.GetScorecardRequest(journey=JOURNEY, epsilon=epsilon)
    stub = insights_pb2_grpc.InsightsStub(server.channel)
    reply: insights_pb2.GetScorecardResponse = stub.GetScorecard(
        request, metadata=bearer("analyst"), timeout=60
    )
    return reply


def export(server: Server, person: common_pb2.SubjectRef) -> dict[str, list[object]]:
    stub = subjects_pb2_grpc.SubjectsStub(server.channel)
    request = subjects_pb2.ExportSubjectRequest(subject=person)
    reply = stub.ExportSubject(request, metadata=bearer("privacy_ops"), timeout=30)
    document: dict[str, list[object]] = json.loads(reply.export_json)
    return document


def expected_arm(deployment: Deployment, address: str) -> str:
    """The arm the holdout key in the shared keyring puts the person in."""
    holdout_key = load_keyring(deployment.keyring).holdout
    assert holdout_key is not None
    holdouts = Holdouts(load_contract(deployment.contract), holdout_key)
    return holdouts.arm(JOURNEY, "email", normalize("email", address)).value


@dataclass(frozen=True)
class Decided:
    address: str
    arm: str
    latest: journeys_pb2.NextActionResponse  # the one the scorecard counts
    through_a: bool  # which server made the latest


@pytest.fixture(scope="module")
def decided(deployment: Deployment) -> list[Decided]:
    """Each person decided through both servers, in turn first through A or B; their
    arm through each, checked against the keyring's holdout key."""
    a, b = deployment.a.server, deployment.b.server
    found = []
    for i in range(PEOPLE):
        address = f"person{i}@example.com"
        person = email(address)
        first, second = (a, b) if i % 2 else (b, a)
        failed_checkout(first, person)
        replies = next_action(first, person), next_action(second, person)
        arms = {r.arm for r in replies}
        assert arms == {expected_arm(deployment, address)}, (address, arms)
        if arms != {"treatment"}:  # held out: the playbook's declared baseline, twice
            assert [r.action.id for r in replies] == ["change_method"] * 2, replies
        found.append(Decided(address, replies[1].arm, replies[1], second is a))
    return found


def test_a_persons_arm_is_the_same_through_either_server(decided: list[Decided]) -> None:
    arms = {d.arm for d in decided}
    assert arms == {"treatment", "journey_holdout", "global_holdout"}
    assert sum(d.arm == "treatment" for d in decided) > PEOPLE * 0.3


@pytest.fixture(scope="module")
def reported(deployment: Deployment, decided: list[Decided]) -> list[Decided]:
    """Every person's latest decision gets an outcome, through the other server."""
    a, b = deployment.a.server, deployment.b.server
    outcome = {"converted": True, "recovered_amount": RECOVERED, "complaint": True}
    for d in decided:
        through = b if d.through_a else a
        reply = record_outcome(through, email(d.address), d.latest.decision_id, **outcome)
        assert (reply.journey, reply.purpose) == (JOURNEY, JOURNEY)
    return decided


def pseudonym(deployment: Deployment, address: str) -> str:
    keys = load_keyring(deployment.keyring).pseudonym
    return Pseudonymizer(keys).pseudonymize("email", normalize("email", address))


def scored(deployment: Deployment) -> list[ScoredDecision]:
    """The journey's decisions with their outcomes merged, as the scorecard reads them."""
    store = stores.open_journey_outcomes(settings_of(deployment.a.config))
    try:
        return store.scored(JOURNEY, 0, 2**62)
    finally:
        store.close()


def test_an_outcome_through_one_server_for_a_decision_made_through_the_other(
    deployment: Deployment, reported: list[Decided]
) -> None:
    assert {d.through_a for d in reported} == {True, False}
    by_person: dict[str, list[ScoredDecision]] = {}
    for row in scored(deployment):
        by_person.setdefault(row.pseudonym, []).append(row)
    outcome = OutcomeReport(converted=True, complaint=True, recovered_amount=RECOVERED)
    for d in reported:
        earlier, latest = by_person[pseudonym(deployment, d.address)]  # in decision order
        assert (earlier.report, latest.report) == (OutcomeReport(), outcome), d

    a, b = deployment.a.server, deployment.b.server
    adas = next(d for d in reported if d.through_a)
    for server in (a, b):
        for who, decision_id in (
            (adas.address, "dec_unknown"),  # no such decision
            ("someone.else@example.com", adas.latest.decision_id),  # not theirs
        ):
            with pytest.raises(grpc.RpcError) as caught:
                record_outcome(server, email(who), decision_id, converted=True)
            assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert list(violations(caught.value)) == ["decision_id"]


def noise_bound(reply: insights_pb2.GetScorecardResponse, statistic: str, cells: int) -> float:
    """How far a sum of `cells` noisy cells of `statistic` may be from the truth.

    Each cell's noise is discrete Laplace at the scale the reply states, whose variance
    is below 2 x scale^2: ten such standard deviations of the sum are exceeded with a
    chance of about 1e-6 at most (one cell: 2 exp(-10 sqrt(2)) / (1 + exp(-1 / scale));
    the tail of a sum of several is lighter)."""
    [scale] = [s.scale for s in reply.statistics if s.name == statistic]
    return 10 * scale * math.sqrt(2 * cells)


def check_scorecard(reply: insights_pb2.GetScorecardResponse, decided: list[Decided]) -> None:
    assert [s.name for s in reply.statistics] == [
        "people", "rungs", "complaint", "recovered_amount_sum"
    ]  # fmt: skip
    arms = {g.arm: g for g in reply.groups if g.playbook_version == 1 and not g.action}
    treatment_cells = sum(1 for g in reply.groups if g.arm == "treatment" and g.action)
    for arm, group in arms.items():
        cells = treatment_cells if arm == "treatment" else 1  # a holdout is one cell
        people = sum(d.arm == arm for d in decided)  # each once: their latest decision
        assert abs(group.noisy_people - people) <= noise_bound(reply, "people", cells), arm
    assert sum(g.noisy_people for g in reply.groups if not g.action) == pytest.approx(
        len(decided), abs=noise_bound(reply, "people", treatment_cells + 2)
    )
    # Every latest decision, made through A or B, has a complaint reported through the
    # other: the rate times the noisy people is the noisy complaint sum, or (the rate
    # clamped at 1) the noisy people; within the noise of either.
    treatment = arms["treatment"]
    [rate] = [f.value for f in treatment.figures if f.name == "complaint_rate"]
    complaints = sum(d.arm == "treatment" for d in decided)
    assert abs(rate * treatment.noisy_people - complaints) <= noise_bound(
        reply, "complaint", treatment_cells
    )


def test_the_scorecard_through_either_server_sees_both_and_one_budget(
    deployment: Deployment, reported: list[Decided]
) -> None:
    a, b = deployment.a.server, deployment.b.server
    through_a = scorecard(a)
    check_scorecard(through_a, reported)
    assert (through_a.epsilon_spent, through_a.epsilon_remaining) == (EPSILON, BUDGET - EPSILON)
    through_b = scorecard(b)
    check_scorecard(through_b, reported)
    assert through_b.epsilon_remaining == BUDGET - 2 * EPSILON  # A's spending, seen by B
    with pytest.raises(grpc.RpcError) as caught:
        scorecard(b)  # on B's own spending alone, it would fit
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


def test_an_erasure_through_one_server_takes_decisions_and_outcomes_from_the_other(
    deployment: Deployment,
) -> None:
    a, b = deployment.a.server, deployment.b.server
    address = "erased@example.com"
    person = email(address)
    failed_checkout(a, person)
    decision = next_action(a, person)
    record_outcome(b, person, decision.decision_id, converted=False, complaint=True)
    before = export(a, person)
    assert (len(before["journey_memory"]), len(before["journey_outcomes"])) == (1, 1)

    stub = subjects_pb2_grpc.SubjectsStub(b.channel)
    request = subjects_pb2.EraseSubjectRequest(subject=person)
    erased = stub.EraseSubject(request, metadata=bearer("privacy_ops"), timeout=30)
    assert erased.deleted["behavior.journey_memory"] == 1
    assert erased.deleted["behavior.journey_outcomes"] == 1

    after = export(a, person)
    assert (after["journey_memory"], after["journey_outcomes"]) == ([], [])
    # What the scorecard reads has no decision of theirs left.
    assert pseudonym(deployment, address) not in {row.pseudonym for row in scored(deployment)}
    with pytest.raises(grpc.RpcError) as caught:  # its decision is gone for A too
        record_outcome(a, person, decision.decision_id, converted=True)
    assert list(violations(caught.value)) == ["decision_id"]
