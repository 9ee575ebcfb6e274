"""What is known of a call once its access record is written, and who is told.

The edge hands one `CallOutcome` per call to one observer, after the record is
written (or found unwritable). The log line, the metrics and the trace span all
come from it, so they agree with each other and with the access log. An outcome
holds names (method, principal, purpose, status), never a subject, a token or an
attribute value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tactful.privacy.access_log import AccessEntry, Decided

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

    @classmethod
    def of(cls, entry: AccessEntry, recorded: bool, elapsed_ns: int) -> CallOutcome:
        """The outcome of the call `entry` records; unrecorded, it failed UNAVAILABLE."""
        return cls(
            time_us=entry.time_us,
            method=entry.method,
            principal=entry.principal,
            purpose=entry.purpose,
            code=entry.status if recorded else "UNAVAILABLE",
            decision=entry.decision.value if recorded else Decided.DENIED.value,
            request_id=entry.request_id,
            latency_s=elapsed_ns / 1e9,
        )


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
