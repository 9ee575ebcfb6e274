"""A real frontend client: consent, a few events, then segments and signals.

Start the service with `make run`, copy the development token it prints for
web_frontend, then:

    TACTFUL_TOKEN=tf_... .venv/bin/python examples/frontend_client.py

The onboarding purpose rests on consent: the client records the person's grant
(as a cookie banner would) before sending events; without it, events are
accepted but not stored, and reads get FAILED_PRECONDITION.

Options: --target HOST:PORT (default 127.0.0.1:50051), --token TOKEN,
--email ADDRESS (the person the events are about).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_status import rpc_status

from tactful.v1 import common_pb2, personalization_pb2, personalization_pb2_grpc


def timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="127.0.0.1:50051")
    parser.add_argument("--token", default=os.environ.get("TACTFUL_TOKEN"))
    parser.add_argument("--email", default="ada@example.com")
    args = parser.parse_args()
    if not args.token:
        parser.error("give --token or set TACTFUL_TOKEN (printed by `make run`)")

    metadata = (("authorization", f"Bearer {args.token}"),)
    subject = common_pb2.SubjectRef(namespace="email", id=args.email)
    now = datetime.now(UTC)
    events = [
        common_pb2.Event(
            subject=subject,
            type="page_viewed",
            occurred_at=timestamp(now - timedelta(minutes=3)),
            attributes={"path": common_pb2.AttributeValue(string_value="/pricing")},
        ),
        common_pb2.Event(
            subject=subject,
            type="signup_started",
            occurred_at=timestamp(now - timedelta(minutes=1)),
            attributes={"plan": common_pb2.AttributeValue(string_value="trial")},
        ),
    ]
    with grpc.insecure_channel(args.target) as channel:
        client = personalization_pb2_grpc.PersonalizationStub(channel)
        try:
            client.SetConsent(
                personalization_pb2.SetConsentRequest(
                    subject=subject,
                    purpose="onboarding",
                    granted=True,
                    source="examples/frontend_client.py",
                ),
                metadata=metadata,
                timeout=5,
            )
            print(f"consent: {args.email} granted onboarding")
            recorded = client.RecordEvents(
                personalization_pb2.RecordEventsRequest(purpose="onboarding", events=events),
                metadata=metadata,
                timeout=5,
            )
            print(f"recorded: {recorded.stored} events stored")
            reply = client.GetSegments(
                personalization_pb2.GetSegmentsRequest(subject=subject, purpose="onboarding"),
                metadata=metadata,
                timeout=5,
            )
            signals = client.GetSignals(
                personalization_pb2.GetSignalsRequest(
                    subject=subject, purpose="onboarding", names=["pages_viewed_24h", "signup_plan"]
                ),
                metadata=metadata,
                timeout=5,
            )
        except grpc.RpcError as error:
            print(f"error: {error.code().name}: {error.details()}", file=sys.stderr)
            status = rpc_status.from_call(error)
            for detail in status.details if status else ():
                print(f"  detail: {detail}", file=sys.stderr)
            return 1
    print(f"segments for {args.email} (purpose onboarding): {', '.join(reply.segments) or '-'}")
    for signal in signals.signals:
        value = getattr(signal.value, str(signal.value.WhichOneof("value")))
        print(f"signal {signal.name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
