"""What is known of a call once its access record is written, and who is told.

The edge hands one `CallOutcome` per call to one observer, after the record is
written (or found unwritable). The log line, the metrics and the trace span all
come from it, so they agree with each other and with the access log. An outcome
holds names (method, principal, purpose, status), never a subject, a token or an
attribute value.

A denied call's outcome says why in a short code (`reason_code`): the contract's
verdict (`purpose_not_claimable`, `consent_required`, ...) or the kind of failure
(`invalid_request`, `unauthenticated`, ...), never a value, an identifier or a token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tactful.api.decoding import NoSuchMethod
from tactful.app.auth import Unauthenticated
from tactful.privacy.access_log import AccessEntry, AccessLogUnavailable, Decided
from tactful.privacy.errors import (
    BudgetExhausted,
    Denied,
    InvalidRequest,
    StoreUnavailable,
    SubjectSuppressed,
)

log = logging.getLogger("tactful.server")


@dataclass(frozen=True)
class CallOutcome:
    time_us: int  # when the call started, by the server's clock
    method: str
    principal: str
    purpose: str  # as the access log keeps it: a contract name or a placeholder
    code: str  # the gRPC status code's name
    decision: str  # "allowed" or "denied"
    request_id: str
    latency_s: float  # from arrival to the record written
    reason: str = ""  # a denied call's reason code (`reason_code`); "" when allowed
    # The call's trace context as it came (traceparent, tracestate, baggage), only when
    # tracing is on: the span continues the caller's trace.
    trace_carrier: tuple[tuple[str, str], ...] = ()
    # Refused by the failure limiter and counted into a summary record instead of one
    # of its own: counted and traced, but not logged line by line (a flood would flood
    # the log).
    summarized: bool = False

    @classmethod
    def of(
        cls,
        entry: AccessEntry,
        recorded: bool,
        elapsed_ns: int,
        *,
        error: Exception | None = None,
        trace_carrier: tuple[tuple[str, str], ...] = (),
        summarized: bool = False,
    ) -> CallOutcome:
        """The outcome of the call `entry` records, which failed with `error` if any;
        unrecorded, it failed UNAVAILABLE."""
        denied = not recorded or entry.decision is Decided.DENIED
        return cls(
            time_us=entry.time_us,
            method=entry.method,
            principal=entry.principal,
            purpose=entry.purpose,
            code=entry.status if recorded else "UNAVAILABLE",
            decision=entry.decision.value if recorded else Decided.DENIED.value,
            request_id=entry.request_id,
            latency_s=elapsed_ns / 1e9,
            reason=""
            if not denied
            else "rate_limited"
            if summarized
            else reason_code(error if recorded else AccessLogUnavailable(), entry.status),
            trace_carrier=trace_carrier,
            summarized=summarized,
        )


# The kinds of failure with a code of their own; a denial carries its verdict instead.
_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (InvalidRequest, "invalid_request"),
    (Unauthenticated, "unauthenticated"),
    (BudgetExhausted, "privacy_budget_exhausted"),
    (SubjectSuppressed, "subject_suppressed"),
    (NoSuchMethod, "unimplemented_method"),
    (AccessLogUnavailable, "access_log_unavailable"),
    (StoreUnavailable, "store_unavailable"),
)


def reason_code(error: Exception | None, status: str) -> str:
    """Why a call was denied, as a short code: the contract's verdict for a denial,
    the kind of failure, else the status code in lower case (`internal`).

    >>> reason_code(InvalidRequest([]), "INVALID_ARGUMENT")
    'invalid_request'
    >>> reason_code(None, "RESOURCE_EXHAUSTED")
    'resource_exhausted'
    """
    if isinstance(error, Denied):
        return error.decision.verdict.value
    for kind, code in _REASONS:
        if isinstance(error, kind):
            return code
    return status.lower()


Observer = Callable[[CallOutcome], None]


def ignore(_outcome: CallOutcome) -> None:
    """The default observer: nothing is told."""


def fan_out(observers: Sequence[Observer]) -> Observer:
    """One observer that tells each of `observers`; one that fails is logged, never
    the caller's problem (the call's record is already written)."""
    if not observers:
        return ignore
    if len(observers) == 1:
        (only,) = observers
        return _guarded(only)

    guarded = [_guarded(o) for o in observers]

    def tell(outcome: CallOutcome) -> None:
        for observer in guarded:
            observer(outcome)

    return tell


def _guarded(observer: Observer) -> Observer:
    def tell(outcome: CallOutcome) -> None:
        try:
            observer(outcome)
        except Exception:
            log.exception("observing a call failed")

    return tell
