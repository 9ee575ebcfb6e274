"""Consent: no grant, no collection and no reads; withdrawal deletes at once."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tactful.timestamps import to_us
from tactful.v1 import common_pb2, personalization_pb2
from tests.conftest import T0, Tactful, bearer, email, page_view

FRONTEND = "web_frontend"
MARKER = "/canary-path-5c1e"  # an attribute value that exists only in this subject's events


def onboarding_event(subject: common_pb2.SubjectRef, path: str = MARKER) -> common_pb2.Event:
    return page_view(subject, T0 - timedelta(seconds=30), path)


def files_containing(data_dir: Path, needle: bytes) -> list[str]:
    return sorted(p.name for p in data_dir.iterdir() if p.is_file() and needle in p.read_bytes())


def test_without_a_grant_nothing_is_collected_and_reads_fail(tactful: Tactful) -> None:
    ada = email("ada@example.com")
    reply = tactful.record("onboarding", onboarding_event(ada), principal=FRONTEND)
    assert (reply.stored, reply.not_stored) == (0, 1)
    with pytest.raises(grpc.RpcError) as caught:
        tactful.segments(ada, "onboarding", FRONTEND)
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "consent" in caught.value.details()
    with pytest.raises(grpc.RpcError) as signals:
        tactful.signals(ada, "onboarding", "pages_viewed_24h", principal=FRONTEND)
    assert signals.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert files_containing(tactful.settings.data_dir, MARKER.encode()) == []
    vault = sqlite3.connect(tactful.settings.data_dir / "vault.db")
    assert vault.execute("SELECT count(*) FROM identities").fetchone()[0] == 0
    vault.close()


def test_a_batch_stores_only_the_subjects_who_consented(tactful: Tactful) -> None:
    ada, bob = email("ada@example.com"), email("bob@example.com")
    tactful.consent(ada, "onboarding")
    reply = tactful.record(
        "onboarding",
        onboarding_event(ada),
        onboarding_event(bob),
        onboarding_event(ada),
        principal=FRONTEND,
    )
    assert (reply.stored, reply.not_stored) == (2, 1)
    assert tactful.segments(ada, "onboarding", FRONTEND) == ["new_visitor"]
    assert tactful.signals(ada, "onboarding", "pages_viewed_24h", principal=FRONTEND) == {
        "pages_viewed_24h": 2
    }


def test_withdrawal_takes_effect_on_the_next_call_and_deletes_the_data(tactful: Tactful) -> None:
    ada = email("ada@example.com")
    tactful.consent(ada, "onboarding")
    tactful.record("onboarding", onboarding_event(ada), principal=FRONTEND)
    # The same person's data under another purpose must survive the withdrawal.
    tactful.record("support_triage", page_view(ada, path="/kept-path-9d2a"))
    data_dir = tactful.settings.data_dir
    assert "behavior.db-wal" in files_containing(data_dir, MARKER.encode())

    tactful.consent(ada, "onboarding", granted=False)
    with pytest.raises(grpc.RpcError) as caught:
        tactful.segments(ada, "onboarding", FRONTEND)
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert files_containing(data_dir, MARKER.encode()) == []
    assert tactful.segments(ada) == ["new_visitor"]  # support_triage untouched

    reply = tactful.record("onboarding", onboarding_event(ada), principal=FRONTEND)
    assert (reply.stored, reply.not_stored) == (0, 1)

    tactful.consent(ada, "onboarding")  # granted again: collection resumes, history is new
    assert tactful.segments(ada, "onboarding", FRONTEND) == []
    assert tactful.record("onboarding", onboarding_event(ada), principal=FRONTEND).stored == 1


def test_consent_history_is_kept(tactful: Tactful) -> None:
    ada = email("ada@example.com")
    tactful.consent(ada, "onboarding")
    tactful.clock.advance(timedelta(hours=1))
    tactful.consent(ada, "onboarding", granted=False)
    tactful.clock.advance(timedelta(hours=1))
    reply = tactful.consent(ada, "multilingual_support")
    assert reply.recorded_at.ToDatetime().isoformat() == "2026-11-27T14:00:00"
    with sqlite3.connect(tactful.settings.data_dir / "behavior.db") as db:
        history = db.execute(
            "SELECT purpose, granted, source, recorded_at_us FROM consent_history ORDER BY id"
        ).fetchall()
    hour = 3600 * 1_000_000
    start = to_us(T0)
    assert history == [
        ("onboarding", 1, "tests/banner", start),
        ("onboarding", 0, "tests/banner", start + hour),
        ("multilingual_support", 1, "tests/banner", start + 2 * hour),
    ]


def test_consent_is_per_person_whatever_the_identifier_case(tactful: Tactful) -> None:
    tactful.consent(email("Ada@Example.com"), "onboarding")
    reply = tactful.record(
        "onboarding", onboarding_event(email(" ada@example.COM")), principal=FRONTEND
    )
    assert reply.stored == 1


@pytest.mark.parametrize(
    ("purpose", "source", "field"),
    [
        ("support_triage", "banner", "purpose"),  # legitimate interest: consent does not apply
        ("onboarding", "", "source"),
        ("onboarding", "x" * 201, "source"),
    ],
)
def test_set_consent_refuses_bad_requests(
    tactful: Tactful, purpose: str, source: str, field: str
) -> None:
    request = personalization_pb2.SetConsentRequest(
        subject=email("ada@example.com"), purpose=purpose, granted=True, source=source
    )
    principal = FRONTEND if purpose == "onboarding" else "support_widget"
    with pytest.raises(grpc.RpcError) as caught:
        tactful.personalization.SetConsent(request, metadata=bearer(principal), timeout=5)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(caught.value)  # type: ignore[arg-type]
    assert status is not None
    bad_request = error_details_pb2.BadRequest()
    status.details[0].Unpack(bad_request)
    assert [v.field for v in bad_request.field_violations] == [field]
