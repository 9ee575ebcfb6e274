"""examples/frontend_client.py, run as a reader would, against a real server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tactful.app._x509 import write_development_pki
from tactful.app.settings import TlsSettings
from tests.conftest import T0, Tactful, token_for

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "frontend_client.py"
# The checkout_recovery playbook's explanation: categories of data, never their values.
WHY_PAYMENT = (
    "We suggested this because a payment did not go through during payment. We used error"
    " code of the last failed payment and failed payment attempts in the last 24 hours, for"
    " checkout recovery. A person from billing is available if you prefer."
)
EXPECTED = [
    "consent: ada@example.com granted onboarding",
    "recorded: 2 events stored",
    "segments for ada@example.com (purpose onboarding): new_visitor",
    "signal pages_viewed_24h: 1",
    "signal signup_plan: trial",
    "recorded: two failed payments (purpose checkout_recovery)",
    "next action: retry_payment (retry, rung none)",
    f"  why, as the person sees it: {WHY_PAYMENT}",
    "after retry_payment was refused: change_method (guide, rung none)",
    f"  why, as the person sees it: {WHY_PAYMENT}",
]


def run_example(running: Tactful, *options: str) -> subprocess.CompletedProcess[str]:
    # The example stamps its events with the real time; the server's clock follows.
    running.clock.now = datetime.now(UTC)
    return subprocess.run(
        [sys.executable, str(EXAMPLE), "--target", running.target, *options],
        capture_output=True,
        text=True,
        timeout=60,
    )


# The support conversation: help pages and a message; its words are classified by the
# server's classifier and forgotten; the labels and the journey's next action remain.
WHY_BUG = (
    "We suggested this because the last error code shown to you, what your last support"
    " message asked for, the category of the last support ticket and what your recent steps"
    " suggest you are doing showed a problem this step can fix, for support triage. A person"
    " from support is available if you prefer."
)
EXPECTED_SUPPORT = [
    "recorded: two help pages and a message (purpose support_triage; the words not kept)",
    "the message: intent reporting_issue, sentiment negative; the journey's intent:"
    " reporting_issue",
    "support next action: bug_report (retry, rung none)",
    f"  why, as the person sees it: {WHY_BUG}",
]


def test_the_example_over_plaintext(tactful: Tactful) -> None:
    ran = run_example(tactful, "--token", token_for("web_frontend"))
    assert (ran.returncode, ran.stdout.splitlines()) == (0, EXPECTED), ran.stderr


def test_the_example_sends_a_support_conversation(tactful: Tactful) -> None:
    tokens = ["--token", token_for("web_frontend"), "--support-token", token_for("support_widget")]
    ran = run_example(tactful, *tokens)
    assert (ran.returncode, ran.stdout.splitlines()) == (0, EXPECTED + EXPECTED_SUPPORT), ran.stderr


def test_the_example_over_mutual_tls(start_tactful: Callable[..., Tactful], tmp_path: Path) -> None:
    start = min(T0, datetime.now(UTC)) - timedelta(days=1)
    days = (max(T0, datetime.now(UTC)) - start).days + 30
    pki = tmp_path / "pki"
    write_development_pki(pki, ["web_frontend"], now=start, days=days)
    running = start_tactful(tls=TlsSettings(pki / "server.pem", pki / "server.key", pki / "ca.pem"))
    options = ["--token", token_for("web_frontend"), "--tls-ca", str(pki / "ca.pem")]
    options += ["--tls-cert", str(pki / "client-web_frontend.pem")]
    options += ["--tls-key", str(pki / "client-web_frontend.key")]
    ran = run_example(running, *options)
    assert (ran.returncode, ran.stdout.splitlines()) == (0, EXPECTED), ran.stderr


def test_the_example_reports_a_refusal_with_its_request_id(tactful: Tactful) -> None:
    ran = run_example(tactful, "--token", "tf_not-a-token")
    assert ran.returncode == 1
    assert ran.stderr.startswith("error: UNAUTHENTICATED: ") and "(request id " in ran.stderr


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--tls-cert", "c.pem", "--tls-key", "k.pem"], "--tls-cert needs --tls-ca"),
        (["--tls-ca", "ca.pem", "--tls-cert", "c.pem"], "give --tls-cert and --tls-key together"),
    ],
)
def test_the_example_refuses_half_a_tls_setup(options: list[str], said: str) -> None:
    ran = subprocess.run(
        [sys.executable, str(EXAMPLE), "--token", "t", *options],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 2 and said in ran.stderr, ran.stderr
