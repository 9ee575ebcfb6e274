"""The one decision: may this principal do this, for this purpose, and what leaves?

Every servicer asks `decide`; the access log records its result. Inputs are
plain values: the contract, who is asking (`Actor`), what they want to do
(`Action`), the purpose claimed, the names of the items requested and, for a
purpose whose legal basis is consent, whether the subject has granted it.

Checks, in order, each denying with its own `Verdict`:
role may perform the action · purpose is declared · principal may claim it
(both the contract and the principal's own configuration must say so) ·
consent is granted (consent purposes, reads) · every requested item is released
(signals; segments and handoff signals release the allowed part, withhold the rest).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from tactful.privacy.contract import Contract, LegalBasis, Purpose
from tactful.privacy.errors import (
    ConsentRequired,
    Denied,
    InvalidRequest,
    PurposeNotClaimable,
    ReleaseNotAllowed,
    RoleNotAllowed,
    Violation,
)
from tactful.privacy.suggestions import did_you_mean


class Role(StrEnum):
    FRONTEND = "frontend"
    AGENT = "agent"
    COMPLIANCE = "compliance"
    ANALYST = "analyst"
    PRIVACY_OPS = "privacy_ops"
    ADMIN = "admin"


class Action(StrEnum):
    COLLECT = "collect"
    SET_CONSENT = "set_consent"
    READ_SEGMENTS = "read_segments"
    READ_SIGNALS = "read_signals"
    READ_HANDOFF = "read_handoff"
    DECIDE_JOURNEY = "decide_journey"  # NextAction: the next step of a journey
    RECORD_OUTCOME = "record_outcome"  # RecordOutcome: what happened after a decision
    READ_AGGREGATES = "read_aggregates"
    READ_SCORECARD = "read_scorecard"  # GetScorecard: a journey's DP scorecard
    QUERY_ACCESS_LOG = "query_access_log"
    VERIFY_ACCESS_LOG = "verify_access_log"
    EXPORT_SUBJECT = "export_subject"
    ERASE_SUBJECT = "erase_subject"


# Least privilege: `admin` runs the service (CLI, tokens) and reads no personal data.
ROLES_FOR_ACTION: Mapping[Action, frozenset[Role]] = {
    Action.COLLECT: frozenset({Role.FRONTEND, Role.AGENT}),
    Action.SET_CONSENT: frozenset({Role.FRONTEND}),
    Action.READ_SEGMENTS: frozenset({Role.FRONTEND, Role.AGENT}),
    Action.READ_SIGNALS: frozenset({Role.FRONTEND, Role.AGENT}),
    Action.READ_HANDOFF: frozenset({Role.AGENT}),
    Action.DECIDE_JOURNEY: frozenset({Role.FRONTEND, Role.AGENT}),
    Action.RECORD_OUTCOME: frozenset({Role.FRONTEND, Role.AGENT}),
    Action.READ_AGGREGATES: frozenset({Role.ANALYST}),
    Action.READ_SCORECARD: frozenset({Role.ANALYST, Role.COMPLIANCE}),
    Action.QUERY_ACCESS_LOG: frozenset({Role.COMPLIANCE}),
    Action.VERIFY_ACCESS_LOG: frozenset({Role.COMPLIANCE}),
    Action.EXPORT_SUBJECT: frozenset({Role.PRIVACY_OPS}),
    Action.ERASE_SUBJECT: frozenset({Role.PRIVACY_OPS}),
}

PURPOSE_BEARING = frozenset(
    {
        Action.COLLECT,
        Action.SET_CONSENT,
        Action.READ_SEGMENTS,
        Action.READ_SIGNALS,
        Action.READ_HANDOFF,
        Action.DECIDE_JOURNEY,
        Action.RECORD_OUTCOME,
        Action.READ_AGGREGATES,
    }
)
# An outcome is behaviour data about the person under the journey's purpose: kept only
# while the purpose may use it, as the decision it follows was made.
_CONSENT_GATED = frozenset(
    {
        Action.READ_SEGMENTS,
        Action.READ_SIGNALS,
        Action.READ_HANDOFF,
        Action.DECIDE_JOURNEY,
        Action.RECORD_OUTCOME,
    }
)


class Verdict(StrEnum):
    """What `decide` concluded: allowed, or the first check that denied. The values are
    on the wire (ErrorInfo reason and metadata["outcome"]); never change them."""

    ALLOWED = "allowed"
    ROLE_NOT_ALLOWED = "role_not_allowed"
    PURPOSE_UNKNOWN = "purpose_unknown"
    PURPOSE_NOT_CLAIMABLE = "purpose_not_claimable"
    CONSENT_REQUIRED = "consent_required"
    ITEMS_NOT_RELEASED = "items_not_released"


@dataclass(frozen=True)
class Actor:
    """Who is asking: a principal's name, roles and the purposes it may claim."""

    name: str
    roles: frozenset[str]
    purposes: frozenset[str]


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str
    role: str  # the role the action was allowed under, or "" if none
    requested: tuple[str, ...] = ()
    released: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()  # requested items the purpose does not release (or withholds)

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.ALLOWED


