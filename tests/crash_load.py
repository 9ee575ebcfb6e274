"""RecordEvents under load from 8 writers, for the crash tests: every batch is about a
person of its own and carries a request id of its own, so that afterwards each
stored batch can be matched with the access record of its call."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import grpc

from tactful.app.domain import Domain
from tactful.privacy.access_log import AccessQuery
from tactful.v1 import personalization_pb2, personalization_pb2_grpc
from tests.conftest import bearer, email, page_view

WRITERS = 8
RECORD_EVENTS = "tactful.v1.Personalization/RecordEvents"


class Writers:
    """8 threads sending RecordEvents to one server until `stop`; `sent` maps the
    request id of every call made to the address its batch is about."""

    def __init__(self, target: str, prefix: str, sent: dict[str, str]) -> None:
        self._channel = grpc.insecure_channel(target)
        self._stub = personalization_pb2_grpc.PersonalizationStub(self._channel)
        self._prefix = prefix
        self._sent = sent
        self._stop = threading.Event()
        self.acknowledged = 0
        self._threads = [threading.Thread(target=self._write, args=(n,)) for n in range(WRITERS)]
        for thread in self._threads:
            thread.start()

    def _write(self, writer: int) -> None:
        for batch in range(1_000_000):
            if self._stop.is_set():
                return
            request_id = f"{self._prefix}-w{writer}-b{batch}"
            who = f"{request_id}@example.com"
            self._sent[request_id] = who
            at = datetime.now(UTC) - timedelta(seconds=1)
            request = personalization_pb2.RecordEventsRequest(
                purpose="support_triage", events=[page_view(email(who), at)]
            )
            metadata = (*bearer("support_widget"), ("x-request-id", request_id))
            try:
                self._stub.RecordEvents(request, metadata=metadata, timeout=10)
                self.acknowledged += 1
            except grpc.RpcError:
                time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._channel.close()


def load_for(seconds: float, target: str, prefix: str, sent: dict[str, str]) -> Writers:
    """Writers that have run for about `seconds` (at least until some call succeeded)."""
    writers = Writers(target, prefix, sent)
    deadline = time.monotonic() + 30
    while writers.acknowledged < WRITERS and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(seconds)
    return writers


def random_moment(low: float = 0.3, high: float = 1.5) -> float:
    return random.uniform(low, high)


def reconcile(domain: Domain, sent: dict[str, str]) -> tuple[list[str], list[str], int]:
    """(request ids of stored batches without a record, request ids recorded more than
    once, batches stored)."""
    records = domain.access_log.query(AccessQuery(method=RECORD_EVENTS), limit=10**7)
    recorded = Counter(r.entry.request_id for r in records)
    unrecorded, stored = [], 0
    for request_id, who in sent.items():
        if domain.subject_data.events_of(domain.pseudonymizer.resolve("email", who)):
            stored += 1
            if not recorded[request_id]:
                unrecorded.append(request_id)
    twice = [request_id for request_id, n in recorded.items() if n > 1 and request_id in sent]
    return sorted(unrecorded), sorted(twice), stored


def until(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:  # bounded
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False
