"""Errors of the privacy layer. They know nothing of gRPC; the server maps them.

PrivacyError
 ├── KeyringError        keyring missing, unreadable, insecure, malformed
 ├── InvalidRequest      input that breaks a rule; carries field violations
 ├── ContractError       contract file that does not load or check
 └── VaultError          an identity that cannot be decrypted or stored
"""

from __future__ import annotations

from dataclasses import dataclass


class PrivacyError(Exception):
    """Root of every error raised by `privacy`."""


class KeyringError(PrivacyError):
    """The keyring cannot be used: missing, readable by others, malformed, weak key."""


class VaultError(PrivacyError):
    """An identity vault entry cannot be written or read back."""


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
