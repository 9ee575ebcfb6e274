"""Invariant: a subject's export holds everything stored about them, and nothing about
anyone else: their events under every purpose, their consent history, their identity
and every access record naming them (a batch about several people included)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

from tactful.privacy.access_log import AccessEntry
from tactful.timestamps import from_us, to_us
from tests.conftest import T0
from tests.storage.contract.test_contract_access_log import entry
from tests.storage.engines import Engine, Stores

ADA, BOB = "ada@example.com", "bob@example.com"
MINUTE_US = 60_000_000
T0_US = to_us(T0)

# (who, principal, purpose, event type, minutes before T0, attributes)
EVENTS = [
    (ADA, "support_widget", "support_triage", "page_viewed", 50, {"path": "/ada-1"}),
    (ADA, "support_widget", "support_triage", "error_shown", 40, {"error_code": "E-ada"}),
    (ADA, "web_frontend", "onboarding", "signup_started", 30, {"plan": "trial"}),
    (BOB, "support_widget", "support_triage", "page_viewed", 45, {"path": "/bob-1"}),
    (BOB, "support_widget", "support_triage", "error_shown", 35, {"error_code": "E-bob"}),
]


def iso(us: int) -> str:
    return from_us(us).isoformat()


def fill(stores: Stores) -> dict[str, list[str]]:
    """Store EVENTS, consent and access records; the request ids about each person."""
    stores.set_consent(ADA, "onboarding", True, now=T0 - timedelta(hours=1))
    stores.set_consent(BOB, "onboarding", True, now=T0 - timedelta(hours=1))
    stores.set_consent(BOB, "onboarding", False, now=T0 - timedelta(minutes=20))
    for who, principal, purpose, kind, minutes, attributes in EVENTS:
        at = T0_US - minutes * MINUTE_US
        assert stores.record(principal, purpose, [(who, kind, at, attributes)], now=T0).stored == 1
    ada, bob = stores.pseudonyms(ADA)[0], stores.pseudonyms(BOB)[0]
    about = {"ada-only": (ada,), "bob-only": (bob,), "both": (bob, ada), "nobody": ()}
    entries: list[AccessEntry] = [
        dataclasses.replace(entry(i), subjects=subjects, request_id=name, time_us=T0_US + i)
        for i, (name, subjects) in enumerate(about.items(), start=1)
    ]
    stores.append_access(entries, now_us=T0_US + 10)
    return {ADA: ["ada-only", "both"], BOB: ["bob-only", "both"]}


def expected_events(who: str) -> list[dict[str, object]]:
    return sorted(
        (
            {"purpose": purpose, "type": kind, "occurred_at": iso(T0_US - minutes * MINUTE_US)}
            | {"attributes": attributes}
            for person, _, purpose, kind, minutes, attributes in EVENTS
            if person == who
        ),
        key=lambda e: str(e["occurred_at"]),
    )


def test_an_export_holds_everything_about_the_subject_and_nothing_of_anyone_else(
    engine: Engine, tmp_path: Path
) -> None:
    stores = engine.open(engine.settings(tmp_path / "data"))
    try:
        requests = fill(stores)
        for who, other in ((ADA, BOB), (BOB, ADA)):
            document = stores.export(who, now=T0)
            assert document["subject"]["identifier"] == who
            assert stores.pseudonyms(who)[0] in document["subject"]["pseudonyms"]
            events = [
                {k: e[k] for k in ("purpose", "type", "occurred_at", "attributes")}
                for e in document["events"]
            ]
            assert events == expected_events(who)
            consent = [(c["purpose"], c["granted"]) for c in document["consent_history"]]
            assert consent == (
                [("onboarding", True)]
                if who == ADA
                else [("onboarding", True), ("onboarding", False)]
            )
            records = document["access_records"]
            assert sorted(r["request_id"] for r in records) == sorted(requests[who])
            assert all(stores.pseudonyms(who)[0] in r["subjects"] for r in records)
            # Nothing of the other person anywhere in the document, but the shared record.
            text = repr({k: v for k, v in document.items() if k != "access_records"})
            assert other not in text and stores.pseudonyms(other)[0] not in text
            assert "-bob" not in text if who == ADA else "-ada" not in text
    finally:
        stores.close()


def test_an_erased_subject_exports_nothing_and_others_keep_theirs(
    engine: Engine, tmp_path: Path
) -> None:
    stores = engine.open(engine.settings(tmp_path / "data"))
    try:
        fill(stores)
        stores.erase(ADA, suppress=False, now=T0)
        document = stores.export(ADA, now=T0)
        assert document["subject"]["identifier"] is None
        assert document["events"] == [] and document["consent_history"] == []
        assert len(stores.export(BOB, now=T0)["events"]) == 2
    finally:
        stores.close()
