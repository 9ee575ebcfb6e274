"""Data-subject requests over a real channel and from the command line: erasure leaves
nothing readable behind (and, with suppress, nothing is collected again); the export
holds everything kept about the person; both are receipted in the access log."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from tactful.api.convert import attribute_to_proto
from tactful.cli.main import main
from tactful.privacy.keyring import load_keyring
from tactful.privacy.pseudonym import Pseudonymizer
from tactful.v1 import (
    access_log_pb2,
    access_log_pb2_grpc,
    common_pb2,
    personalization_pb2,
    subjects_pb2,
    subjects_pb2_grpc,
)
from tests.conftest import T0, Tactful, bearer, email, page_view, timestamp

ROOT = Path(__file__).resolve().parents[2]
CANARY = "Canary.Person+7f3a@Example.com"
NORMALIZED = CANARY.strip().casefold()
PRIVACY_OPS = "privacy_ops"
TAG = "dsr-4b9c"  # lowercase markers: they exist only in the events that carry them
MARKERS = [f"/{TAG}-pricing", f"/{TAG}-error-page", f"/{TAG}-welcome", f"e-{TAG}"]
ERASE_METHOD = "tactful.v1.Subjects/EraseSubject"
EXPORT_METHOD = "tactful.v1.Subjects/ExportSubject"
STORES = (
    "vault.identities",
    "behavior.events",
    "behavior.purpose_activity",
    "behavior.consent",
    "behavior.consent_history",
    "behavior.journey_memory",
    "behavior.journey_outcomes",
    "behavior.subjects",
)


# -- helpers ------------------------------------------------------------------------------


def event(
    subject: common_pb2.SubjectRef, kind: str, at: datetime, **attributes: Any
) -> common_pb2.Event:
    return common_pb2.Event(
        subject=subject,
        type=kind,
        occurred_at=timestamp(at),
        attributes={name: attribute_to_proto(value) for name, value in attributes.items()},
    )


def subjects(tactful: Tactful) -> subjects_pb2_grpc.SubjectsStub:
    return subjects_pb2_grpc.SubjectsStub(tactful.channel)


def erase(
    tactful: Tactful,
    subject: common_pb2.SubjectRef,
    suppress: bool = False,
    principal: str = PRIVACY_OPS,
) -> dict[str, int]:
    request = subjects_pb2.EraseSubjectRequest(subject=subject, suppress=suppress)
    reply = subjects(tactful).EraseSubject(request, metadata=bearer(principal), timeout=10)
    return dict(reply.deleted)


def export(
    tactful: Tactful, subject: common_pb2.SubjectRef, principal: str = PRIVACY_OPS
) -> dict[str, Any]:
    request = subjects_pb2.ExportSubjectRequest(subject=subject)
    reply = subjects(tactful).ExportSubject(request, metadata=bearer(principal), timeout=10)
    document: dict[str, Any] = json.loads(reply.export_json.decode("utf-8"))
    return document


def records_about(
    tactful: Tactful, subject: common_pb2.SubjectRef, method: str = ""
) -> list[access_log_pb2.AccessRecord]:
    request = access_log_pb2.QueryAccessLogRequest(subject=subject, method=method, page_size=1000)
    stub = access_log_pb2_grpc.AccessLogStub(tactful.channel)
    return list(stub.QueryAccessLog(request, metadata=bearer("compliance_officer")).records)


def pseudonym_of(tactful: Tactful, identifier: str) -> str:
    keys = load_keyring(tactful.settings.keyring_path).pseudonym
    return Pseudonymizer(keys).resolve("email", identifier)[0]


def count(path: Path, sql: str, *params: object) -> int:
    with closing(sqlite3.connect(path)) as db:
        return int(db.execute(sql, params).fetchone()[0])


def forbidden_forms(identifier: str) -> list[bytes]:
    """The identifier in any case, and its plain SHA-256 hex (raw and normalized)."""
    forms = {identifier, identifier.strip().casefold()}
    hashes = {hashlib.sha256(f.encode()).hexdigest() for f in forms}
    return sorted({f.lower().encode() for f in forms | hashes})


def scan(data_dir: Path, needles: list[bytes]) -> tuple[set[str], dict[str, list[bytes]]]:
    """The names of every file scanned, and which of them hold which needles (any case)."""
    scanned, hits = set(), {}
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        scanned.add(path.name)
        content = path.read_bytes().lower()
        found = [n for n in needles if n in content]
        if found:
            hits[path.name] = found
    return scanned, hits


def traces(data_dir: Path) -> dict[str, list[bytes]]:
    """Files still holding the canary's identifier, its hash, or its event values."""
    scanned, hits = scan(data_dir, forbidden_forms(CANARY) + [m.encode() for m in MARKERS])
    assert "vault.db" in scanned and any(n.endswith("-wal") for n in scanned), scanned
    return hits


