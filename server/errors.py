"""The one mapping from domain errors to gRPC status codes.

Anything not in `STATUS_BY_ERROR` becomes INTERNAL with a generic message, so
no internals leak; the test suite fails if a public domain error is missing.
"""

from __future__ import annotations

import logging
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from privacy.access_log import AccessLogUnavailable
from privacy.errors import (
    BudgetExhausted,
    ConsentRequired,
    ContractError,
    Denied,
    InvalidRequest,
    KeyringError,
    PrivacyError,
    PurposeNotClaimable,
    ReleaseNotAllowed,
    RoleNotAllowed,
    VaultError,
)
from retention.errors import RetentionError, RetentionIncomplete
from server.auth import Unauthenticated

log = logging.getLogger("tactful.server")

STATUS_BY_ERROR: dict[type[Exception], grpc.StatusCode] = {
    InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    RoleNotAllowed: grpc.StatusCode.PERMISSION_DENIED,
    PurposeNotClaimable: grpc.StatusCode.PERMISSION_DENIED,
    ReleaseNotAllowed: grpc.StatusCode.PERMISSION_DENIED,
    ConsentRequired: grpc.StatusCode.FAILED_PRECONDITION,
    BudgetExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    AccessLogUnavailable: grpc.StatusCode.UNAVAILABLE,
    # Raised by the retention job, which runs from the command line, not over gRPC.
    RetentionIncomplete: grpc.StatusCode.INTERNAL,
    RetentionError: grpc.StatusCode.INTERNAL,
    Denied: grpc.StatusCode.PERMISSION_DENIED,
    # Configuration and storage faults: the caller can do nothing; say little.
    KeyringError: grpc.StatusCode.INTERNAL,
    ContractError: grpc.StatusCode.INTERNAL,
    VaultError: grpc.StatusCode.INTERNAL,
    PrivacyError: grpc.StatusCode.INTERNAL,
}
_SAFE_TO_SHOW = (InvalidRequest, Unauthenticated, Denied, BudgetExhausted)


def status_for(error: Exception) -> grpc.Status:
    """The gRPC status (code, message, rich details) to answer `error` with."""
    code = next(
        (STATUS_BY_ERROR[cls] for cls in type(error).__mro__ if cls in STATUS_BY_ERROR),
        grpc.StatusCode.INTERNAL,
    )
    message = str(error) if isinstance(error, _SAFE_TO_SHOW) else "internal error"
    details = status_pb2.Status(code=getattr(code_pb2, code.name), message=message)
    if isinstance(error, InvalidRequest):
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in error.violations
            ]
        )
        _attach(details, bad_request)
    if isinstance(error, Denied):
        decision = error.decision
        metadata = {"outcome": str(decision.outcome)}
        if decision.refused:
            metadata["refused"] = ",".join(decision.refused)
        info = error_details_pb2.ErrorInfo(
            reason=decision.outcome.upper(), domain="tactful", metadata=metadata
        )
        _attach(details, info)
    if isinstance(error, BudgetExhausted):
        budget = {
            "epsilon_spent": str(error.spent),
            "epsilon_remaining": str(error.remaining),
            "epsilon_requested": str(error.requested),
        }
        _attach(
            details,
            error_details_pb2.ErrorInfo(
                reason="PRIVACY_BUDGET_EXHAUSTED", domain="tactful", metadata=budget
            ),
        )
    return rpc_status.to_status(details)


def _attach(status: status_pb2.Status, detail: Any) -> None:
    packed = any_pb2.Any()
    packed.Pack(detail)
    status.details.append(packed)
