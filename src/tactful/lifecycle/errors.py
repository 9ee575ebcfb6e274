"""Errors of the lifecycle layer (retention, erasure and export, rekeying, vault key
epochs). They know nothing of gRPC; the server maps them.

LifecycleError
 ├── RetentionIncomplete   the retention job stopped before everything expired was gone
 ├── RotationRunning       another process is rotating the vault key (vault_epoch.py)
 ├── KeyringBehind         the vault knows a newer vault key than this keyring (vault_epoch.py)
 └── RequestRefused        a step of a data-subject request is not allowed (request_workflow.py)
"""

from __future__ import annotations


class LifecycleError(Exception):
    """Root of every error raised by `lifecycle`."""


class RetentionIncomplete(LifecycleError):
    """Data past its retention remains; the message names the purposes."""
