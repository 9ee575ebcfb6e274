"""Errors of the retention layer. They know nothing of gRPC; the server maps them.

RetentionError
 └── RetentionIncomplete   the job stopped before everything expired was gone
"""

from __future__ import annotations


class RetentionError(Exception):
    """Root of every error raised by `retention`."""


class RetentionIncomplete(RetentionError):
    """Data past its retention remains; the message names the purposes."""
