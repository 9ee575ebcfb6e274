"""The access log over a real channel: one record per call, what it says, how compliance
reads and verifies it, and that the service fails closed when it cannot write."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tactful.api.edge import UNAVAILABLE_MESSAGE
from tactful.privacy.access_log import AccessLogUnavailable
from tactful.privacy.keyring import load_keyring
from tactful.privacy.pseudonym import Pseudonymizer
from tactful.storage.sqlite.access_log import SqliteAccessLog
from tactful.v1 import (
    access_log_pb2,
    access_log_pb2_grpc,
    common_pb2,
    insights_pb2,
    insights_pb2_grpc,
    journeys_pb2,
    journeys_pb2_grpc,
    personalization_pb2,
    personalization_pb2_grpc,
    subjects_pb2,
    subjects_pb2_grpc,
)
from tests.conftest import T0, Tactful, bearer, email, page_view, timestamp

COMPLIANCE = "compliance_officer"
ROLE = {
    "web_frontend": "frontend",
    "checkout_service": "frontend",
    "support_widget": "frontend",
    "agent_console": "agent",
    "analyst": "analyst",
    "compliance_officer": "compliance",
    "privacy_ops": "privacy_ops",
    None: "",  # no token
}
ADA = email("Ada.Lovelace@Example.com")
BOB = email("bob@example.org")
QUERY_METHOD = "tactful.v1.AccessLog/QueryAccessLog"
SEGMENTS_METHOD = "tactful.v1.Personalization/GetSegments"


# -- helpers ------------------------------------------------------------------------------


def metadata(principal: str | None, request_id: str = "") -> tuple[tuple[str, str], ...]:
    found = bearer(principal) if principal else ()
    return (*found, ("x-request-id", request_id)) if request_id else found


def access_log(tactful: Tactful) -> access_log_pb2_grpc.AccessLogStub:
    return access_log_pb2_grpc.AccessLogStub(tactful.channel)


def query(tactful: Tactful, **filters: Any) -> list[access_log_pb2.AccessRecord]:
    """One page of up to 1,000 records, as the compliance officer (adds one record)."""
    request = access_log_pb2.QueryAccessLogRequest(page_size=1000, **filters)
    reply = access_log(tactful).QueryAccessLog(request, metadata=bearer(COMPLIANCE), timeout=10)
    assert not reply.next_page_token
    return list(reply.records)


def walk(tactful: Tactful, page_size: int, **filters: Any) -> list[list[int]]:
    """Every page's sequence numbers, following next_page_token to the end."""
    pages, token = [], ""
    while True:
        request = access_log_pb2.QueryAccessLogRequest(
            page_size=page_size, page_token=token, **filters
        )
        reply = access_log(tactful).QueryAccessLog(request, metadata=bearer(COMPLIANCE), timeout=10)
        pages.append([r.sequence for r in reply.records])
        token = reply.next_page_token
        if not token:
            return pages
        assert len(pages) < 100, "paging does not end"


def pseudonym_of(tactful: Tactful, subject: common_pb2.SubjectRef) -> str:
    keys = load_keyring(tactful.settings.keyring_path).pseudonym
    return Pseudonymizer(keys).resolve(subject.namespace, subject.id)[0]


def health_of(tactful: Tactful, service: str = "") -> int:
    stub = health_pb2_grpc.HealthStub(tactful.channel)
    return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status


def call_status(call: Callable[..., Any], request: Message, **kwargs: Any) -> str:
    """The status code name of one call."""
    try:
        call(request, timeout=10, **kwargs)
    except grpc.RpcError as error:
        return error.code().name  # type: ignore[no-any-return]
    return "OK"