def sealed_vault_entries(data_dir: Path) -> list[bytes]:
    """The one vault entry's sealed identifier and sealed data key, as stored."""
    with closing(sqlite3.connect(data_dir / "vault.db")) as db:
        (row,) = db.execute(
            "SELECT i.sealed_identifier, k.sealed_key FROM identities i JOIN data_keys k"
            " USING (pseudonym)"
        ).fetchall()
    return [bytes(row[0]), bytes(row[1])]


def files_with_bytes(data_dir: Path, needle: bytes) -> list[str]:
    return sorted(p.name for p in data_dir.rglob("*") if p.is_file() and needle in p.read_bytes())


@dataclass
class History:
    """What was sent about the canary, as the export must show it."""

    events: list[dict[str, Any]]
    consent: list[dict[str, Any]]
    calls: Counter[str]  # access records about the canary, by method


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def make_history(tactful: Tactful) -> History:
    """Consent given, withdrawn (deleting what it covered) and given; events under three
    purposes; reads. The subject is written in a different case every time."""
    spellings = [email(CANARY), email(f"  {CANARY.upper()} "), email(NORMALIZED)]
    consent, events, calls = [], [], Counter[str]()

    def set_consent(purpose: str, granted: bool) -> None:
        tactful.consent(spellings[len(consent) % 3], purpose, granted)
        consent.append(
            {
                "purpose": purpose,
                "granted": granted,
                "source": "tests/banner",
                "recorded_at": _iso(tactful.clock.now),
            }
        )
        calls["tactful.v1.Personalization/SetConsent"] += 1
        tactful.clock.advance(timedelta(minutes=1))

    def record(purpose: str, principal: str, *sent: tuple[str, datetime, dict[str, Any]]) -> None:
        batch = [
            event(spellings[i % 3], kind, at, **attrs) for i, (kind, at, attrs) in enumerate(sent)
        ]
        reply = tactful.record(purpose, *batch, principal=principal)
        assert (reply.stored, reply.not_stored) == (len(sent), 0)
        received = _iso(tactful.clock.now)
        for kind, at, attrs in sent:
            events.append(
                {
                    "purpose": purpose,
                    "type": kind,
                    "attributes": attrs,
                    "occurred_at": _iso(at),
                    "received_at": received,
                }
            )
        calls["tactful.v1.Personalization/RecordEvents"] += 1

    set_consent("onboarding", True)
    set_consent("multilingual_support", True)
    at = T0 + timedelta(minutes=1, seconds=30)
    record("multilingual_support", "web_frontend", ("locale_set", at, {"locale": "fr-FR"}))
    events.clear()  # the withdrawal deletes it
    set_consent("multilingual_support", False)
    at = T0 + timedelta(minutes=3)
    record(
        "support_triage",
        "support_widget",
        ("page_viewed", at, {"path": MARKERS[0]}),
        ("error_shown", at + timedelta(seconds=10), {"error_code": MARKERS[3], "path": MARKERS[1]}),
        ("login_failed", at + timedelta(seconds=20), {"reason": "bad_password"}),
    )
    record(
        "onboarding",
        "web_frontend",
        ("page_viewed", at + timedelta(seconds=30), {"path": MARKERS[2]}),
        ("signup_started", at + timedelta(seconds=40), {"plan": "pro"}),
    )
    record(
        "checkout_recovery",
        "checkout_service",
        ("cart_updated", at + timedelta(seconds=50), {"item_count": 3, "value": 59.5}),
    )
    assert tactful.segments(spellings[1]) == ["new_visitor"]
    assert tactful.segments(spellings[2], "onboarding", "web_frontend") == ["new_visitor"]
    signals = tactful.signals(spellings[0], "onboarding", "signup_plan", principal="web_frontend")
    assert signals == {"signup_plan": "pro"}
    assert tactful.signals(spellings[1], "support_triage", "last_error_code") == {
        "last_error_code": MARKERS[3]
    }
    calls["tactful.v1.Personalization/GetSegments"] += 2
    calls["tactful.v1.Personalization/GetSignals"] += 2
    events.sort(key=lambda e: e["occurred_at"])
    return History(events, consent, calls)


