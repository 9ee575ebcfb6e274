"""Canary sentences for text attributes: sent through RecordEvents (accepted, too long,
wrongly typed, misplaced, under a purpose that does not collect them), and the scans
that look for them everywhere the service writes or answers. Shared by the SQLite
(tests/api/test_text_canary.py) and PostgreSQL (tests/postgres/test_text_canary_pg.py)
tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from tactful.v1 import access_log_pb2, access_log_pb2_grpc, common_pb2
from tests.conftest import T0, Tactful, bearer, email, page_view, timestamp

TAG = "Quokka"  # every canary holds it; nothing else the service writes does
ACCEPTED = (
    f"{TAG}-7c1e: I want to cancel my plan, it is broken and I hate it",
    f"{TAG}-9b42: how do I renew before the price goes up? thanks",
    f"{TAG}-3d05: bonjour, mon compte ne marche plus",
)
TOO_LONG = f"{TAG}-5a6f too long " * 150  # 2,700 characters; at most 2,000
MISPLACED = f"{TAG}-8e21: please cancel, sent where the channel belongs"
NOT_COLLECTED = f"{TAG}-4c7d: under a purpose that does not collect messages"
UNDECLARED = f"{TAG}-1f93: in an attribute the contract does not declare"
PERSON = email("canary-person@example.com")
COMPLIANCE = "compliance_officer"


def needles() -> list[bytes]:
    """What no scan may find: the tag, and each canary whole, in lower case."""
    texts = (*ACCEPTED, TOO_LONG, MISPLACED, NOT_COLLECTED, UNDECLARED)
    return sorted({TAG.lower().encode(), *(t.lower().encode() for t in texts)})


def message(
    text: str | None = None, *, at_s: int = 0, **attributes: common_pb2.AttributeValue
) -> common_pb2.Event:
    if text is not None:
        attributes["message"] = common_pb2.AttributeValue(string_value=text)
    return common_pb2.Event(
        subject=PERSON,
        type="support_message",
        occurred_at=timestamp(T0 - timedelta(seconds=at_s)),
        attributes=attributes,
    )


def reply_of(error: grpc.RpcError) -> bytes:
    """Everything a refused call answered: code, message and trailers (rich details)."""
    trailers = error.trailing_metadata() or ()  # type: ignore[attr-defined]
    parts = [str(error.code()).encode(), str(error.details()).encode()]  # type: ignore[attr-defined]
    for key, value in trailers:
        parts += [key.encode(), value if isinstance(value, bytes) else value.encode()]
    return b"\n".join(parts)


def refused(tactful: Tactful, purpose: str, event: common_pb2.Event, principal: str) -> bytes:
    with pytest.raises(grpc.RpcError) as caught:
        tactful.record(purpose, event, principal=principal)
    code = caught.value.code()  # type: ignore[attr-defined]
    assert code is grpc.StatusCode.INVALID_ARGUMENT, code
    return reply_of(caught.value)


def send_canaries(tactful: Tactful) -> list[bytes]:
    """Every canary through RecordEvents; the replies of the refused calls."""
    views = [page_view(PERSON, T0 - timedelta(minutes=5 + i), "/account/cancel") for i in range(2)]
    chat = common_pb2.AttributeValue(string_value="chat")
    accepted = [message(text, at_s=i, channel=chat) for i, text in enumerate(ACCEPTED)]
    reply = tactful.record("support_triage", *views, *accepted)
    assert reply.stored == len(views) + len(accepted)
    tactful.record("agent_assist", accepted[0], principal="agent_console")
    number = common_pb2.AttributeValue(int_value=7)
    misplaced = common_pb2.AttributeValue(string_value=MISPLACED)
    undeclared = common_pb2.AttributeValue(string_value=UNDECLARED)
    return [
        refused(tactful, "support_triage", message(TOO_LONG), "support_widget"),
        refused(tactful, "support_triage", message(message=number), "support_widget"),
        refused(tactful, "support_triage", message(channel=misplaced), "support_widget"),
        refused(tactful, "onboarding", message(NOT_COLLECTED), "web_frontend"),
        refused(tactful, "support_triage", message(ACCEPTED[0], note=undeclared), "support_widget"),
    ]


def access_records(tactful: Tactful) -> bytes:
    """Every access record, serialized, as the compliance officer reads them."""
    stub = access_log_pb2_grpc.AccessLogStub(tactful.channel)
    request = access_log_pb2.QueryAccessLogRequest(page_size=1000)
    reply = stub.QueryAccessLog(request, metadata=bearer(COMPLIANCE), timeout=10)
    assert len(reply.records) >= 7
    return b"\n".join(r.SerializeToString() for r in reply.records)


def found_in(content: bytes) -> list[bytes]:
    lowered = content.lower()
    return [n for n in needles() if n in lowered]


def files_holding(folders: Iterable[Path]) -> dict[str, list[bytes]]:
    """Every file under `folders` (each a folder, read whole, or a file) that holds a
    canary, with what it holds."""
    hits: dict[str, list[bytes]] = {}
    for folder in folders:
        files = [folder] if folder.is_file() else (p for p in folder.rglob("*") if p.is_file())
        for path in sorted(files):
            try:
                content = path.read_bytes()
            except FileNotFoundError:  # a live server's file removed since the listing
                continue
            found = found_in(content)
            if found:
                hits[str(path)] = found
    return hits
