"""The uncertainty and urgency journey signals over gRPC, released by the purposes of
the example contract, read by its [states.*] rules."""

from __future__ import annotations

from datetime import timedelta

from tests.api.test_signals import event
from tests.conftest import T0, Tactful, email, page_view

ADA, BOB = email("ada@example.com"), email("bob@example.com")
NIGHT = T0.replace(hour=23, minute=30)  # UTC, the zone a signal reads night in


def test_a_premium_account_contacting_support_at_night_is_urgent(tactful: Tactful) -> None:
    tactful.clock.now = NIGHT + timedelta(minutes=10)
    for subject, plan in ((ADA, "pro"), (BOB, "free")):
        tactful.record(
            "agent_assist",
            event("subscription_changed", NIGHT - timedelta(days=3), subject, plan=plan),
            event("support_ticket_opened", NIGHT, subject, category="billing"),
            principal="agent_console",
        )
    urgency = {
        who: tactful.signals(subject, "agent_assist", "urgency", principal="agent_console")
        for who, subject in (("ada", ADA), ("bob", BOB))
    }
    assert urgency == {"ada": {"urgency": "high"}, "bob": {"urgency": "mild"}}


def test_repeated_contacts_are_urgent_by_day(tactful: Tactful) -> None:
    tactful.record(
        "support_triage",
        event("support_ticket_opened", T0 - timedelta(hours=3), category="bug"),
        event("support_ticket_opened", T0 - timedelta(hours=1), category="bug"),
    )
    assert tactful.signals(ADA, "support_triage", "urgency") == {"urgency": "high"}


def test_comparing_plans_back_and_forth_during_sign_up_is_uncertain(tactful: Tactful) -> None:
    tactful.consent(ADA, "onboarding")
    paths = ["/pricing", "/compare/plans", "/pricing", "/vs/competitor"]
    views = [page_view(ADA, T0 - timedelta(minutes=9 - i), p) for i, p in enumerate(paths)]
    tactful.record("onboarding", *views[:2], principal="web_frontend")
    assert tactful.signals(ADA, "onboarding", "uncertainty", principal="web_frontend") == {
        "uncertainty": "mild"
    }
    tactful.record("onboarding", *views[2:], principal="web_frontend")
    assert tactful.signals(ADA, "onboarding", "uncertainty", principal="web_frontend") == {
        "uncertainty": "high"
    }
