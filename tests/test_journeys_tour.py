"""examples/journeys_tour.py: the six example journeys end to end against a real server
(on SQLite here; on PostgreSQL in tests/postgres/test_journeys_pg.py)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import Tactful, token_for

TOUR = Path(__file__).resolve().parent.parent / "examples" / "journeys_tour.py"
# Each journey's action and rung for its scenario, as its playbook decides.
EXPECTED = {
    "onboarding": "finish_signup (guide, rung none)",
    "checkout_recovery": "retry_payment (retry, rung none)",
    "support_triage": "kb_article (knowledge_base, rung most_likely)",
    "account_retention": "loyalty_credit (compensate, rung none)",
    "agent_assist": "fix_payment (guide, rung none)",
    "multilingual_support": "help_in_language (guide, rung none)",
}


NOON = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


def run_tour(running: Tactful, *options: str) -> subprocess.CompletedProcess[str]:
    running.clock.now = NOON  # outside every quiet hour, whenever the test runs
    return subprocess.run(
        [
            sys.executable,
            str(TOUR),
            "--target",
            running.target,
            "--at",
            NOON.isoformat(),
            *options,
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=120,
    )


def every_token() -> list[str]:
    return [
        "--token", token_for("web_frontend"),
        "--support-token", token_for("support_widget"),
        "--agent-token", token_for("agent_console"),
    ]  # fmt: skip


def check_tour(running: Tactful) -> None:
    ran = run_tour(running, *every_token())
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    decided = {line.split(" (")[0]: line.split("): ", 1)[1] for line in lines[::2]}
    assert decided == EXPECTED, ran.stdout
    for why in lines[1::2]:
        assert why.startswith(("  why: We ", "  why: Your agent ")) and "{" not in why, why
        assert "@example.com" not in why and "processing_error" not in why


def test_the_six_journeys_end_to_end(tactful: Tactful) -> None:
    check_tour(tactful)


def test_a_journey_without_its_principals_token_is_skipped(tactful: Tactful) -> None:
    ran = run_tour(tactful, "--token", token_for("web_frontend"))
    assert ran.returncode == 0, ran.stderr
    assert "support_triage: skipped (no token for support_widget)" in ran.stdout
    assert "agent_assist: skipped (no token for agent_console)" in ran.stdout
