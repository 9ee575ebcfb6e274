"""Errors of the journeys layer. They know nothing of gRPC; the server maps them.

ContractError (privacy)
 └── PlaybookError     a playbook file that does not load or check
"""

from __future__ import annotations

from tactful.privacy.errors import ContractError


class PlaybookError(ContractError):
    """The playbook file is invalid; `problems` lists every problem found, each named
    by its place in the file (``actions.retry_payment.eligibility.signal``).

    A playbook is part of what the contract declares, so it is a contract error: a
    server never serves a journey whose playbook does not check."""
