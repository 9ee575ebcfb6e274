"""The one mapping from domain errors to gRPC status codes.

Anything not in `STATUS_BY_ERROR` becomes INTERNAL with a generic message, so
no internals leak; the test suite fails if a public domain error is missing.

A status travels in response headers, which gRPC caps (8 KiB by default): past
that the client sees only RESOURCE_EXHAUSTED "Stream removed". So the status is
bounded here, once for every method: at most `MAX_LISTED` field violations or
refused names (then one entry "and N more"), client text inside them shortened
(a quoted value to `MAX_QUOTED_CHARS`), and the whole within `MAX_DETAILS_BYTES`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from tactful.api.decoding import NoSuchMethod
from tactful.app.auth import Unauthenticated
from tactful.journeys.errors import PlaybookError
from tactful.lifecycle.errors import LifecycleError, RetentionIncomplete
from tactful.lifecycle.request_workflow import RequestRefused
from tactful.lifecycle.vault_epoch import KeyringBehind, RotationRunning
from tactful.privacy.access_log import AccessLogBusy, AccessLogUnavailable
from tactful.privacy.errors import (
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
    SchemaMismatch,
    StoreBusy,
    StoreFull,
    StoreUnavailable,
    SubjectSuppressed,
    VaultError,
    Violation,
)
from tactful.privacy.vault import EpochRefused, VaultKeyBehind
from tactful.segments.text_labels import TextNotClassified

log = logging.getLogger("tactful.server")

STATUS_BY_ERROR: dict[type[Exception], grpc.StatusCode] = {
    InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    RoleNotAllowed: grpc.StatusCode.PERMISSION_DENIED,
    PurposeNotClaimable: grpc.StatusCode.PERMISSION_DENIED,
    ReleaseNotAllowed: grpc.StatusCode.PERMISSION_DENIED,
    ConsentRequired: grpc.StatusCode.FAILED_PRECONDITION,
    SubjectSuppressed: grpc.StatusCode.FAILED_PRECONDITION,
    BudgetExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    AccessLogUnavailable: grpc.StatusCode.UNAVAILABLE,
    AccessLogBusy: grpc.StatusCode.UNAVAILABLE,
    # A store that cannot be reached or written now: retryable, nothing was written.
    StoreUnavailable: grpc.StatusCode.UNAVAILABLE,
    NoSuchMethod: grpc.StatusCode.UNIMPLEMENTED,
    StoreBusy: grpc.StatusCode.UNAVAILABLE,
    StoreFull: grpc.StatusCode.UNAVAILABLE,
    # This host's keyring is behind the vault's key epochs: it writes no new person
    # (and reveals nobody sealed under a newer key) until the current keyring is
    # installed. Said to the caller as it is: no identifier in it, and the fix is
    # the operator's.
    VaultKeyBehind: grpc.StatusCode.UNAVAILABLE,
    # A server refuses to start on such a schema; a command that finds one fails.
    SchemaMismatch: grpc.StatusCode.FAILED_PRECONDITION,
    # Raised by the lifecycle jobs (retention, vault key rotation), run from the command
    # line, not over gRPC.
    RetentionIncomplete: grpc.StatusCode.INTERNAL,
    RotationRunning: grpc.StatusCode.INTERNAL,
    KeyringBehind: grpc.StatusCode.INTERNAL,
    RequestRefused: grpc.StatusCode.FAILED_PRECONDITION,  # the console's; never over gRPC
    LifecycleError: grpc.StatusCode.INTERNAL,
    Denied: grpc.StatusCode.PERMISSION_DENIED,
    # A journey whose playbook does not check is not served: the caller's request is
    # well formed, the server is not in a state to answer it (an operator fixes the
    # file). Its own entry: its base, ContractError, says INTERNAL. The message
    # (file paths, the playbook's problems) is not shown to the caller.
    PlaybookError: grpc.StatusCode.FAILED_PRECONDITION,
    # Configuration and storage faults: the caller can do nothing; say little.
    KeyringError: grpc.StatusCode.INTERNAL,
    ContractError: grpc.StatusCode.INTERNAL,
    VaultError: grpc.StatusCode.INTERNAL,
    EpochRefused: grpc.StatusCode.INTERNAL,  # the vault settles it; never reaches here
    # No classifier, or one that failed: a fault of the server's; nothing was stored.
    TextNotClassified: grpc.StatusCode.INTERNAL,
    PrivacyError: grpc.StatusCode.INTERNAL,
}
_SAFE_TO_SHOW = (
    InvalidRequest,
    Unauthenticated,
    Denied,
    BudgetExhausted,
    SubjectSuppressed,
    NoSuchMethod,
    VaultKeyBehind,
)

MAX_LISTED = 20  # field violations, or refused names, listed in one status
MAX_QUOTED_CHARS = 32  # of one quoted client value, or one refused name
MAX_FIELD_CHARS = 96
MAX_DESCRIPTION_CHARS = 160
MAX_MESSAGE_BYTES = 300  # UTF-8; grpc-message percent-encodes what is not ASCII
MAX_DETAILS_BYTES = 3072  # the serialized google.rpc.Status, before base64
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def status_for(error: Exception) -> grpc.Status:
    """The gRPC status (code, message, rich details) to answer `error` with."""
    code = next(
        (STATUS_BY_ERROR[cls] for cls in type(error).__mro__ if cls in STATUS_BY_ERROR),
        grpc.StatusCode.INTERNAL,
    )
    message = str(error) if isinstance(error, _SAFE_TO_SHOW) else "internal error"
    if isinstance(error, InvalidRequest):
        message = _summary(error.violations)
    details = status_pb2.Status(
        code=getattr(code_pb2, code.name), message=_bounded_bytes(message, MAX_MESSAGE_BYTES)
    )
    if isinstance(error, InvalidRequest):
        _attach_violations(details, error.violations)
    if isinstance(error, Denied):
        decision = error.decision
        metadata = {"outcome": str(decision.verdict)}
        if decision.refused:
            metadata["refused"] = ",".join(_listed([_short(n) for n in decision.refused]))
        info = error_details_pb2.ErrorInfo(
            reason=decision.verdict.upper(), domain="tactful", metadata=metadata
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


def _attach_violations(status: status_pb2.Status, violations: Sequence[Violation]) -> None:
    """A BadRequest of the first violations, as many as fit (at most MAX_LISTED), and
    one last entry saying how many more there are."""
    shown = [
        (_bounded(v.field, MAX_FIELD_CHARS), _bounded(v.description, MAX_DESCRIPTION_CHARS))
        for v in violations[:MAX_LISTED]
    ]
    while True:
        more = len(violations) - len(shown)
        entries = [
            error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in shown
        ]
        if more:
            entries.append(
                error_details_pb2.BadRequest.FieldViolation(
                    field="", description=f"and {more} more"
                )
            )
        attempt = status_pb2.Status()
        attempt.CopyFrom(status)
        _attach(attempt, error_details_pb2.BadRequest(field_violations=entries))
        if attempt.ByteSize() <= MAX_DETAILS_BYTES or not shown:
            status.CopyFrom(attempt)
            return
        shown.pop()


def _summary(violations: Sequence[Violation]) -> str:
    """The status message: the first three violations, shortened, and how many more."""
    summary = "; ".join(
        f"{_bounded(v.field, MAX_FIELD_CHARS)}: {_bounded(v.description, MAX_DESCRIPTION_CHARS)}"
        for v in violations[:3]
    )
    more = len(violations) - 3
    return summary + (f" (and {more} more)" if more > 0 else "")


def _listed(items: Sequence[str]) -> list[str]:
    """At most MAX_LISTED items, then "and N more"."""
    more = len(items) - MAX_LISTED
    return [*items[:MAX_LISTED], f"and {more} more"] if more > 0 else list(items)


def _short(value: str, limit: int = MAX_QUOTED_CHARS) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _bounded(text: str, limit: int) -> str:
    """`text` with every quoted (client) value shortened, and at most `limit` characters."""

    def shorten(quoted: re.Match[str]) -> str:
        inner = quoted[0][1:-1]
        mark = quoted[0][0]
        return mark + _short(inner) + mark

    return _short(_QUOTED.sub(shorten, text), limit)


def _bounded_bytes(text: str, limit: int) -> str:
    """`text` shortened (quoted values too) to at most `limit` bytes of UTF-8."""
    text = _bounded(text, limit)
    while len(text.encode()) > limit:
        text = _short(text, len(text) - max(1, (len(text.encode()) - limit) // 4))
    return text


def _attach(status: status_pb2.Status, detail: Any) -> None:
    packed = any_pb2.Any()
    packed.Pack(detail)
    status.details.append(packed)