EXPECTED_DELETED = {
    "vault.identities": 1,
    "behavior.events": 6,
    "behavior.purpose_activity": 3,  # support_triage, onboarding, checkout_recovery
    "behavior.consent": 2,  # onboarding (granted), multilingual_support (withdrawn)
    "behavior.consent_history": 3,
    "behavior.journey_memory": 0,  # no journey decided for them
    "behavior.journey_outcomes": 0,  # no outcome recorded for them
    "behavior.subjects": 1,
}


# -- erasure ------------------------------------------------------------------------------


def test_erasure_deletes_everything_and_leaves_nothing_readable(tactful: Tactful) -> None:
    make_history(tactful)
    data_dir = tactful.settings.data_dir
    _, before = scan(data_dir, [m.encode() for m in MARKERS])
    assert {n for found in before.values() for n in found} == {m.encode() for m in MARKERS}

    sealed = sealed_vault_entries(data_dir)
    assert len(sealed) == 2 and all(files_with_bytes(data_dir, s) for s in sealed)

    assert erase(tactful, email(f" {CANARY.lower()}")) == EXPECTED_DELETED

    assert traces(data_dir) == {}  # vault.db, behavior.db, access_log.db and every -wal
    # Crypto-shredding: no copy of the sealed data key (or identifier) is left to open.
    assert [files_with_bytes(data_dir, s) for s in sealed] == [[], []]
    assert count(data_dir / "vault.db", "SELECT count(*) FROM identities") == 0
    assert count(data_dir / "vault.db", "SELECT count(*) FROM data_keys") == 0
    for spelling in (CANARY, CANARY.upper(), f" {NORMALIZED} "):
        assert tactful.segments(email(spelling)) == []
        for purpose in ("onboarding", "multilingual_support"):
            with pytest.raises(grpc.RpcError) as caught:
                tactful.segments(email(spelling), purpose, "web_frontend")
            assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION

    (record,) = records_about(tactful, email(CANARY.upper()), ERASE_METHOD)
    assert record.subject == pseudonym_of(tactful, CANARY)
    assert (record.principal, record.role, record.decision) == (
        PRIVACY_OPS,
        PRIVACY_OPS,
        "allowed",
    )
    assert traces(data_dir) == {}  # the query did not bring anything back either


def test_erasing_twice_is_harmless(tactful: Tactful) -> None:
    make_history(tactful)
    assert erase(tactful, email(CANARY)) == EXPECTED_DELETED
    assert erase(tactful, email(CANARY.upper())) == dict.fromkeys(STORES, 0)
    assert len(records_about(tactful, email(CANARY), ERASE_METHOD)) == 2


