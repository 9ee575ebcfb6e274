"""A real frontend client: consent, a few events, segments and signals, then the next action.

Start the service with `make run`, copy the development token it prints for
web_frontend, then:

    TACTFUL_TOKEN=tf_... .venv/bin/python examples/frontend_client.py

The onboarding purpose rests on consent: the client records the person's grant
(as a cookie banner would) before sending events; without it, events are
accepted but not stored, and reads get FAILED_PRECONDITION.

Then a checkout: two payments fail, and the client asks the journey engine for the
next action on the checkout_recovery journey, prints it with the explanation the
person would see, reports that the person refused it, and shows the next decision
(the engine does not offer a refused action again where its playbook says so).

With --support-token (support_widget's token, or TACTFUL_SUPPORT_TOKEN), a support
conversation too: two help pages and a message in the person's words, which the
server classifies and forgets (only the labels are kept); it prints the message's
intent and sentiment and the support_triage journey's next action.

Options: --target HOST:PORT (default 127.0.0.1:50051), --token TOKEN,
--email ADDRESS (the person the events are about), --tls-ca FILE (the CA that
signed the server's certificate: TLS instead of plaintext) with --tls-cert FILE
--tls-key FILE (a client certificate, for mutual TLS), --support-token TOKEN.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime, timedelta

from tactful.client import Client, Event, NextAction, Subject, TactfulError, connect


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--target", default="127.0.0.1:50051")
    parser.add_argument("--token", default=os.environ.get("TACTFUL_TOKEN"))
    parser.add_argument("--email", default="ada@example.com")
    parser.add_argument("--tls-ca", metavar="FILE", help="CA certificate(s), PEM: use TLS")
    parser.add_argument("--tls-cert", metavar="FILE", help="client certificate, PEM (mTLS)")
    parser.add_argument("--tls-key", metavar="FILE", help="its private key, PEM (mTLS)")
    parser.add_argument(
        "--support-token",
        default=os.environ.get("TACTFUL_SUPPORT_TOKEN"),
        help="support_widget's token: send a support conversation too",
    )
    args = parser.parse_args(argv)
    if not args.token and not args.tls_cert:
        parser.error("give --token or set TACTFUL_TOKEN (printed by `make run`)")
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("give --tls-cert and --tls-key together")
    if args.tls_cert and not args.tls_ca:
        parser.error("--tls-cert needs --tls-ca")

    person = Subject("email", args.email)
    now = datetime.now(UTC)
    events = [
        Event(person, "page_viewed", now - timedelta(minutes=3), {"path": "/pricing"}),
        Event(person, "signup_started", now - timedelta(minutes=1), {"plan": "trial"}),
    ]
    tactful = connect(
        args.target,
        args.token,
        root_ca=args.tls_ca,
        client_cert=args.tls_cert,
        client_key=args.tls_key,
        plaintext=args.tls_ca is None,
    )
    with tactful:
        try:
            tactful.consent(person, "onboarding", True, "examples/frontend_client.py")
            print(f"consent: {args.email} granted onboarding")
            recorded = tactful.record("onboarding", events)
            print(f"recorded: {recorded.stored} events stored")
            segments = tactful.segments(person, "onboarding")
            signals = tactful.signals(person, "onboarding", ["pages_viewed_24h", "signup_plan"])
            shown = ", ".join(segments.segments) or "-"
            print(f"segments for {args.email} (purpose onboarding): {shown}")
            for name, value in signals.values.items():
                print(f"signal {name}: {value}")
            recover_a_checkout(tactful, person, now)
            if args.support_token:
                support = connect(
                    args.target,
                    args.support_token,
                    root_ca=args.tls_ca,
                    plaintext=args.tls_ca is None,
                )
                with support:
                    triage_a_message(support, person, now)
        except TactfulError as error:
            print(f"error: {error}", file=sys.stderr)
            for violation in error.field_violations:
                print(f"  {violation.field}: {violation.description}", file=sys.stderr)
            if error.error_info is not None:
                info = error.error_info
                print(f"  {info.reason}: {dict(info.metadata)}", file=sys.stderr)
            return 1
    return 0


def recover_a_checkout(tactful: Client, person: Subject, now: datetime) -> None:
    """Two failed payments, the next action, a refusal, and the action after it."""
    failed = {"error_code": "processing_error"}
    checkout = [
        Event(person, "checkout_started", now - timedelta(minutes=3), {"value": 42.0}),
        Event(person, "payment_failed", now - timedelta(minutes=2), failed),
        Event(person, "payment_failed", now - timedelta(minutes=1), failed),
    ]
    tactful.record("checkout_recovery", checkout)
    print("recorded: two failed payments (purpose checkout_recovery)")
    first = tactful.next_action(person, "checkout_recovery", step="payment", channel="web")
    show("next action", first)
    refused = (first.decision_id, "refused")
    second = tactful.next_action(
        person, "checkout_recovery", step="payment", channel="web", previous=refused
    )
    show(f"after {first.action} was refused", second)


MESSAGE = "The export is broken and shows an error every time I try, this is terrible"


def triage_a_message(tactful: Client, person: Subject, now: datetime) -> None:
    """Help pages, then a message in the person's words: its labels, and the next action."""
    conversation = [
        Event(person, "page_viewed", now - timedelta(minutes=4), {"path": "/help/export"}),
        Event(person, "page_viewed", now - timedelta(minutes=3), {"path": "/status"}),
        Event(
            person,
            "support_message",
            now - timedelta(minutes=1),
            {"message": MESSAGE, "channel": "chat"},
        ),
    ]
    tactful.record("support_triage", conversation)
    print("recorded: two help pages and a message (purpose support_triage; the words not kept)")
    names = ["last_message_intent", "last_message_sentiment", "intent"]
    read = tactful.signals(person, "support_triage", names).values
    print(f"the message: intent {read['last_message_intent']}, sentiment "
          f"{read['last_message_sentiment']}; the journey's intent: {read['intent']}")  # fmt: skip
    show("support next action", tactful.next_action(person, "support_triage", step="chat"))


def show(title: str, decided: NextAction) -> None:
    print(f"{title}: {decided.action} ({decided.kind}, rung {decided.rung})")
    print(f"  why, as the person sees it: {decided.explanation}")


if __name__ == "__main__":
    sys.exit(main())