def token(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def access_log_of(tactful: Tactful) -> SqliteAccessLog:
    (log,) = [
        c.access_log
        for c in tactful._running._closers
        if isinstance(getattr(c, "access_log", None), SqliteAccessLog)
    ]
    return log  # type: ignore[no-any-return]


def access_log_files(tactful: Tactful) -> list[Path]:
    data = tactful.settings.data_dir
    paths = [data / "access_log.db", data / "access_log.db-wal", tactful.settings.checkpoints_path]
    return [p for p in paths if p.exists()]


# -- one record per call ------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    stub: Callable[[grpc.Channel], Any]
    service: str
    method: str
    allowed: tuple[str, Message, str]  # principal, request, status
    denied: tuple[str | None, Message, str]

    @property
    def full_name(self) -> str:
        return f"tactful.v1.{self.service}/{self.method}"


P = personalization_pb2
SEGMENTS = P.GetSegmentsRequest(subject=ADA, purpose="support_triage")
SIGNALS = P.GetSignalsRequest(subject=ADA, purpose="support_triage", names=["failed_logins_1h"])
HANDOFF = P.GetHandoffContextRequest(subject=ADA, purpose="agent_assist")
CONSENT = P.SetConsentRequest(subject=ADA, purpose="onboarding", granted=True, source="tests")
EVENTS = P.RecordEventsRequest(purpose="support_triage", events=[page_view(ADA)])
QUERY = access_log_pb2.QueryAccessLogRequest(page_size=1)
VERIFY = access_log_pb2.VerifyAccessLogRequest()
EXPORT = subjects_pb2.ExportSubjectRequest(subject=ADA)
ERASE = subjects_pb2.EraseSubjectRequest(subject=ADA)
SIZES = insights_pb2.GetSegmentSizesRequest(purpose="analytics", epsilon=0.1)
NEXT = journeys_pb2.NextActionRequest(subject=ADA, journey="checkout_recovery")
SCORECARD = insights_pb2.GetScorecardRequest(journey="support_triage", epsilon=0.1)
PERSONALIZATION = personalization_pb2_grpc.PersonalizationStub

CASES = [
    Case(
        PERSONALIZATION,
        "Personalization",
        "RecordEvents",
        ("support_widget", EVENTS, "OK"),
        (None, EVENTS, "UNAUTHENTICATED"),
    ),
    Case(
        PERSONALIZATION,
        "Personalization",
        "SetConsent",
        ("web_frontend", CONSENT, "OK"),
        ("agent_console", CONSENT, "PERMISSION_DENIED"),
    ),
    Case(
        PERSONALIZATION,
        "Personalization",
        "GetSegments",
        ("support_widget", SEGMENTS, "OK"),
        (
            "web_frontend",
            P.GetSegmentsRequest(subject=ADA, purpose="onboarding"),
            "FAILED_PRECONDITION",
        ),
    ),
    Case(
        PERSONALIZATION,
        "Personalization",
        "GetSignals",
        ("support_widget", SIGNALS, "OK"),
        (
            "support_widget",
            P.GetSignalsRequest(subject=ADA, purpose="support_triage", names=["no_such_signal"]),
            "INVALID_ARGUMENT",
        ),
    ),
    Case(
        PERSONALIZATION,
        "Personalization",
        "GetHandoffContext",
        ("agent_console", HANDOFF, "OK"),
        ("web_frontend", HANDOFF, "PERMISSION_DENIED"),
    ),
    Case(
        access_log_pb2_grpc.AccessLogStub,
        "AccessLog",
        "QueryAccessLog",
        (COMPLIANCE, QUERY, "OK"),
        ("analyst", QUERY, "PERMISSION_DENIED"),
    ),
    Case(
        access_log_pb2_grpc.AccessLogStub,
        "AccessLog",
        "VerifyAccessLog",
        (COMPLIANCE, VERIFY, "OK"),
        ("privacy_ops", VERIFY, "PERMISSION_DENIED"),
    ),
    Case(
        subjects_pb2_grpc.SubjectsStub,
        "Subjects",
        "ExportSubject",
        ("privacy_ops", EXPORT, "OK"),
        (COMPLIANCE, EXPORT, "PERMISSION_DENIED"),
    ),
    Case(
        subjects_pb2_grpc.SubjectsStub,
        "Subjects",
        "EraseSubject",
        ("privacy_ops", ERASE, "OK"),
        ("support_widget", ERASE, "PERMISSION_DENIED"),
    ),
    Case(
        insights_pb2_grpc.InsightsStub,
        "Insights",
        "GetSegmentSizes",
        ("analyst", SIZES, "OK"),
        ("agent_console", SIZES, "PERMISSION_DENIED"),
    ),
    Case(
        insights_pb2_grpc.InsightsStub,
        "Insights",
        "GetScorecard",
        (COMPLIANCE, SCORECARD, "OK"),
        ("web_frontend", SCORECARD, "PERMISSION_DENIED"),
    ),
    Case(
        journeys_pb2_grpc.JourneysStub,
        "Journeys",
        "NextAction",
        ("checkout_service", NEXT, "OK"),
        ("support_widget", NEXT, "PERMISSION_DENIED"),
    ),
]


def expected_record(
    tactful: Tactful, case: Case, principal: str | None, request: Message, status: str, rid: str
) -> dict[str, Any]:
    fields = request.DESCRIPTOR.fields_by_name
    about_ada = ("subject" in fields and request.HasField("subject")) or "events" in fields
    return {
        "principal": principal or "anonymous",
        "role": ROLE[principal],
        "method": case.full_name,
        "purpose": purpose_of(request, status),
        "subjects": [pseudonym_of(tactful, ADA)] if about_ada else [],
        "decision": "allowed" if status == "OK" else "denied",
        "status": status,
        "request_id": rid,
    }


def purpose_of(request: Message, status: str) -> str:
    """The purpose a call's record names: the request's, or for a call that names a
    journey (NextAction, GetScorecard), the journey's purpose, refused or not."""
    if isinstance(request, journeys_pb2.NextActionRequest):
        return "checkout_recovery"
    if isinstance(request, insights_pb2.GetScorecardRequest):
        return "support_triage"
    return str(getattr(request, "purpose", ""))


def fields_of(record: access_log_pb2.AccessRecord) -> dict[str, Any]:
    return {
        "principal": record.principal,
        "role": record.role,
        "method": record.method,
        "purpose": record.purpose,
        "subjects": list(record.subjects),
        "decision": record.decision,
        "status": record.status,
        "request_id": record.request_id,
    }


@pytest.mark.parametrize("case", CASES, ids=[c.method for c in CASES])
def test_every_call_allowed_or_denied_leaves_exactly_one_record(
    tactful: Tactful, case: Case
) -> None:
    call = getattr(case.stub(tactful.channel), case.method)
    expected = []
    for outcome, (principal, request, status) in (
        ("allowed", case.allowed),
        ("denied", case.denied),
    ):
        rid = f"{case.method}-{outcome}"
        assert call_status(call, request, metadata=metadata(principal, rid)) == status
        expected.append(expected_record(tactful, case, principal, request, status, rid))

    # Read before this query's own record is written: exactly the two calls above.
    records = query(tactful, method=case.full_name)
    assert [fields_of(r) for r in records] == expected
    assert all(r.reason for r in records)  # every record says why
    assert all(r.time == timestamp(T0) for r in records)


def test_each_call_adds_exactly_one_record_and_queries_count_too(tactful: Tactful) -> None:
    tactful.record("support_triage", page_view(ADA))
    before = query(tactful)
    calls = [
        (tactful.personalization.GetSegments, SEGMENTS, "support_widget"),
        (tactful.personalization.GetSegments, SEGMENTS, "analyst"),
        (tactful.personalization.GetSegments, SEGMENTS, None),
        (access_log(tactful).VerifyAccessLog, VERIFY, COMPLIANCE),
        (access_log(tactful).QueryAccessLog, QUERY, "web_frontend"),
    ]
    for call, request, principal in calls:
        call_status(call, request, metadata=metadata(principal))
    after = query(tactful)
    assert len(after) == len(before) + 1 + len(calls)  # +1: the first query itself
    assert [r.sequence for r in after] == list(range(1, len(after) + 1))
    assert after[len(before)].method == QUERY_METHOD
    assert [r.principal for r in after[-len(calls) :]] == [
        "support_widget",
        "analyst",
        "anonymous",
        COMPLIANCE,
        "web_frontend",
    ]


def test_released_names_are_recorded_but_never_values(tactful: Tactful) -> None:
    secret_code, secret_path = "E-SECRET-4711", "/account/secret-path-9182"
    error = common_pb2.Event(
        subject=ADA,
        type="error_shown",
        occurred_at=timestamp(T0),
        attributes={
            "error_code": common_pb2.AttributeValue(string_value=secret_code),
            "path": common_pb2.AttributeValue(string_value=secret_path),
        },
    )
    tactful.record("support_triage", page_view(ADA, path=secret_path), error)
    assert tactful.segments(ADA) == ["new_visitor"]
    assert tactful.signals(ADA, "support_triage", "last_error_code", "failed_logins_1h") == {
        "last_error_code": secret_code,
        "failed_logins_1h": 0,
    }

    segments, signals = (
        query(tactful, method=SEGMENTS_METHOD),
        query(tactful, method="tactful.v1.Personalization/GetSignals"),
    )
    assert [list(r.released) for r in segments] == [["new_visitor"]]
    assert [list(r.released) for r in signals] == [["failed_logins_1h", "last_error_code"]]
    assert [list(r.requested) for r in signals] == [["failed_logins_1h", "last_error_code"]]
    everything = str(query(tactful)).encode()
    assert secret_code.encode() not in everything and secret_path.encode() not in everything
    for path in access_log_files(tactful):
        content = path.read_bytes()
        assert secret_code.encode() not in content, path.name
        assert secret_path.encode() not in content, path.name


def test_the_request_id_is_kept_if_it_looks_like_one_else_made_up_and_echoed(
    tactful: Tactful,
) -> None:
    """An email address sent as a request id stayed in access_log.db after that person was
    erased: only 1 to 64 characters of [A-Za-z0-9._:-] are kept; anything else is replaced
    by a new id, and the record says so. The id the record holds is echoed to the caller."""
    ids = ["req-7f3a", "0f1e:trace.span_9-x", "x" * 64, "x" * 65, "ada@example.com", "a b", ""]
    echoed = []
    for rid in ids:
        _, call = tactful.personalization.GetSegments.with_call(
            SEGMENTS, metadata=metadata("support_widget", rid), timeout=10
        )
        echoed.append(dict(call.trailing_metadata())["x-request-id"])
    records = query(tactful, method=SEGMENTS_METHOD)
    recorded = [r.request_id for r in records]
    assert recorded == echoed
    assert recorded[:3] == ids[:3]
    assert [r.request_id_origin for r in records] == ["caller"] * 3 + ["replaced"] * 3 + [
        "generated"
    ]
    for made_up in recorded[3:]:  # 128 random bits in hex instead
        assert len(made_up) == 32 and int(made_up, 16) >= 0
    assert len(set(recorded[3:])) == 4
    for path in access_log_files(tactful):
        assert b"ada@example.com" not in path.read_bytes(), path.name


def test_a_refused_call_echoes_its_request_id_too(tactful: Tactful) -> None:
    request = P.GetSegmentsRequest(subject=ADA, purpose="onboarding")
    with pytest.raises(grpc.RpcError) as refused:
        tactful.personalization.GetSegments(
            request, metadata=metadata("analyst", "support-ticket-42"), timeout=10
        )
    assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert dict(refused.value.trailing_metadata())["x-request-id"] == "support-ticket-42"


def test_the_subject_is_the_pseudonym_and_found_by_any_case_of_the_email(
    tactful: Tactful,
) -> None:
    tactful.record("support_triage", page_view(ADA), page_view(ADA, T0 - timedelta(minutes=1)))
    tactful.segments(email("  ada.lovelace@example.COM "))
    tactful.record("support_triage", page_view(BOB))
    tactful.segments(BOB)
    tactful.record("support_triage", page_view(ADA), page_view(BOB))  # about two people

    pseudonym = pseudonym_of(tactful, ADA)
    assert pseudonym.startswith("hmac-sha256:v1:") and len(pseudonym) == len("hmac-sha256:v1:") + 64
    bob = pseudonym_of(tactful, BOB)
    everything = query(tactful)
    assert [list(r.subjects) for r in everything] == [
        [pseudonym],
        [pseudonym],
        [bob],
        [bob],
        sorted([pseudonym, bob]),  # a batch about several people names each of them
    ]
    assert [r.subject for r in everything] == [r.subjects[0] for r in everything]
    found = query(tactful, subject=email("ADA.LOVELACE@EXAMPLE.COM"))
    assert [(r.method, r.subject) for r in found] == [
        ("tactful.v1.Personalization/RecordEvents", pseudonym),
        (SEGMENTS_METHOD, pseudonym),
        ("tactful.v1.Personalization/RecordEvents", min(pseudonym, bob)),
    ]
    # The compliance query about Ada is itself an access about Ada.
    again = query(tactful, subject=email("Ada.Lovelace@example.com"))
    assert [r.method for r in again] == [r.method for r in found] + [QUERY_METHOD]
    by_bob = query(tactful, subject=BOB)
    assert [r.sequence for r in by_bob] == [everything[i].sequence for i in (2, 3, 4)]


# -- filters and paging --------------------------------------------------------------------


@pytest.fixture
def four_reads(tactful: Tactful) -> tuple[Tactful, list[int]]:
    """Four GetSegments over two hours, two allowed and two denied; then an hour passes."""
    reads = [
        (timedelta(0), "support_widget", "support_triage"),  # allowed
        (timedelta(hours=1), "web_frontend", "onboarding"),  # denied: no consent
        (timedelta(hours=1), "agent_console", "agent_assist"),  # allowed, at T0 + 2 h
        (timedelta(0), "analyst", "analytics"),  # denied: role
    ]
    for advance, principal, purpose in reads:
        tactful.clock.advance(advance)
        request = P.GetSegmentsRequest(subject=ADA, purpose=purpose)
        call_status(tactful.personalization.GetSegments, request, metadata=bearer(principal))
    tactful.clock.advance(timedelta(hours=1))
    sequences = [r.sequence for r in query(tactful)]
    assert len(sequences) == 4
    return tactful, sequences


def hours(n: float) -> Timestamp:
    return timestamp(T0 + timedelta(hours=n))


FILTERS = {
    "none": ({}, [0, 1, 2, 3]),
    "principal": ({"principal": "web_frontend"}, [1]),
    "unknown_principal": ({"principal": "nobody"}, []),
    "purpose": ({"purpose": "agent_assist"}, [2]),
    "method": ({"method": SEGMENTS_METHOD}, [0, 1, 2, 3]),
    "other_method": ({"method": "tactful.v1.Personalization/GetSignals"}, []),
    "allowed": ({"decision": "allowed"}, [0, 2]),
    "denied": ({"decision": "denied"}, [1, 3]),
    "since": ({"since": hours(1)}, [1, 2, 3]),
    "since_until": ({"since": hours(1), "until": hours(2)}, [1]),
    "until": ({"until": hours(1)}, [0]),
    "since_after_all": ({"since": hours(2.001)}, []),
    "denied_analyst": ({"decision": "denied", "principal": "analyst"}, [3]),
    "subject_allowed": (
        {"subject": email("ADA.LOVELACE@example.com"), "decision": "allowed"},
        [0, 2],
    ),
    "other_subject": ({"subject": BOB}, []),
}


@pytest.mark.parametrize(("filters", "expected"), FILTERS.values(), ids=FILTERS.keys())
def test_filters_select_exactly_the_matching_records(
    four_reads: tuple[Tactful, list[int]], filters: dict[str, Any], expected: list[int]
) -> None:
    tactful, sequences = four_reads
    # The compliance queries themselves come at T0 + 3 h; leave them out.
    bounded = {"until": hours(3), **filters}
    assert [r.sequence for r in query(tactful, **bounded)] == [sequences[i] for i in expected]


def test_paging_walks_every_record_once(tactful: Tactful) -> None:
    for _ in range(23):
        tactful.segments(ADA)
    pages = walk(tactful, 5, method=SEGMENTS_METHOD)
    assert [len(page) for page in pages] == [5, 5, 5, 5, 3]
    assert [s for page in pages for s in page] == list(range(1, 24))

    # Unfiltered, the walk also meets the records of its own earlier pages, each once.
    pages = walk(tactful, 4)
    walked = [s for page in pages for s in page]
    assert walked == list(range(1, len(walked) + 1))
    assert len(walked) >= 23 + len(pages) - 1
    assert all(len(page) <= 4 for page in pages)


def test_an_exact_last_page_ends_the_walk(tactful: Tactful) -> None:
    for _ in range(6):
        tactful.segments(ADA)
    assert walk(tactful, 3, method=SEGMENTS_METHOD) == [[1, 2, 3], [4, 5, 6]]
    assert walk(tactful, 0, method=SEGMENTS_METHOD) == [[1, 2, 3, 4, 5, 6]]  # default size


BAD_ARGUMENTS = {
    "token_garbage": {"page_token": "not a token!"},
    "token_other_prefix": {"page_token": token("before:3")},
    "token_no_number": {"page_token": token("after:")},
    "token_negative": {"page_token": token("after:-1")},
    "token_not_a_number": {"page_token": token("after:3x")},
    "token_superscript_digit": {"page_token": token("after:²")},  # isdigit() yes, int() no
    "token_beyond_int64": {"page_token": token("after:" + "9" * 30)},
    "decision_unknown": {"decision": "maybe"},
    "decision_upper_case": {"decision": "ALLOWED"},
    "page_size_negative": {"page_size": -1},
    "page_size_too_large": {"page_size": 1001},
    "subject_namespace": {"subject": common_pb2.SubjectRef(namespace="passport", id="X1")},
    "subject_blank": {"subject": common_pb2.SubjectRef(namespace="email", id="   ")},
    "since_beyond_year_9999": {"since": Timestamp(seconds=10**13)},
    "until_nanos_negative": {"until": Timestamp(seconds=0, nanos=-1)},
    "until_nanos_a_whole_second": {"until": Timestamp(seconds=0, nanos=10**9)},
}


@pytest.mark.parametrize("filters", BAD_ARGUMENTS.values(), ids=BAD_ARGUMENTS.keys())
def test_bad_query_arguments_are_invalid_and_recorded_as_such(
    tactful: Tactful, filters: dict[str, Any]
) -> None:
    request = access_log_pb2.QueryAccessLogRequest(**filters)
    with pytest.raises(grpc.RpcError) as caught:
        access_log(tactful).QueryAccessLog(request, metadata=bearer(COMPLIANCE), timeout=10)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    (record,) = query(tactful)
    assert (record.decision, record.status) == ("denied", "INVALID_ARGUMENT")


def test_the_largest_page_size_is_accepted(tactful: Tactful) -> None:
    request = access_log_pb2.QueryAccessLogRequest(page_size=1000)
    access_log(tactful).QueryAccessLog(request, metadata=bearer(COMPLIANCE), timeout=10)


# -- verify and who may ---------------------------------------------------------------------


def test_verify_reports_an_intact_log_with_its_record_count(tactful: Tactful) -> None:
    tactful.record("support_triage", page_view(ADA))
    tactful.segments(ADA)
    call_status(tactful.personalization.GetSegments, SEGMENTS, metadata=bearer("analyst"))
    seen = len(query(tactful))
    reply = access_log(tactful).VerifyAccessLog(VERIFY, metadata=bearer(COMPLIANCE), timeout=10)
    assert reply == access_log_pb2.VerifyAccessLogResponse(intact=True, records=seen + 1)
    tactful.restart()  # and again after the records were checkpointed at shutdown
    reply = access_log(tactful).VerifyAccessLog(VERIFY, metadata=bearer(COMPLIANCE), timeout=10)
    assert reply == access_log_pb2.VerifyAccessLogResponse(intact=True, records=seen + 2)


def test_checkpoints_go_to_the_configured_file_and_verify_misses_none(
    start_tactful: Callable[..., Tactful], tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere" / "access-log.checkpoints"
    tactful = start_tactful(access_log_checkpoints=outside, checkpoint_every=3)
    for _ in range(7):
        tactful.segments(ADA)
    lines = outside.read_text().splitlines()
    # The first record is checkpointed at once (none signed yet), then every third.
    assert [json.loads(line)["sequence"] for line in lines] == [1, 4, 7]
    assert not tactful.settings.checkpoints_path.is_relative_to(tactful.settings.data_dir)
    reply = access_log(tactful).VerifyAccessLog(VERIFY, metadata=bearer(COMPLIANCE), timeout=10)
    assert reply == access_log_pb2.VerifyAccessLogResponse(intact=True, records=7)

    outside.write_text("".join(line + "\n" for line in lines[:-1]))  # the last one lost
    reply = access_log(tactful).VerifyAccessLog(VERIFY, metadata=bearer(COMPLIANCE), timeout=10)
    assert (reply.intact, reply.first_bad_sequence) == (False, 7), reply.problem


def test_verify_warns_of_a_checkpoint_the_database_lacks(
    start_tactful: Callable[..., Tactful],
) -> None:
    """Its line in the file still pins what it signed: intact, with a warning."""
    tactful = start_tactful(checkpoint_every=3)
    for _ in range(7):
        tactful.segments(ADA)
    with sqlite3.connect(tactful.settings.data_dir / "access_log.db") as db:
        db.execute("DELETE FROM checkpoints WHERE id = (SELECT max(id) FROM checkpoints)")
    reply = access_log(tactful).VerifyAccessLog(VERIFY, metadata=bearer(COMPLIANCE), timeout=10)
    assert (reply.intact, reply.records) == (True, 7), reply.problem
    (warning,) = reply.warnings
    assert "in the checkpoint file but not in the database" in warning


def test_only_compliance_may_query_or_verify(tactful: Tactful) -> None:
    stub = access_log(tactful)
    others = [name for name in ROLE if name not in (COMPLIANCE, None)]
    for principal in [*others, None]:
        for call, request in ((stub.QueryAccessLog, QUERY), (stub.VerifyAccessLog, VERIFY)):
            status = call_status(call, request, metadata=metadata(principal))
            wanted = "PERMISSION_DENIED" if principal else "UNAUTHENTICATED"
            assert status == wanted, (principal, call)
    records = query(tactful)
    assert len(records) == 2 * (len(others) + 1)
    assert {r.decision for r in records} == {"denied"}


# -- canary -------------------------------------------------------------------------------

CANARY = "Canary.Person+7f3a@Example.com"


def forbidden_forms(identifier: str) -> list[bytes]:
    """The identifier in any case, and its plain SHA-256 hex (raw and normalized)."""
    forms = {identifier, identifier.strip().casefold()}
    hashes = {hashlib.sha256(f.encode()).hexdigest() for f in forms}
    return sorted({f.lower().encode() for f in forms | hashes})


def leaks_in(paths: list[Path], identifier: str) -> dict[str, list[bytes]]:
    needles = forbidden_forms(identifier)
    found = {p.name: [n for n in needles if n in p.read_bytes().lower()] for p in paths}
    return {name: hits for name, hits in found.items() if hits}


def test_canary_identifier_never_reaches_the_access_log(tactful: Tactful) -> None:
    canary = email(f" {CANARY} ")
    tactful.record(
        "support_triage", *(page_view(canary, T0 - timedelta(seconds=i)) for i in range(5))
    )
    tactful.consent(email(CANARY.upper()), "onboarding")
    assert tactful.segments(email(CANARY.lower())) == ["new_visitor"]
    tactful.signals(canary, "support_triage", "last_error_code")
    for principal in ("analyst", None):  # denied, then unauthenticated, about the canary
        request = P.GetSegmentsRequest(subject=canary, purpose="support_triage")
        call_status(tactful.personalization.GetSegments, request, metadata=metadata(principal))
    call_status(
        subjects_pb2_grpc.SubjectsStub(tactful.channel).ExportSubject,
        subjects_pb2.ExportSubjectRequest(subject=canary),
        metadata=bearer("privacy_ops"),
    )
    about = query(tactful, subject=email(CANARY))
    assert len(about) == 7  # record, consent, segments, signals, denied, anonymous, export
    assert all(r.subject.startswith("hmac-sha256:v1:") for r in about)
    access_log(tactful).VerifyAccessLog(VERIFY, metadata=bearer(COMPLIANCE), timeout=10)

    files = access_log_files(tactful)
    assert {p.name for p in files} == {
        "access_log.db",
        "access_log.db-wal",  # still live: the records are in the WAL
        tactful.settings.checkpoints_path.name,
    }
    assert leaks_in(files, CANARY) == {}
    tactful.stop()  # the WAL is checkpointed into the database; look again
    assert leaks_in(access_log_files(tactful), CANARY) == {}


def test_the_canary_scan_would_find_a_leak(tactful: Tactful) -> None:
    leaky = tactful.settings.data_dir / "leak.txt"
    plain_hash = hashlib.sha256(CANARY.casefold().encode()).hexdigest()
    leaky.write_text(f"subject={CANARY.upper()} sha256={plain_hash.upper()}")
    assert leaks_in([leaky], CANARY) == {"leak.txt": [plain_hash.encode(), CANARY.lower().encode()]}


def test_a_refused_attribute_value_is_not_copied_into_the_access_log(tactful: Tactful) -> None:
    """A client that puts an identifier where an enum value belongs: the error names the
    attribute, and the access log, kept for years, must hold names only."""
    bad = common_pb2.Event(
        subject=email("someone@example.com"),
        type="login_failed",
        occurred_at=timestamp(T0),
        attributes={"reason": common_pb2.AttributeValue(string_value=CANARY)},
    )
    request = P.RecordEventsRequest(purpose="support_triage", events=[bad])
    status = call_status(
        tactful.personalization.RecordEvents, request, metadata=bearer("support_widget")
    )
    assert status == "INVALID_ARGUMENT"
    (record,) = query(tactful)
    assert "events[0].attributes.reason" in record.reason  # where, not what
    assert leaks_in(access_log_files(tactful), CANARY) == {}


# -- failing closed -----------------------------------------------------------------------


def assert_health(tactful: Tactful, status: int) -> None:
    for service in ("", *(f"tactful.v1.{s}" for s in ("Personalization", "AccessLog"))):
        assert health_of(tactful, service) == status, service


@pytest.mark.parametrize(
    "error",
    [
        AccessLogUnavailable("access log write failed: disk I/O error"),
        sqlite3.OperationalError("database or disk is full"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_a_failing_access_log_releases_nothing_and_reports_not_serving(
    tactful: Tactful, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    tactful.record("support_triage", page_view(ADA))
    assert tactful.segments(ADA) == ["new_visitor"]
    kept = len(query(tactful))

    def failing_append(self: SqliteAccessLog, entries: object, *, now_us: int) -> None:
        raise error

    monkeypatch.setattr(SqliteAccessLog, "append", failing_append)
    with pytest.raises(grpc.RpcError) as caught:
        tactful.segments(ADA)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    assert caught.value.details() == UNAVAILABLE_MESSAGE  # and no segment name
    assert_health(tactful, health_pb2.HealthCheckResponse.NOT_SERVING)
    with pytest.raises(grpc.RpcError) as ingest:
        tactful.record("support_triage", page_view(BOB))
    assert ingest.value.code() is grpc.StatusCode.UNAVAILABLE
    assert call_status(access_log(tactful).QueryAccessLog, QUERY, metadata=bearer(COMPLIANCE)) == (
        "UNAVAILABLE"
    )

    monkeypatch.undo()
    assert tactful.segments(ADA) == ["new_visitor"]
    assert_health(tactful, health_pb2.HealthCheckResponse.SERVING)
    records = query(tactful)
    assert len(records) == kept + 2  # the last query and the read after recovery; no more
    reply = access_log(tactful).VerifyAccessLog(VERIFY, metadata=bearer(COMPLIANCE), timeout=10)
    assert reply.intact, reply.problem


def test_a_read_only_access_log_answers_unavailable(tactful: Tactful) -> None:
    """The database refuses writes. `chmod 0400 access_log.db` cannot show this: the
    tests run as root, which ignores file modes (CAP_DAC_OVERRIDE), and the server holds
    the file open already, so a later chmod would not touch its descriptor anyway.
    `PRAGMA query_only` makes SQLite itself refuse writes on the writer's connection."""
    tactful.record("support_triage", page_view(ADA))
    writer = access_log_of(tactful)._db
    writer.execute("PRAGMA query_only=ON")
    try:
        with pytest.raises(grpc.RpcError) as caught:
            tactful.segments(ADA)
        assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
        assert_health(tactful, health_pb2.HealthCheckResponse.NOT_SERVING)
        with pytest.raises(grpc.RpcError) as ingest:
            tactful.record("support_triage", page_view(ADA))
        assert ingest.value.code() is grpc.StatusCode.UNAVAILABLE
    finally:
        writer.execute("PRAGMA query_only=OFF")
    assert tactful.segments(ADA) == ["new_visitor"]
    assert_health(tactful, health_pb2.HealthCheckResponse.SERVING)
    assert [r.method for r in query(tactful)] == [
        "tactful.v1.Personalization/RecordEvents",
        SEGMENTS_METHOD,
    ]


@pytest.mark.parametrize(
    "purpose", ["ada@example.com", "support_triage\x00forged", "Support_Triage", "x" * 65]
)
def test_client_text_in_the_purpose_is_never_copied_into_the_log(
    tactful: Tactful, purpose: str
) -> None:
    request = personalization_pb2.GetSegmentsRequest(
        subject=email("bob@example.com"), purpose=purpose
    )
    status = call_status(
        tactful.personalization.GetSegments, request, metadata=bearer("support_widget")
    )
    assert status == "INVALID_ARGUMENT"  # the log took the record: not UNAVAILABLE
    (record,) = query(tactful, method="tactful.v1.Personalization/GetSegments")
    assert record.purpose == "<not a declared name>"
    assert record.reason == "invalid request: purpose"
    tactful.stop()
    for path in tactful.settings.data_dir.glob("access_log.db*"):
        assert b"ada@example.com" not in path.read_bytes()


def test_writes_are_not_run_while_the_access_log_is_failing(
    tactful: Tactful, monkeypatch: pytest.MonkeyPatch
) -> None:
    tactful.record("support_triage", page_view(ADA))

    def failing_append(self: SqliteAccessLog, entries: object, *, now_us: int) -> None:
        raise AccessLogUnavailable("access log write failed: disk I/O error")

    monkeypatch.setattr(SqliteAccessLog, "append", failing_append)
    with pytest.raises(grpc.RpcError):
        tactful.segments(ADA)  # the log fails: from now on writes wait for it
    with pytest.raises(grpc.RpcError) as paused:
        tactful.record("support_triage", page_view(BOB))
    assert paused.value.code() is grpc.StatusCode.UNAVAILABLE
    monkeypatch.undo()
    with sqlite3.connect(tactful.settings.data_dir / "vault.db") as vault:
        assert vault.execute("SELECT count(*) FROM identities").fetchone()[0] == 1  # no Bob
    # The first write after recovery is still refused (its record is what proves the
    # log works again); the next one runs.
    with pytest.raises(grpc.RpcError) as first:
        tactful.record("support_triage", page_view(BOB))
    assert first.value.details() == UNAVAILABLE_MESSAGE
    assert tactful.record("support_triage", page_view(BOB)).stored == 1
    assert_health(tactful, health_pb2.HealthCheckResponse.SERVING)
