"""The compliance API's conversions: filters in, access records out."""

from __future__ import annotations

import base64
import binascii
import re

from google.protobuf.timestamp_pb2 import Timestamp

from tactful.api.convert import timestamp_problem, timestamp_to_us
from tactful.app.stores import AccessLog
from tactful.privacy.access_log import AccessQuery, AccessRecord, Decided
from tactful.privacy.access_log_verify import Truncation
from tactful.privacy.errors import InvalidRequest, Violation
from tactful.privacy.pseudonym import Pseudonymizer
from tactful.timestamps import from_us
from tactful.v1 import access_log_pb2

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


class AccessLogQueries:
    def __init__(self, log: AccessLog, pseudonymizer: Pseudonymizer) -> None:
        self._log = log
        self._pseudonymizer = pseudonymizer

    def query(
        self, request: access_log_pb2.QueryAccessLogRequest
    ) -> access_log_pb2.QueryAccessLogResponse:
        query, after, limit = self._filters(request)
        records = self._log.query(query, after_sequence=after, limit=limit + 1)
        more = len(records) > limit
        records = records[:limit]
        token = _page_token(records[-1].sequence) if more else ""
        return access_log_pb2.QueryAccessLogResponse(
            records=[record_to_proto(r) for r in records], next_page_token=token
        )

    def verify(self) -> access_log_pb2.VerifyAccessLogResponse:
        result = self._log.verify()
        truncated = self._log.truncations() if result.intact else []
        return access_log_pb2.VerifyAccessLogResponse(
            intact=result.intact,
            records=result.records,
            first_bad_sequence=result.first_bad_sequence,
            problem=result.problem,
            truncations=[_truncation_to_proto(t) for t in truncated],
            warnings=result.notices if result.intact else (),
        )

    def _filters(
        self, request: access_log_pb2.QueryAccessLogRequest
    ) -> tuple[AccessQuery, int, int]:
        violations = []
        if request.page_size < 0 or request.page_size > MAX_PAGE_SIZE:
            violations.append(
                Violation("page_size", f"from 0 (default {DEFAULT_PAGE_SIZE}) to {MAX_PAGE_SIZE}")
            )
        if request.decision and request.decision not in set(Decided):
            violations.append(Violation("decision", "allowed, denied, or empty for both"))
        after = 0
        if request.page_token:
            after = _after(request.page_token)
            if after < 0:
                violations.append(Violation("page_token", "not a token this server issued"))
        subjects: tuple[str, ...] = ()
        if request.HasField("subject"):
            try:
                subjects = self._pseudonymizer.resolve(
                    request.subject.namespace, request.subject.id
                )
            except InvalidRequest as exc:
                violations.extend(exc.violations)
        if violations:
            raise InvalidRequest(violations)
        for field in ("since", "until"):
            problem = (
                timestamp_problem(getattr(request, field)) if request.HasField(field) else None
            )
            if problem:
                violations.append(Violation(field, problem))
        if violations:
            raise InvalidRequest(violations)
        query = AccessQuery(
            since_us=timestamp_to_us(request.since) if request.HasField("since") else None,
            until_us=timestamp_to_us(request.until) if request.HasField("until") else None,
            principal=request.principal,
            purpose=request.purpose,
            method=request.method,
            decision=request.decision,
            subjects=subjects,
        )
        return query, after, request.page_size or DEFAULT_PAGE_SIZE


def record_to_proto(record: AccessRecord) -> access_log_pb2.AccessRecord:
    e = record.entry
    time = Timestamp()
    time.FromDatetime(from_us(e.time_us))
    return access_log_pb2.AccessRecord(
        sequence=record.sequence,
        time=time,
        principal=e.principal,
        role=e.role,
        method=e.method,
        purpose=e.purpose,
        subject=e.subjects[0] if e.subjects else "",
        subjects=e.subjects,
        requested=e.requested,
        released=e.released,
        decision=str(e.decision),
        status=e.status,
        reason=e.reason,
        request_id=e.request_id,
        latency_us=e.latency_us,
        previous_hash=record.previous_hash,
        record_hash=record.record_hash,
        request_id_origin=str(e.request_id_origin),
        authenticated_by=e.authenticated_by,
        certificate_sha256=e.certificate_sha256,
    )


def _truncation_to_proto(
    truncation: Truncation,
) -> access_log_pb2.VerifyAccessLogResponse.Truncation:
    at = Timestamp()
    at.FromDatetime(from_us(truncation.time_us))
    return access_log_pb2.VerifyAccessLogResponse.Truncation(
        first_removed=truncation.first_removed,
        last_removed=truncation.last_removed,
        truncated_at=at,
    )


def _page_token(sequence: int) -> str:
    return base64.urlsafe_b64encode(f"after:{sequence}".encode()).decode()


def _after(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return -1
    prefix, _, number = text.partition(":")
    if prefix != "after" or not re.fullmatch(r"[0-9]{1,18}", number):
        return -1
    return int(number)
