"""The console's journey scorecards page: a form, and a release by POST alone (a
scorecard spends the officer's privacy budget), through the domain's release as the
RPC's is, recorded with the journey's purpose."""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request

from tactful.console.app import Console, View
from tactful.console.charts import uplift_chart
from tactful.console.filters import when
from tactful.console.security import Session
from tactful.journeys.scorecard import ReleasedScorecard
from tactful.privacy.access_log import Decided
from tactful.privacy.decisions import Actor, Decision
from tactful.privacy.errors import BudgetExhausted, InvalidRequest
from tactful.privacy.insights import MAX_EPSILON_PER_RELEASE
from tactful.privacy.pending_records import PendingRecord
from tactful.timestamps import to_us

WINDOWS = (7, 30, 90)  # days a scorecard may look back over
DEFAULT_WINDOW, DEFAULT_EPSILON = 30, 1.0


class ScorecardPages:
    def __init__(self, console: Console) -> None:
        self._console = console
        self._sources = console.sources

    async def scorecards(self, request: Request, session: Session) -> View:
        """The form only: a scorecard spends budget, so it is released by POST alone."""
        context = self._scorecard_form("", DEFAULT_WINDOW, str(DEFAULT_EPSILON), [])
        debits = await self._console.run(self._sources.debits)
        spent = math.fsum(d.epsilon for d in debits if d.principal == session.principal)
        context["left"] = max(0.0, round(self._console.settings.insights_budget - spent, 12))
        return View("scorecards.html", context, reason=json.dumps({"action": "form"}))

    async def release(self, request: Request, session: Session) -> View:
        """A scorecard released as the signed-in officer, through the domain's release
        (its decision, its debit): recorded as the RPC's would be, with the journey's purpose."""
        form = await request.form()
        journey = str(form.get("journey", "")).strip()
        raw_epsilon = str(form.get("epsilon", "")).strip()
        problems: list[str] = []
        try:
            days = int(str(form.get("days", "")))
        except ValueError:
            days = 0
        if days not in WINDOWS:
            problems.append(f"window: choose one of {', '.join(map(str, WINDOWS))} days")
            days = DEFAULT_WINDOW
        try:
            epsilon = float(raw_epsilon)
        except ValueError:
            problems.append("epsilon: must be a number above 0, e.g. 1")
            epsilon = math.nan
        context = self._scorecard_form(journey, days, raw_epsilon, problems)
        asked = {"journey": journey, "days": days, "epsilon": raw_epsilon}
        if problems:
            return _refused_release(context, asked, "INVALID_ARGUMENT", status=400)
        now = self._console.clock()
        until_us = to_us(now)
        since_us = until_us - days * 86_400_000_000
        kept: list[PendingRecord] = []

        def owed(decision: Decision, purpose: str) -> PendingRecord:
            """The page's record, made with the debit (as the RPC's is with its own)."""
            reason = json.dumps({**asked, "epsilon": epsilon, "decision": decision.reason})
            entry = self._console.entry(
                "scorecards.release",
                session.principal,
                reason=reason,
                purpose=purpose,
                authenticated_by=session.authenticated_by,
            )
            kept.append(PendingRecord(entry))
            return kept[-1]

        try:
            card = await self._console.run(
                self._sources.scorecard,
                self._actor(session),
                journey,
                since_us,
                until_us,
                epsilon,
                now=now,
                owed=owed,
            )
        except InvalidRequest as exc:
            problems.extend(f"{v.field}: {v.description}" for v in exc.violations)
            return _refused_release(context, asked, "INVALID_ARGUMENT", status=400)
        except BudgetExhausted as exc:
            context["exhausted"] = (
                f"Your privacy budget is spent: {exc.remaining} of epsilon"
                f" {self._console.settings.insights_budget} is left and this scorecard asks"
                f" for {exc.requested}. Nothing was released or spent; ask for a smaller"
                " epsilon, or wait until the operator grants a new budget."
            )
            return _refused_release(context, asked, "RESOURCE_EXHAUSTED", status=429)
        context["card"] = _card(card, since_us, until_us)
        (pending,) = kept
        return View("scorecards.html", context, purpose=card.purpose, owed=pending)

    def _actor(self, session: Session) -> Actor:
        """The signed-in officer as the contract knows them (their roles, their purposes)."""
        for p in self._console.settings.principals:
            if p.name == session.principal:
                return Actor(p.name, p.roles, p.purposes)
        return Actor(session.principal, frozenset({"compliance"}), frozenset())

    def _scorecard_form(
        self, journey: str, days: int, epsilon: str, problems: list[str]
    ) -> dict[str, Any]:
        return {
            "journeys": self._sources.journeys(),
            "journey": journey,
            "windows": WINDOWS,
            "days": days,
            "epsilon": epsilon,
            "max_epsilon": MAX_EPSILON_PER_RELEASE,
            "budget": self._console.settings.insights_budget,
            "problems": problems,
            "exhausted": "",
            "card": None,
            "left": None,  # the officer's budget left, on the form alone
        }


def _refused_release(context: dict[str, Any], asked: dict[str, Any], status_text: str, *,
                     status: int) -> View:  # fmt: skip
    reason = json.dumps({**asked, "refused": context["problems"] or context["exhausted"]})
    return View(
        "scorecards.html",
        context,
        reason=reason,
        decided=Decided.DENIED,
        outcome=status_text,
        status=status,
    )


def _card(card: ReleasedScorecard, since_us: int, until_us: int) -> dict[str, Any]:
    """A released scorecard as the page shows it."""
    success = [u for u in card.uplifts if u.figure == card.success_metric]
    return {
        "journey": card.journey,
        "purpose": card.purpose,
        "metric": card.success_metric,
        "since": when(since_us),
        "until": when(until_us),
        "min_people": card.min_people,
        "spent": card.epsilon_spent,
        "remaining": card.epsilon_remaining,
        "groups": [
            {
                "name": f"v{g.playbook_version} {g.arm}" + (f" / {g.action}" if g.action else ""),
                "people": g.people,
                "withheld": g.withheld,
                "figures": [
                    {
                        "name": f.name,
                        "value": "–" if f.value is None else f"{f.value:.3f}",
                        "interval": ""
                        if f.low is None or f.high is None
                        else f"{f.low:.3f} to {f.high:.3f}",
                    }
                    for f in g.figures
                ],
            }
            for g in card.groups
        ],
        "withheld": [
            f"v{g.playbook_version} {g.arm}" + (f" / {g.action}" if g.action else "")
            for g in card.groups
            if g.withheld
        ],
        "uplifts": [
            {
                "version": u.playbook_version,
                "figure": u.figure,
                "difference": f"{u.difference:+.3f}",
                "interval": f"{u.low:+.3f} to {u.high:+.3f}",
                "treatment": f"{u.treatment:.3f}",
                "holdout": f"{u.holdout:.3f}",
            }
            for u in card.uplifts
        ],
        "chart": uplift_chart([(u.playbook_version, u.difference, u.low, u.high) for u in success])
        if success
        else None,
        "statistics": [
            {
                "name": s.name,
                "epsilon": f"{s.epsilon:.4f}",
                "sensitivity": s.sensitivity,
                "scale": f"{s.scale:.2f}",
            }  # fmt: skip
            for s in card.statistics
        ],
    }
