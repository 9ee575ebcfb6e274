"""The six example journeys, end to end: one short scenario each, as a web frontend, a
support widget and an agent console would run it.

Start the service with `make run`, copy the development tokens it prints for
web_frontend, support_widget and agent_console, then:

    .venv/bin/python examples/journeys_tour.py --token tf_... --support-token tf_... \\
        --agent-token tf_...

For each journey the tour records a few events under the journey's purpose (with
consent first where the purpose rests on it), asks `Journeys.NextAction`, and prints
the action, its rung on the fallback ladder and the explanation the person (or the
agent) would see. A journey whose principal has no token is skipped, with a line that
says so. Each run uses a fresh person per journey (`--email` is the template).

Options: --target HOST:PORT (default 127.0.0.1:50051), --email ADDRESS, --at TIME (the
events lead up to this time instead of now; the server decides with its own clock).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tactful.client import Client, Event, Subject, TactfulError, connect

Attributes = Mapping[str, object]


@dataclass(frozen=True)
class Scenario:
    journey: str  # bound to the purpose of the same name
    principal: str  # web_frontend, support_widget or agent_console
    story: str
    events: tuple[tuple[str, Attributes], ...]
    step: str
    channel: str = "web"
    consent: bool = False  # the purpose rests on consent


SCENARIOS = (
    Scenario(
        "onboarding", "web_frontend", "picked a plan, sign-up not finished",
        (("page_viewed", {"path": "/pricing"}), ("plan_selected", {"plan": "pro"})),
        step="sign-up", consent=True,
    ),
    Scenario(
        "checkout_recovery", "web_frontend", "a first declined payment",
        (("checkout_started", {"value": 42.0}),
         ("payment_failed", {"error_code": "processing_error"})),
        step="payment",
    ),
    Scenario(
        "support_triage", "support_widget", "a how-to question, an article read",
        (("page_viewed", {"path": "/help/integrations"}),
         ("doc_opened", {"doc_id": "kb-214", "topic": "integrations"}),
         ("ticket_created", {"category": "how_to", "channel": "web", "priority": "normal"})),
        step="help", channel="chat",
    ),
    Scenario(
        "account_retention", "web_frontend", "a paid plan canceled",
        (("subscription_changed", {"plan": "pro", "canceled": True}),),
        step="account",
    ),
    Scenario(
        "agent_assist", "agent_console", "handed over after a declined card",
        (("checkout_started", {"value": 120.0}),
         ("payment_failed", {"error_code": "card_declined"})),
        step="conversation", channel="agent_console",
    ),
    Scenario(
        "multilingual_support", "web_frontend", "chose French",
        (("locale_set", {"locale": "fr-FR", "language": "fr"}),),
        step="help", consent=True,
    ),
)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--target", default="127.0.0.1:50051")
    parser.add_argument(
        "--token",
        default=os.environ.get("TACTFUL_TOKEN"),
        help="web_frontend's token (or TACTFUL_TOKEN)",
    )
    parser.add_argument(
        "--support-token",
        default=os.environ.get("TACTFUL_SUPPORT_TOKEN"),
        help="support_widget's token (or TACTFUL_SUPPORT_TOKEN)",
    )
    parser.add_argument(
        "--agent-token",
        default=os.environ.get("TACTFUL_AGENT_TOKEN"),
        help="agent_console's token (or TACTFUL_AGENT_TOKEN)",
    )
    parser.add_argument(
        "--email",
        default="tour-{journey}@example.com",
        help="the people, {journey} filled in (default %(default)s)",
    )
    parser.add_argument(
        "--at",
        type=datetime.fromisoformat,
        help="ISO 8601 time the events lead up to (default: now)",
    )
    args = parser.parse_args(argv)
    tokens = {
        "web_frontend": args.token,
        "support_widget": args.support_token,
        "agent_console": args.agent_token,
    }
    if not any(tokens.values()):
        parser.error("give at least --token (printed by `make run`)")
    now = args.at or datetime.now(UTC)
    for scenario in SCENARIOS:
        token = tokens[scenario.principal]
        if not token:
            print(f"{scenario.journey}: skipped (no token for {scenario.principal})")
            continue
        person = Subject("email", args.email.format(journey=scenario.journey))
        try:
            with connect(args.target, token, plaintext=True) as tactful:
                run(tactful, scenario, person, now)
        except TactfulError as error:
            print(f"{scenario.journey}: error: {error}", file=sys.stderr)
            return 1
    return 0


def run(tactful: Client, scenario: Scenario, person: Subject, now: datetime) -> None:
    purpose = scenario.journey
    if scenario.consent:
        tactful.consent(person, purpose, True, "examples/journeys_tour.py")
    count = len(scenario.events)
    at: Callable[[int], datetime] = lambda i: now - timedelta(minutes=count - i)  # noqa: E731
    events = [
        Event(person, kind, at(i), dict(attributes))
        for i, (kind, attributes) in enumerate(scenario.events)
    ]
    tactful.record(purpose, events)
    decided = tactful.next_action(person, scenario.journey, step=scenario.step,
                                  channel=scenario.channel)  # fmt: skip
    print(f"{scenario.journey} ({scenario.story}): {decided.action} "
          f"({decided.kind}, rung {decided.rung})")  # fmt: skip
    print(f"  why: {decided.explanation}")


if __name__ == "__main__":
    sys.exit(main())
