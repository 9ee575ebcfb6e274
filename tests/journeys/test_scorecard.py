"""The scorecard's differential privacy, with the noise injected so every figure is exact:
contribution bounding, the epsilon split, the intervals, small groups, the budget."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from tactful.journeys import scorecard as scorecard_module
from tactful.journeys.catalogue import load_journeys
from tactful.journeys.outcomes import AgentVerdict, OutcomeReport, ScoredDecision
from tactful.journeys.scorecard import ReleasedScorecard, Scorecards, ScoreGroup
from tactful.journeys.scorecard_figures import Bounds, Estimate
from tactful.privacy.contract import load_contract
from tactful.privacy.decisions import Actor
from tactful.privacy.errors import BudgetExhausted, InvalidRequest, RoleNotAllowed
from tactful.privacy.insights import Debit
from tactful.privacy.pending_records import PendingRecord
from tests.conftest import T0

CONTRACT = load_contract(Path(__file__).parents[2] / "examples" / "contract.toml")
PLAYBOOKS = load_journeys(CONTRACT)
ANALYST = Actor("analyst", frozenset({"analyst"}), frozenset())
COMPLIANCE = Actor("compliance_officer", frozenset({"compliance"}), frozenset())
JOURNEY = "support_triage"  # success metric: first_contact_resolution
DAY_US = 86_400_000_000


@dataclass
class Tx:
    spent: float
    added: list[Debit] = field(default_factory=list)

    def add(self, debit: Debit) -> None:
        self.added.append(debit)

    def keep_pending_record(self, record: PendingRecord) -> None:
        pass


@dataclass
class Ledger:
    debits: list[Debit] = field(default_factory=list)

    @contextmanager
    def transaction(self, principal: str) -> Iterator[Tx]:
        tx = Tx(self.spent(principal))
        yield tx  # an exception leaves nothing added
        self.debits += tx.added

    def spent(self, principal: str) -> float:
        return math.fsum(d.epsilon for d in self.debits if d.principal == principal)


@dataclass
class Rows:
    rows: list[ScoredDecision] = field(default_factory=list)

    def scored(self, journey: str, since_us: int, until_us: int) -> list[ScoredDecision]:
        return [r for r in self.rows if since_us <= r.decided_at_us < until_us]

    def add(
        self, n: int, arm: str = "treatment", action: str = "kb_article", **report: object
    ) -> None:
        start = len(self.rows)
        for i in range(start, start + n):
            self.rows.append(scored(f"p{i}", arm=arm, action=action, **report))


def scored(
    who: str, *, arm: str = "treatment", action: str = "kb_article", at: int = 1,
    rung: str = "none", **report: object,
) -> ScoredDecision:  # fmt: skip
    return ScoredDecision(who, 1, arm, action, rung, at, OutcomeReport(**report))  # type: ignore[arg-type]


def no_noise(counts: Sequence[int], scale: float) -> list[int]:
    return list(counts)


def scorecards(
    rows: Rows, ledger: Ledger | None = None, *, noise: object = no_noise, least: int = 20
) -> Scorecards:
    return Scorecards(
        CONTRACT,
        lambda: PLAYBOOKS,
        rows,
        ledger or Ledger(),
        budget=1.0,
        bounds=Bounds(min_people=least),
        noise=noise,  # type: ignore[arg-type]
    )


def release(cards: Scorecards, epsilon: float = 1.0, actor: Actor = ANALYST) -> ReleasedScorecard:
    return cards.release(actor, JOURNEY, 0, DAY_US, epsilon, now=T0)


def group(card: ReleasedScorecard, arm: str = "treatment", action: str = "") -> ScoreGroup:
    return next(g for g in card.groups if g.arm == arm and g.action == action)


def figure(g: ScoreGroup, name: str) -> Estimate:
    return next(f for f in g.figures if f.name == name)


def test_a_person_with_50_decisions_counts_once_by_their_latest() -> None:
    rows = Rows([scored("ada", at=t, arm="treatment") for t in range(1, 50)])
    rows.rows.append(scored("ada", at=50, arm="global_holdout"))
    card = release(scorecards(rows, least=1))
    assert group(card, "treatment").people == 0
    assert group(card, "global_holdout").people == 1


def test_the_latest_counts_whatever_order_the_store_reads_rows_in() -> None:
    rows = Rows([scored("ada", at=50, arm="global_holdout")])
    rows.rows += [scored("ada", at=t, arm="treatment") for t in range(1, 50)]
    rows.rows += [scored("bob", at=7, arm="journey_holdout"), scored("bob", at=3)]
    card = release(scorecards(rows, least=1))
    assert group(card, "treatment").people == 0
    assert group(card, "global_holdout").people == 1
    assert group(card, "journey_holdout").people == 1


def test_exact_figures_without_noise() -> None:
    rows = Rows()
    rows.add(30, resolved=True, effort=2, time_to_resolution_s=60.0)
    rows.add(10, resolved=True, reopened=True, effort=6, time_to_resolution_s=1e9)  # capped
    rows.add(10, handed_off=True, resolved=True, complaint=True)
    card = release(scorecards(rows))
    g = group(card, "treatment")
    assert g.people == 50 and not g.withheld
    assert figure(g, "first_contact_resolution").value == pytest.approx(30 / 50)
    assert figure(g, "reopen_rate").value == pytest.approx(10 / 50)
    assert figure(g, "handoff_quality").value == pytest.approx(1.0)
    assert figure(g, "complaint_rate").value == pytest.approx(10 / 50)
    assert figure(g, "effort").value == pytest.approx((30 * 2 + 10 * 6) / 40)
    assert figure(g, "time_to_resolution_s").value == pytest.approx((30 * 60 + 10 * 14_400) / 40)
    assert figure(g, "success:first_contact_resolution").value == pytest.approx(30 / 50)
    # The action's own group holds the same people; agent acceptance is not declared.
    assert group(card, "treatment", "kb_article").people == 50
    assert not any(f.name == "agent_acceptance" for f in g.figures)


def test_fallback_rate_per_rung_other_than_none() -> None:
    rows = Rows([scored(f"p{i}", rung="clarify" if i < 5 else "none") for i in range(25)])
    g = group(release(scorecards(rows)), "treatment")
    assert figure(g, "fallback_rate:clarify").value == pytest.approx(5 / 25)
    assert figure(g, "fallback_rate:human").value == 0.0
    assert not any(f.name == "fallback_rate:none" for f in g.figures)


def test_a_group_below_the_minimum_is_withheld() -> None:
    rows = Rows()
    rows.add(19, resolved=True)
    rows.add(20, arm="journey_holdout", resolved=True)
    card = release(scorecards(rows))
    assert group(card, "treatment").withheld and group(card, "treatment").figures == ()
    assert not group(card, "journey_holdout").withheld
    assert card.uplifts == ()  # the treatment side is too small to compare


def test_uplift_of_treatment_over_the_union_of_holdouts() -> None:
    rows = Rows()
    rows.add(80, resolved=True)
    rows.add(20)
    rows.add(30, arm="journey_holdout", resolved=True)
    rows.add(30, arm="global_holdout", resolved=True)
    rows.add(60, arm="global_holdout")
    card = release(scorecards(rows))
    up = next(u for u in card.uplifts if u.figure == "success:first_contact_resolution")
    assert (up.treatment, up.holdout) == pytest.approx((0.8, 0.5))
    assert up.difference == pytest.approx(0.3)
    assert up.low < 0.3 < up.high


def test_the_epsilon_is_split_equally_and_each_scale_is_sensitivity_over_its_share() -> None:
    card = release(scorecards(Rows()), epsilon=0.5)
    stats = {s.name: s for s in card.statistics}
    assert math.fsum(s.epsilon for s in card.statistics) == pytest.approx(0.5)
    share = 0.5 / len(stats)
    assert stats["people"].sensitivity == 1 and stats["people"].scale == pytest.approx(1 / share)
    assert stats["effort_sum"].sensitivity == 7
    assert stats["time_to_resolution_sum"].sensitivity == 14_400
    assert stats["effort_sum"].scale == pytest.approx(7 / share)


def test_the_interval_includes_the_noise_and_widens_with_less_epsilon() -> None:
    rows = Rows()
    rows.add(600, resolved=True)
    rows.add(400)

    def released(epsilon: float) -> tuple[Estimate, dict[str, float]]:
        card = release(scorecards(rows), epsilon)
        fcr = figure(group(card, "treatment"), "first_contact_resolution")
        return fcr, {s.name: s.scale for s in card.statistics}

    fcr, scales = released(1.0)
    cells = len(PLAYBOOKS[JOURNEY].actions) + 1  # the treatment arm adds its actions' cells
    noise = cells * 2 * (scales["first_contact_resolution"] ** 2 + 0.6**2 * scales["people"] ** 2)
    assert fcr.variance == pytest.approx(0.6 * 0.4 / 1000 + noise / 1000**2)
    assert fcr.low == pytest.approx(0.6 - 1.959963984540054 * math.sqrt(fcr.variance))
    assert fcr.variance < released(0.5)[0].variance


def test_seeded_noise_is_added_to_every_sum() -> None:
    rows = Rows()
    rows.add(40, resolved=True)
    seeds = random.Random(7)
    calls: list[float] = []

    def seeded(counts: Sequence[int], scale: float) -> list[int]:
        calls.append(scale)
        return [c + seeds.randint(-3, 3) for c in counts]

    card = release(scorecards(rows, noise=seeded))
    assert len(calls) == len(card.statistics)  # one vector per statistic
    first_draw = random.Random(7).randint(-3, 3)  # the first cell of `people`, empty
    first_action = sorted(PLAYBOOKS[JOURNEY].actions)[0]
    assert group(card, "treatment", first_action).people == max(0, first_draw)


def test_the_budget_is_charged_once_and_a_scorecard_beyond_it_refused() -> None:
    ledger = Ledger()
    cards = scorecards(Rows(), ledger)
    card = release(cards, 0.75)
    assert [d.epsilon for d in ledger.debits] == [0.75]
    assert card.epsilon_remaining == pytest.approx(0.25)
    assert ledger.debits[0].purpose == PLAYBOOKS[JOURNEY].purpose
    with pytest.raises(BudgetExhausted):
        release(cards, 0.5)
    assert len(ledger.debits) == 1


@pytest.mark.parametrize("epsilon", [0.0, -1.0, math.inf, math.nan, 10.5, 5e-324])
def test_a_bad_epsilon_is_refused_before_anything_is_spent(epsilon: float) -> None:
    ledger = Ledger()
    with pytest.raises(InvalidRequest):
        release(scorecards(Rows(), ledger), epsilon)
    assert ledger.debits == []


def test_an_unknown_journey_or_an_empty_window_is_refused() -> None:
    cards = scorecards(Rows())
    with pytest.raises(InvalidRequest, match="journey"):
        cards.release(ANALYST, "nope", 0, DAY_US, 1.0, now=T0)
    with pytest.raises(InvalidRequest, match="since"):
        cards.release(ANALYST, JOURNEY, DAY_US, DAY_US, 1.0, now=T0)


def test_compliance_may_read_it_and_a_frontend_may_not() -> None:
    release(scorecards(Rows()), actor=COMPLIANCE)
    frontend = Actor("web_frontend", frozenset({"frontend"}), frozenset({JOURNEY}))
    with pytest.raises(RoleNotAllowed):
        release(scorecards(Rows()), actor=frontend)


def test_agent_acceptance_reads_the_verdict_used() -> None:
    rows = Rows()
    rows.add(15, agent_verdict=AgentVerdict.USED)
    rows.add(5, agent_verdict=AgentVerdict.REJECTED)
    rows.add(5)
    card = Scorecards(CONTRACT, lambda: PLAYBOOKS, rows, Ledger(), budget=1.0, noise=no_noise)
    g = group(card.release(ANALYST, "agent_assist", 0, DAY_US, 1.0, now=T0), "treatment")
    assert figure(g, "agent_acceptance").value == pytest.approx(15 / 20)


def test_a_version_above_the_live_one_left_by_a_rollback_still_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = Rows([scored(f"p{i}") for i in range(25)])
    rows.rows = [replace(r, playbook_version=2) for r in rows.rows]
    rolled_back = SimpleNamespace(version=2)  # what releases.history lists of the kept v2
    monkeypatch.setattr(scorecard_module, "history", lambda contract, journey, store: [rolled_back])
    card = release(scorecards(rows))
    assert {g.playbook_version for g in card.groups} == {1, 2}
    v2 = next(g for g in card.groups if g.playbook_version == 2 and g.arm == "treatment")
    assert v2.people == 25 and not v2.withheld
