"""Errors of the privacy layer. They know nothing of gRPC; the server maps them.

PrivacyError
 ├── KeyringError        keyring missing, unreadable, insecure, malformed
 ├── InvalidRequest      input that breaks a rule; carries field violations
 ├── ContractError       contract file that does not load or check
 ├── VaultError          an identity that cannot be decrypted or stored
 ├── BudgetExhausted     a release would overdraw the principal's privacy budget
 ├── SubjectSuppressed   the person was erased and asked not to be collected again
 ├── StoreUnavailable    a store cannot be read or written now; a retry may succeed
 │    ├── StoreBusy           another writer held a lock longer than the engine waits
 │    └── StoreFull           the disk (or the database's quota) is full
 └── Denied              the decision function said no; carries the decision
      ├── RoleNotAllowed        the principal has no role that may do this
      ├── PurposeNotClaimable   the principal may not claim this purpose
      ├── ConsentRequired       the purpose needs consent the subject has not given
      └── ReleaseNotAllowed     the purpose does not release a requested item
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tactful.privacy.decisions import Decision


class PrivacyError(Exception):
    """Root of every error raised by `privacy`."""


class KeyringError(PrivacyError):
    """The keyring cannot be used: missing, readable by others, malformed, weak key."""


class VaultError(PrivacyError):
    """An identity vault entry cannot be written or read back."""


class StoreUnavailable(PrivacyError):
    """A store cannot be read or written now (connection lost, file unreadable, I/O
    error). Raised by a storage engine in place of its own driver's errors. A write
    whose connection was lost during its commit may or may not have committed (a
    network database cannot say), so only reads are safely retried; no engine repeats
    a write by itself."""


class SchemaMismatch(PrivacyError):
    """The database's tables are at another schema version than this Tactful knows."""


class StoreBusy(StoreUnavailable):
    """Another writer held a lock longer than the engine waits for it."""


class StoreFull(StoreUnavailable):
    """The disk, or the database's quota, is full."""


@dataclass(frozen=True)
class Violation:
    """One broken rule, located by the request field that broke it."""

    field: str
    description: str


class InvalidRequest(PrivacyError):
    """The request breaks one or more rules; nothing was stored."""

    def __init__(self, violations: list[Violation] | tuple[Violation, ...]) -> None:
        self.violations = tuple(violations)
        summary = "; ".join(f"{v.field}: {v.description}" for v in self.violations[:3])
        more = len(self.violations) - 3
        super().__init__(summary + (f" (and {more} more)" if more > 0 else ""))


class ContractError(PrivacyError):
    """The contract file is invalid; `problems` lists every problem found."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = tuple(problems)
        super().__init__(f"{path}: " + "; ".join(problems))


class BudgetExhausted(PrivacyError):
    """The release would take the principal past its privacy budget (one budget
    across purposes); nothing was debited or released."""

    def __init__(self, spent: float, remaining: float, *, requested: float) -> None:
        self.spent = spent
        self.remaining = remaining
        self.requested = requested
        super().__init__(
            f"privacy budget exhausted: this release asks for epsilon {requested};"
            f" epsilon spent {spent}, epsilon remaining {remaining}"
        )


class SubjectSuppressed(PrivacyError):
    """The person was erased with suppression: nothing about them is recorded again,
    consent included; nothing was stored."""


class Denied(PrivacyError):
    """A request the contract or the principal's roles do not allow."""

    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        super().__init__(decision.reason)


class RoleNotAllowed(Denied):
    """The principal has none of the roles the action needs."""


class PurposeNotClaimable(Denied):
    """The contract or the principal's configuration does not allow this purpose."""


class ConsentRequired(Denied):
    """The purpose rests on consent, and the subject has not granted it."""


class ReleaseNotAllowed(Denied):
    """A requested item is not released by the purpose; nothing was released."""