def test_with_suppress_the_person_is_never_collected_again(tactful: Tactful) -> None:
    canary, other = email(CANARY), email("someone.else@example.com")
    tactful.record("support_triage", event(canary, "page_viewed", T0, path=MARKERS[0]))
    erase(tactful, email(CANARY.upper()), suppress=True)
    data_dir = tactful.settings.data_dir

    reply = tactful.record(
        "support_triage",
        event(email(NORMALIZED), "page_viewed", T0, path=MARKERS[0]),
        event(canary, "error_shown", T0, error_code=MARKERS[3]),
    )
    assert (reply.stored, reply.not_stored) == (0, 2)
    reply = tactful.record(
        "support_triage",
        event(other, "page_viewed", T0, path="/other"),
        event(canary, "page_viewed", T0, path=MARKERS[0]),
    )
    assert (reply.stored, reply.not_stored) == (1, 1)

    behavior = data_dir / "behavior.db"
    pseudonym = pseudonym_of(tactful, CANARY)
    assert count(data_dir / "vault.db", "SELECT count(*) FROM identities") == 1  # the other
    assert count(behavior, "SELECT count(*) FROM events") == 1
    assert count(behavior, "SELECT count(*) FROM subjects WHERE pseudonym = ?", pseudonym) == 0
    # One tombstone, under the suppression key: not the pseudonym, nor any pseudonym version.
    assert count(behavior, "SELECT count(*) FROM suppression_tombstones") == 1
    assert (
        count(
            behavior, "SELECT count(*) FROM suppression_tombstones WHERE tombstone LIKE ?", "%:v1:%"
        )
        == 0
    )
    assert count(behavior, "SELECT count(*) FROM suppressed") == 0
    assert tactful.segments(canary) == []
    assert traces(data_dir) == {}


def test_without_suppress_the_person_is_collected_again_as_new(tactful: Tactful) -> None:
    canary = email(CANARY)
    tactful.record("support_triage", event(canary, "page_viewed", T0, path=MARKERS[0]))
    assert tactful.segments(canary) == ["new_visitor"]  # the caches know them now
    erase(tactful, canary)
    tactful.clock.advance(timedelta(days=3))

    reply = tactful.record("support_triage", event(canary, "page_viewed", tactful.clock.now))
    assert (reply.stored, reply.not_stored) == (1, 0)

    data_dir = tactful.settings.data_dir
    behavior = data_dir / "behavior.db"
    assert count(data_dir / "vault.db", "SELECT count(*) FROM identities") == 1
    orphans = "SELECT count(*) FROM events WHERE subject_id NOT IN (SELECT id FROM subjects)"
    assert count(behavior, orphans) == 0
    assert tactful.segments(canary) == ["new_visitor"]  # first seen again today
    document = export(tactful, email(CANARY.upper()))
    assert document["subject"]["identifier"] == NORMALIZED
    assert [e["occurred_at"] for e in document["events"]] == [_iso(tactful.clock.now)]


# -- export -------------------------------------------------------------------------------


def test_the_export_holds_everything_kept_about_the_person(tactful: Tactful) -> None:
    history = make_history(tactful)
    pseudonym = pseudonym_of(tactful, CANARY)

    document = export(tactful, email(f" {CANARY.upper()}"))

    assert document["exported_at"] == _iso(tactful.clock.now)
    assert document["subject"] == {
        "namespace": "email",
        "identifier": NORMALIZED,
        "pseudonyms": [pseudonym],
    }
    assert document["events"] == history.events
    assert document["consent_history"] == history.consent
    assert document["journey_memory"] == []
    assert document["journey_outcomes"] == []
    assert document["segments"] == {
        "checkout_recovery": ["new_visitor"],
        "onboarding": ["new_visitor"],
        "support_triage": ["new_visitor"],
    }
    seen = {
        p: {k: v.pop(k) for k in ("first_seen", "last_seen")}
        for p, v in document["signals"].items()
    }
    assert all(times["first_seen"] <= times["last_seen"] for times in seen.values())
    journey = {
        p: {k: v.pop(k) for k in ("intent", "frustration", "uncertainty", "urgency") if k in v}
        for p, v in document["signals"].items()
    }
    assert journey == {  # inferences about the person are theirs to see too
        p: {**states, "uncertainty": "none", "urgency": "none"}
        for p, states in {
            "checkout_recovery": {"intent": "purchasing", "frustration": "none"},
            "onboarding": {"intent": "unknown", "frustration": "none"},
            "support_triage": {"intent": "reporting_issue", "frustration": "mild"},
        }.items()
    }
    for values in document["signals"].values():
        steps = values.pop("recent_steps", "")
        assert steps and all("@" in step for step in steps.split(","))
    assert document["signals"] == {
        "checkout_recovery": {"cart_item_count": 3},
        "onboarding": {"pages_viewed_24h": 1, "signup_plan": "pro"},
        "support_triage": {
            "failed_logins_1h": 1,
            "last_error_code": MARKERS[3],
            "last_error_codes": MARKERS[3],
            "pages_viewed_24h": 1,
        },
    }
    records = document["access_records"]
    assert Counter(r["method"] for r in records) == history.calls
    assert {s for r in records for s in r["subjects"]} == {pseudonym}
    assert [r["sequence"] for r in records] == sorted(r["sequence"] for r in records)

    (logged,) = records_about(tactful, email(CANARY), EXPORT_METHOD)
    assert (logged.subject, logged.principal, logged.decision) == (
        pseudonym,
        PRIVACY_OPS,
        "allowed",
    )
    again = export(tactful, email(CANARY))
    assert [r["method"] for r in again["access_records"]] == [
        *(r["method"] for r in records),
        EXPORT_METHOD,
        "tactful.v1.AccessLog/QueryAccessLog",  # the compliance query named them too
    ]


