"""The access record every `tactful` command leaves when it reads personal data or
changes keys, tokens or the access log: one scheme for all of them.

The principal is `cli:<operating-system user>` (authority on the server's machine
comes from file access), the method `tactful.cli/<group>.<action>`. A command that
reads writes its record before it releases anything; a command that changes
something writes it right after the change. A record that cannot be written fails
the command (`NotRecorded`).

It lives in app/, not cli/, because the server's vault-key schedule
(app/vault_rotation.py) leaves the same records as `tactful keys rotate-vault`.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Protocol

from tactful.app import stores
from tactful.app.settings import Settings
from tactful.privacy.access_log import AccessEntry, AccessLogUnavailable, AccessRecord, Decided
from tactful.privacy.errors import StoreUnavailable
from tactful.privacy.keyring import load_keyring
from tactful.timestamps import to_us


class NotRecorded(Exception):
    """The command's access record could not be written; the command fails."""


class ReceiptLog(Protocol):
    def append(self, entries: list[AccessEntry], *, now_us: int) -> list[AccessRecord]: ...

    def checkpoint(self, *, now_us: int) -> object: ...


def operator() -> str:
    """The principal of a command run on the server's machine."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name (a container without a passwd entry)
        user = f"uid{os.getuid()}"
    return f"cli:{user}"


def method(group: str, action: str) -> str:
    return f"tactful.cli/{group}.{action}"


def receipt(
    group: str,
    action: str,
    *,
    role: str,
    now: datetime,
    subject: str = "",
    reason: str = "",
    request_id: str = "",
) -> AccessEntry:
    """The command's access record (`record` writes it); a new request id unless given."""
    return AccessEntry(
        time_us=to_us(now),
        principal=operator(),
        role=role,
        method=method(group, action),
        purpose="",
        subjects=(subject,) if subject else (),
        requested=(),
        released=(),
        decision=Decided.ALLOWED,
        status="OK",
        reason=reason,
        request_id=request_id or uuid.uuid4().hex,
        latency_us=0,
    )


def record(
    log: ReceiptLog,
    group: str,
    action: str,
    *,
    role: str,
    now: datetime,
    subject: str = "",
    reason: str = "",
    reads: bool = False,
    request_id: str = "",
) -> int:
    """Write the command's access record and sign the head; its sequence number.

    `reads`: the command has released nothing yet, and must not (the message says so).
    `request_id`: the one a pending copy of the record was kept under, if the change
    kept one (privacy/pending_records.py).
    """
    entry = receipt(
        group, action, role=role, now=now, subject=subject, reason=reason, request_id=request_id
    )
    try:
        (written,) = log.append([entry], now_us=to_us(now))
        log.checkpoint(now_us=to_us(now))
    except AccessLogUnavailable as exc:
        outcome = "nothing was released" if reads else "it was done but is not recorded"
        raise NotRecorded(f"{entry.method} could not be recorded ({exc}); {outcome}") from exc
    return written.sequence


@contextlib.contextmanager
def opened_log(settings: Settings) -> Iterator[stores.AccessLog]:
    """The data folder's access log, for a command that opens nothing else."""
    keyring = load_keyring(settings.keyring_path)
    try:
        log = stores.open_access_log(settings, keyring.signing)
    except (OSError, StoreUnavailable) as exc:
        where = stores.access_log_location(settings)
        raise NotRecorded(f"cannot open the access log {where}: {exc}") from exc
    try:
        yield log
    finally:
        log.close()


def record_in(
    settings: Settings, group: str, action: str, *, role: str, now: datetime, reason: str = ""
) -> int:
    """`record` into the data folder's access log, opened for this one record."""
    with opened_log(settings) as log:
        return record(log, group, action, role=role, now=now, reason=reason)
