"""A RecordEvents batch whose events commit while the access log fails is answered
UNAVAILABLE, and its call still gets its one access record: the recovery writes it
once the log works again, saying so. So does every other write: a consent change, an
erasure (its tombstone and ticket), a release of segment sizes (its budget debit). A
call recorded as usual gets no second one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from tactful.privacy.access_log import AccessEntry, AccessLogUnavailable, AccessRecord
from tactful.privacy.pending_records import RECOVERED_REASON
from tactful.storage.sqlite import BEHAVIOR, INSIGHTS, path_of
from tactful.storage.sqlite.access_log import SqliteAccessLog
from tactful.v1 import (
    access_log_pb2,
    access_log_pb2_grpc,
    insights_pb2,
    insights_pb2_grpc,
    personalization_pb2,
    subjects_pb2,
    subjects_pb2_grpc,
)
from tests.conftest import (
    DEFAULT_PURPOSE,
    T0,
    Tactful,
    bearer,
    email,
    eventually,
    page_view,
)
from tests.lifecycle.test_subject_requests import config_for, run

RECORD_EVENTS = "tactful.v1.Personalization/RecordEvents"
SET_CONSENT = "tactful.v1.Personalization/SetConsent"
ERASE_SUBJECT = "tactful.v1.Subjects/EraseSubject"
GET_SEGMENT_SIZES = "tactful.v1.Insights/GetSegmentSizes"
GET_SCORECARD = "tactful.v1.Insights/GetScorecard"
CLI_ERASE = "tactful.cli/subjects.erase"
WRITES = (RECORD_EVENTS, SET_CONSENT, ERASE_SUBJECT, GET_SEGMENT_SIZES, GET_SCORECARD, CLI_ERASE)
TIMEOUT_MS = 100  # the recovery's grace: ten of them, 1 s


def _record_events(tactful: Tactful, who: str, request_id: str) -> grpc.StatusCode:
    request = personalization_pb2.RecordEventsRequest(
        purpose=DEFAULT_PURPOSE, events=[page_view(email(who), T0 - timedelta(seconds=1))]
    )
    metadata = (*bearer("support_widget"), ("x-request-id", request_id))
    try:
        tactful.personalization.RecordEvents(request, metadata=metadata, timeout=10)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def _set_consent(tactful: Tactful, who: str, request_id: str) -> grpc.StatusCode:
    request = personalization_pb2.SetConsentRequest(
        subject=email(who), purpose="onboarding", granted=True, source="tests/banner"
    )
    metadata = (*bearer("web_frontend"), ("x-request-id", request_id))
    try:
        tactful.personalization.SetConsent(request, metadata=metadata, timeout=10)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def _erase(tactful: Tactful, who: str, request_id: str) -> grpc.StatusCode:
    request = subjects_pb2.EraseSubjectRequest(subject=email(who), suppress=True)
    metadata = (*bearer("privacy_ops"), ("x-request-id", request_id))
    try:
        subjects_pb2_grpc.SubjectsStub(tactful.channel).EraseSubject(
            request, metadata=metadata, timeout=10
        )
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def _sizes(tactful: Tactful, request_id: str) -> grpc.StatusCode:
    request = insights_pb2.GetSegmentSizesRequest(purpose="analytics", epsilon=0.1)
    metadata = (*bearer("analyst"), ("x-request-id", request_id))
    try:
        insights_pb2_grpc.InsightsStub(tactful.channel).GetSegmentSizes(
            request, metadata=metadata, timeout=10
        )
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def _scorecard(tactful: Tactful, request_id: str) -> grpc.StatusCode:
    request = insights_pb2.GetScorecardRequest(journey="support_triage", epsilon=0.1)
    metadata = (*bearer("analyst"), ("x-request-id", request_id))
    try:
        insights_pb2_grpc.InsightsStub(tactful.channel).GetScorecard(
            request, metadata=metadata, timeout=10
        )
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def _records(tactful: Tactful, method: str = RECORD_EVENTS) -> list[access_log_pb2.AccessRecord]:
    stub = access_log_pb2_grpc.AccessLogStub(tactful.channel)
    request = access_log_pb2.QueryAccessLogRequest(page_size=1000, method=method)
    reply = stub.QueryAccessLog(request, metadata=bearer("compliance_officer"), timeout=10)
    return list(reply.records)


def _pending(tactful: Tactful, file: str = BEHAVIOR) -> int:
    import sqlite3

    conn = sqlite3.connect(path_of(tactful.settings.data_dir, file))
    try:
        return int(conn.execute("SELECT count(*) FROM pending_records").fetchone()[0])
    finally:
        conn.close()


@pytest.fixture
def failing_log(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """While its one flag is set, the access log refuses the records of the calls that
    write (as a full disk would), after their data has committed."""
    failing = [False]
    append: Callable[..., list[AccessRecord]] = SqliteAccessLog.append

    def refusing(self: SqliteAccessLog, entries: Sequence[AccessEntry], **kw: Any) -> Any:
        if failing[0] and any(e.method in WRITES for e in entries):
            raise AccessLogUnavailable("disk full")
        return append(self, entries, **kw)

    monkeypatch.setattr(SqliteAccessLog, "append", refusing)
    return failing


def test_a_batch_stored_while_the_log_fails_is_recorded_once_it_works(
    start_tactful: Callable[..., Tactful], failing_log: list[bool]
) -> None:
    tactful = start_tactful(record_timeout_ms=TIMEOUT_MS)
    failing_log[0] = True
    assert _record_events(tactful, "ada@example.com", "owed-1") is grpc.StatusCode.UNAVAILABLE
    failing_log[0] = False
    tactful.clock.advance(timedelta(seconds=5))  # the pending record is past the grace
    eventually(lambda: any(r.request_id == "owed-1" for r in _records(tactful)))
    [record] = [r for r in _records(tactful) if r.request_id == "owed-1"]
    assert (record.decision, record.status, record.reason) == (
        "allowed",
        "UNAVAILABLE",
        RECOVERED_REASON,
    )
    assert record.principal == "support_widget"
    assert record.purpose == DEFAULT_PURPOSE
    assert len(record.subjects) == 1  # ada's pseudonym, as the call's own record would
    eventually(lambda: _pending(tactful) == 0)


def test_a_consent_change_stored_while_the_log_fails_is_recorded_once_it_works(
    start_tactful: Callable[..., Tactful], failing_log: list[bool]
) -> None:
    tactful = start_tactful(record_timeout_ms=TIMEOUT_MS)
    failing_log[0] = True
    assert _set_consent(tactful, "ada@example.com", "owed-2") is grpc.StatusCode.UNAVAILABLE
    failing_log[0] = False
    tactful.clock.advance(timedelta(seconds=5))
    eventually(lambda: any(r.request_id == "owed-2" for r in _records(tactful, SET_CONSENT)))
    [record] = [r for r in _records(tactful, SET_CONSENT) if r.request_id == "owed-2"]
    assert (record.principal, record.purpose, record.reason) == (
        "web_frontend",
        "onboarding",
        RECOVERED_REASON,
    )
    assert len(record.subjects) == 1


def test_an_erasure_begun_while_the_log_fails_is_recorded_once_it_works(
    start_tactful: Callable[..., Tactful], failing_log: list[bool]
) -> None:
    tactful = start_tactful(record_timeout_ms=TIMEOUT_MS)
    failing_log[0] = True
    assert _erase(tactful, "ada@example.com", "owed-3") is grpc.StatusCode.UNAVAILABLE
    failing_log[0] = False
    tactful.clock.advance(timedelta(seconds=5))
    eventually(lambda: any(r.request_id == "owed-3" for r in _records(tactful, ERASE_SUBJECT)))
    [record] = [r for r in _records(tactful, ERASE_SUBJECT) if r.request_id == "owed-3"]
    assert (record.principal, record.decision, record.reason) == (
        "privacy_ops",
        "allowed",
        RECOVERED_REASON,
    )
    assert len(record.subjects) == 1  # ada's pseudonym, as the call's own record would
    eventually(lambda: _pending(tactful) == 0)


def test_a_release_paid_for_while_the_log_fails_is_recorded_once_it_works(
    start_tactful: Callable[..., Tactful], failing_log: list[bool]
) -> None:
    tactful = start_tactful(record_timeout_ms=TIMEOUT_MS)
    failing_log[0] = True
    assert _sizes(tactful, "owed-4") is grpc.StatusCode.UNAVAILABLE  # and debited
    failing_log[0] = False
    tactful.clock.advance(timedelta(seconds=5))
    eventually(lambda: any(r.request_id == "owed-4" for r in _records(tactful, GET_SEGMENT_SIZES)))
    [record] = [r for r in _records(tactful, GET_SEGMENT_SIZES) if r.request_id == "owed-4"]
    assert (record.principal, record.purpose, record.decision, record.reason) == (
        "analyst",
        "analytics",
        "allowed",
        RECOVERED_REASON,
    )
    eventually(lambda: _pending(tactful, INSIGHTS) == 0)


def test_a_scorecard_paid_for_while_the_log_fails_is_recorded_once_it_works(
    start_tactful: Callable[..., Tactful], failing_log: list[bool]
) -> None:
    tactful = start_tactful(record_timeout_ms=TIMEOUT_MS)
    failing_log[0] = True
    assert _scorecard(tactful, "owed-5") is grpc.StatusCode.UNAVAILABLE  # and debited
    failing_log[0] = False
    tactful.clock.advance(timedelta(seconds=5))
    eventually(lambda: any(r.request_id == "owed-5" for r in _records(tactful, GET_SCORECARD)))
    [record] = [r for r in _records(tactful, GET_SCORECARD) if r.request_id == "owed-5"]
    assert (record.principal, record.purpose, record.decision, record.reason) == (
        "analyst",
        "support_triage",
        "allowed",
        RECOVERED_REASON,
    )
    assert list(record.requested) == ["journey:support_triage"]
    eventually(lambda: _pending(tactful, INSIGHTS) == 0)


def test_an_erasure_from_the_command_line_is_recorded_by_a_server_if_its_receipt_fails(
    start_tactful: Callable[..., Tactful],
    failing_log: list[bool],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tactful = start_tactful(record_timeout_ms=TIMEOUT_MS)
    tactful.stop()
    config = str(config_for(tactful, tmp_path))
    failing_log[0] = True
    subject = ("--namespace", "email", "--id", "ada@example.com", "--suppress")
    code, _, err = run(capsys, "subjects", "erase", "--config", config, *subject)
    assert code != 0 and "could not be recorded" in err
    failing_log[0] = False
    tactful.clock.now = datetime.now(UTC) + timedelta(seconds=5)  # the command's time
    tactful.restart()
    eventually(lambda: len(_records(tactful, CLI_ERASE)) == 1)
    [record] = _records(tactful, CLI_ERASE)
    assert (record.principal.startswith("cli:"), record.reason) == (True, RECOVERED_REASON)
    assert len(record.subjects) == 1
    eventually(lambda: _pending(tactful) == 0)


def test_erasures_and_releases_recorded_as_usual_get_no_second_record(
    start_tactful: Callable[..., Tactful],
) -> None:
    tactful = start_tactful(record_timeout_ms=TIMEOUT_MS)
    for n in range(3):
        assert _erase(tactful, f"p{n}@example.com", f"erase-{n}") is grpc.StatusCode.OK
        assert _sizes(tactful, f"sizes-{n}") is grpc.StatusCode.OK
    tactful.clock.advance(timedelta(seconds=5))
    eventually(lambda: _pending(tactful) == 0 and _pending(tactful, INSIGHTS) == 0)
    tactful.restart()
    for method, prefix in ((ERASE_SUBJECT, "erase"), (GET_SEGMENT_SIZES, "sizes")):
        records = _records(tactful, method)
        assert sorted(r.request_id for r in records) == [f"{prefix}-{n}" for n in range(3)]
        assert all(r.reason != RECOVERED_REASON for r in records)


def test_a_call_recorded_as_usual_gets_no_second_record(
    start_tactful: Callable[..., Tactful],
) -> None:
    tactful = start_tactful(record_timeout_ms=TIMEOUT_MS)
    for n in range(5):
        assert _record_events(tactful, f"p{n}@example.com", f"usual-{n}") is grpc.StatusCode.OK
    tactful.clock.advance(timedelta(seconds=5))
    eventually(lambda: _pending(tactful) == 0)  # dropped, not recovered
    tactful.restart()  # and the recovery at start adds none either
    ids = [r.request_id for r in _records(tactful)]
    assert sorted(ids) == [f"usual-{n}" for n in range(5)]
    assert all(r.reason != RECOVERED_REASON for r in _records(tactful))