def test_the_export_of_an_unknown_person_is_empty(tactful: Tactful) -> None:
    tactful.record("support_triage", event(email("someone@example.com"), "page_viewed", T0))
    document = export(tactful, email("Nobody.Here@Example.com"))
    assert document == {
        "exported_at": _iso(T0),
        "subject": {
            "namespace": "email",
            "identifier": None,
            "pseudonyms": [pseudonym_of(tactful, "nobody.here@example.com")],
        },
        "events": [],
        "consent_history": [],
        "journey_memory": [],
        "journey_outcomes": [],
        "segments": {},
        "signals": {},
        "access_records": [],
    }


@pytest.mark.parametrize(
    "principal",
    ["support_widget", "web_frontend", "agent_console", "analyst", "compliance_officer"],
)
def test_only_privacy_ops_may_export_or_erase(tactful: Tactful, principal: str) -> None:
    canary = email(CANARY)
    tactful.record("support_triage", event(canary, "page_viewed", T0))
    for call in (
        lambda: export(tactful, canary, principal),
        lambda: erase(tactful, canary, True, principal),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
    data_dir = tactful.settings.data_dir
    assert count(data_dir / "vault.db", "SELECT count(*) FROM identities") == 1
    assert count(data_dir / "behavior.db", "SELECT count(*) FROM events") == 1
    assert count(data_dir / "behavior.db", "SELECT count(*) FROM suppression_tombstones") == 0
    assert tactful.segments(canary) == ["new_visitor"]


# -- the command line ---------------------------------------------------------------------


def config_for(tactful: Tactful, tmp_path: Path) -> Path:
    """A CLI config for the test server's data folder (as in test_cli_audit)."""
    development = (ROOT / "examples" / "development.toml").read_text()
    development = development.replace(
        'contract = "contract.toml"', f'contract = "{ROOT / "examples" / "contract.toml"}"'
    ).replace('listen = "127.0.0.1:50051"', "")
    path = tmp_path / "cli.toml"
    path.write_text(f'data_dir = "{tactful.settings.data_dir}"\n{development}\n')
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def receipts(capsys: pytest.CaptureFixture[str], config: str, method: str) -> list[dict[str, Any]]:
    code, out, _ = run(capsys, "audit", "query", "--config", config, "--method", method)
    assert code == 0
    return [json.loads(line) for line in out.splitlines()]


def test_cli_export_and_erase_do_what_the_rpcs_do_and_leave_receipts(
    tactful: Tactful, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = make_history(tactful)
    by_rpc = export(tactful, email(CANARY))
    pseudonym = pseudonym_of(tactful, CANARY)
    tactful.stop()  # the CLI works on the files the server left
    config = str(config_for(tactful, tmp_path))
    subject = ("--namespace", "email", "--id", CANARY.upper())

    output = tmp_path / "export.json"
    code, _, err = run(
        capsys, "subjects", "export", "--config", config, *subject, "--output", str(output)
    )
    assert code == 0 and f"exported {len(history.events)} events to {output}" in err
    document = json.loads(output.read_text())
    for part in ("subject", "events", "consent_history"):
        assert document[part] == by_rpc[part], part
    assert document["events"] == history.events
    assert document["segments"].keys() == by_rpc["segments"].keys()
    assert [r["method"] for r in document["access_records"]] == [
        *(r["method"] for r in by_rpc["access_records"]),
        EXPORT_METHOD,
    ]
    (receipt,) = receipts(capsys, config, "tactful.cli/subjects.export")
    assert receipt["subjects"] == [pseudonym] and receipt["role"] == PRIVACY_OPS
    assert receipt["principal"].startswith("cli:")

    code, out, _ = run(capsys, "subjects", "erase", "--config", config, *subject, "--suppress")
    assert code == 0
    for store, deleted in EXPECTED_DELETED.items():
        assert f"{store}: {deleted} deleted" in out.splitlines()
    assert f"erased {pseudonym} and suppressed further collection" in out
    (receipt,) = receipts(capsys, config, "tactful.cli/subjects.erase")
    assert receipt["subjects"] == [pseudonym]
    assert json.loads(receipt["reason"]) == {"deleted": EXPECTED_DELETED, "suppressed": True}
    code, out, _ = run(capsys, "audit", "verify", "--config", config)
    assert code == 0 and "intact" in out

    data_dir = tactful.settings.data_dir
    _, hits = scan(data_dir, forbidden_forms(CANARY) + [m.encode() for m in MARKERS])
    assert hits == {}
    tactful.restart()
    assert traces(data_dir) == {}
    reply = tactful.record("support_triage", event(email(CANARY), "page_viewed", T0))
    assert (reply.stored, reply.not_stored) == (0, 1)
    assert tactful.segments(email(CANARY)) == []
    assert export(tactful, email(CANARY))["subject"]["identifier"] is None


def test_an_erasure_from_the_command_line_is_noticed_by_a_running_server(
    tactful: Tactful, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    canary = email(CANARY)
    tactful.record("support_triage", event(canary, "page_viewed", T0, path=MARKERS[0]))
    assert tactful.segments(canary) == ["new_visitor"]  # the server's caches know them
    config = str(config_for(tactful, tmp_path))

    code, out, _ = run(
        capsys, "subjects", "erase", "--config", config, "--namespace", "email", "--id", CANARY
    )
    assert code == 0 and "behavior.events: 1 deleted" in out
    assert tactful.segments(canary) == []

    reply = tactful.record("support_triage", event(canary, "page_viewed", T0))
    assert (reply.stored, reply.not_stored) == (1, 0)
    data_dir = tactful.settings.data_dir
    assert count(data_dir / "vault.db", "SELECT count(*) FROM identities") == 1
    orphans = "SELECT count(*) FROM events WHERE subject_id NOT IN (SELECT id FROM subjects)"
    assert count(data_dir / "behavior.db", orphans) == 0
    assert tactful.segments(canary) == ["new_visitor"]
    # The CLI's receipt and the server's records form one chain.
    verify = access_log_pb2.VerifyAccessLogRequest()
    stub = access_log_pb2_grpc.AccessLogStub(tactful.channel)
    assert stub.VerifyAccessLog(verify, metadata=bearer("compliance_officer")).intact


def test_a_persons_export_holds_the_records_of_batches_about_several_people(
    tactful: Tactful,
) -> None:
    """Frontends send mixed batches all the time; before, such a batch's record named
    nobody, and was missing from each person's export and subject queries."""
    ada, bob = email("ada@example.com"), email("bob@example.com")
    tactful.record("support_triage", page_view(ada), page_view(bob))
    rejected = personalization_pb2.RecordEventsRequest(
        purpose="support_triage",
        events=[page_view(ada), common_pb2.Event(subject=bob, type="no_such_event")],
    )
    with pytest.raises(grpc.RpcError):  # refused whole: still about both of them
        tactful.personalization.RecordEvents(rejected, metadata=bearer("support_widget"))
    for person, other in ((ada, bob), (bob, ada)):
        records = [
            r
            for r in export(tactful, person)["access_records"]
            if r["method"] == "tactful.v1.Personalization/RecordEvents"
        ]
        assert [r["status"] for r in records] == ["OK", "INVALID_ARGUMENT"]
        both = sorted([pseudonym_of(tactful, person.id), pseudonym_of(tactful, other.id)])
        assert [r["subjects"] for r in records] == [both, both]
        assert len(records_about(tactful, person, "tactful.v1.Personalization/RecordEvents")) == 2