def decide(
    contract: Contract,
    actor: Actor,
    action: Action,
    purpose: str = "",
    requested: Iterable[str] = (),
    *,
    consent_granted: bool = False,
) -> Decision:
    """Decide one request. Pure: same inputs, same decision."""
    items = tuple(sorted(set(requested)))
    roles = sorted(ROLES_FOR_ACTION[action] & actor.roles)
    if not roles:
        needed = ", ".join(sorted(ROLES_FOR_ACTION[action]))
        return Decision(
            Verdict.ROLE_NOT_ALLOWED,
            f"{action} needs role {needed}; {actor.name} has none of them",
            "",
            items,
        )
    role = roles[0]
    if action not in PURPOSE_BEARING:
        return Decision(Verdict.ALLOWED, f"role {role} may {action}", role, items, items)
    found = contract.purposes.get(purpose)
    if found is None:
        return Decision(Verdict.PURPOSE_UNKNOWN, undeclared(contract, actor, purpose), role, items)
    if actor.name not in found.principals or purpose not in actor.purposes:
        return Decision(
            Verdict.PURPOSE_NOT_CLAIMABLE,
            f"{actor.name} may not claim purpose {purpose}",
            role,
            items,
        )
    if action in _CONSENT_GATED and found.legal_basis is LegalBasis.CONSENT and not consent_granted:
        return Decision(
            Verdict.CONSENT_REQUIRED,
            f"purpose {purpose} needs the subject's consent; none is granted",
            role,
            items,
        )
    return _release(found, action, role, items)


def _release(purpose: Purpose, action: Action, role: str, items: tuple[str, ...]) -> Decision:
    releasable = {
        Action.READ_SEGMENTS: purpose.releases_segments,
        Action.READ_SIGNALS: purpose.releases_signals,
        Action.READ_HANDOFF: purpose.releases_signals,
    }.get(action)
    if releasable is None:
        return Decision(
            Verdict.ALLOWED, f"purpose {purpose.name} allows {action}", role, items, items
        )
    if action is Action.READ_SEGMENTS:
        # Segments are what the subject is in: release the allowed part, never the rest.
        released = tuple(i for i in items if i in releasable)
        return Decision(
            Verdict.ALLOWED,
            f"purpose {purpose.name} releases these segments",
            role,
            items,
            released,
        )
    if action is Action.READ_HANDOFF:
        # A handoff shows the agent what it may see and withholds the rest.
        released = tuple(i for i in items if i in releasable)
        withheld = tuple(i for i in items if i not in releasable)
        return Decision(
            Verdict.ALLOWED,
            f"purpose {purpose.name} releases these handoff signals",
            role,
            items,
            released,
            withheld,
        )
    refused = tuple(i for i in items if i not in releasable)
    if refused:
        return Decision(
            Verdict.ITEMS_NOT_RELEASED,
            f"purpose {purpose.name} does not release {', '.join(refused)}",
            role,
            items,
            (),
            refused,
        )
    return Decision(
        Verdict.ALLOWED, f"purpose {purpose.name} releases these signals", role, items, items
    )


_DENIALS: Mapping[Verdict, type[Denied]] = {
    Verdict.ROLE_NOT_ALLOWED: RoleNotAllowed,
    Verdict.PURPOSE_NOT_CLAIMABLE: PurposeNotClaimable,
    Verdict.CONSENT_REQUIRED: ConsentRequired,
    Verdict.ITEMS_NOT_RELEASED: ReleaseNotAllowed,
}


def undeclared(contract: Contract, actor: Actor, purpose: str) -> str:
    """Why `purpose`, which the contract does not declare, is refused; with the purpose
    meant, suggested only among those `actor` may claim (nothing about what other
    principals do)."""
    claimable = [p for p in actor.purposes if p in contract.purposes]
    return f"purpose {purpose!r} is not declared" + did_you_mean(purpose, claimable)


def enforce(decision: Decision) -> Decision:
    """Return an allowing decision; raise the matching error for any other."""
    if decision.allowed:
        return decision
    if decision.verdict is Verdict.PURPOSE_UNKNOWN:
        raise InvalidRequest([Violation("purpose", decision.reason)])
    raise _DENIALS[decision.verdict](decision)
