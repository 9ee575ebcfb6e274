"""A data-subject request (lifecycle/request_workflow.py) as a row, the same on every
engine: which columns, and how a row reads back."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tactful.lifecycle.request_workflow import RequestKind, RequestState, SubjectRequest

# Written once, when a request is received.
RECEIVED = (
    "kind", "namespace", "pseudonyms", "suppress", "received_by", "received_at_us",
    "received_record", "state",
)  # fmt: skip
# Written by each later step.
STEPS = (
    "state", "decided_by", "decided_at_us", "note", "done_at_us", "deleted", "record", "failure",
)  # fmt: skip
COLUMNS = ("id", *RECEIVED, *STEPS[1:])


def received(request: SubjectRequest) -> list[Any]:
    return [
        request.kind.value, request.namespace, json.dumps(list(request.pseudonyms)),
        request.suppress, request.received_by, request.received_at_us,
        request.received_record, request.state.value,
    ]  # fmt: skip


def steps(request: SubjectRequest) -> list[Any]:
    return [
        request.state.value, request.decided_by, request.decided_at_us, request.note,
        request.done_at_us, json.dumps(dict(request.deleted), sort_keys=True), request.record,
        request.failure,
    ]  # fmt: skip


def from_row(row: Sequence[Any]) -> SubjectRequest:
    values = dict(zip(COLUMNS, row, strict=True))
    return SubjectRequest(
        id=int(values["id"]),
        kind=RequestKind(values["kind"]),
        namespace=values["namespace"],
        pseudonyms=tuple(json.loads(values["pseudonyms"])),
        suppress=bool(values["suppress"]),
        received_by=values["received_by"],
        received_at_us=int(values["received_at_us"]),
        received_record=int(values["received_record"]),
        state=RequestState(values["state"]),
        decided_by=values["decided_by"],
        decided_at_us=int(values["decided_at_us"]),
        note=values["note"],
        done_at_us=int(values["done_at_us"]),
        deleted=json.loads(values["deleted"]),
        record=int(values["record"]),
        failure=values["failure"],
    )
