"""Invariant: the uncertainty and urgency signals read the same on every engine, the
high-value segments urgency reads included (computed from the purpose's own events)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tactful.segments.ingest import SubjectInput
from tactful.timestamps import to_us
from tests.conftest import T0
from tests.storage.engines import Engine

ADA, BOB = "ada@example.com", "bob@example.com"
NIGHT = T0.replace(hour=23, minute=30)  # UTC
NOW = NIGHT + timedelta(minutes=10)


def test_urgency_and_uncertainty_read_alike_on_every_engine(engine: Engine, tmp_path: Path) -> None:
    stores = engine.open(engine.settings(tmp_path / "data"))
    try:
        for who, plan in ((ADA, "pro"), (BOB, "free")):
            earlier = to_us(NIGHT - timedelta(days=3))
            stores.record(
                "agent_console",
                "agent_assist",
                [
                    (who, "subscription_changed", earlier, {"plan": plan}),
                    (who, "support_ticket_opened", to_us(NIGHT), {"category": "billing"}),
                ],
                now=NOW,
            )
        stores.set_consent(ADA, "onboarding", True, now=NOW)
        views = [
            (ADA, "page_viewed", to_us(NIGHT - timedelta(minutes=9 - i)), {"path": path})
            for i, path in enumerate(["/pricing", "/compare", "/pricing", "/vs/x"])
        ]
        stores.record("web_frontend", "onboarding", views, now=NOW)

        def read(principal: str, who: str, purpose: str, name: str) -> object:
            released = stores.domain.releaser.signals(
                stores.actor(principal), SubjectInput("email", who), purpose, [name], now=NOW
            )
            return released.values.get(name)

        assert read("agent_console", ADA, "agent_assist", "urgency") == "high"
        assert read("agent_console", BOB, "agent_assist", "urgency") == "mild"
        assert read("web_frontend", ADA, "onboarding", "uncertainty") == "high"
    finally:
        stores.close()
