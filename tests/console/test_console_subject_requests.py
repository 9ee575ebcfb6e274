"""Data-subject requests in the console, with four eyes, over HTTP with two principals
of privacy operations (a requester and an approver), on every engine: received,
approved by the other, executed with a receipt; self-approval refused; rejection; an
export downloaded once by its receiver; an unknown subject; the access record of each
step; and the person's data gone afterwards, as the gRPC API sees it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from tactful.app import stores
from tactful.app.auth import hash_token
from tactful.cli.console import RunningConsole, start_in_thread, with_listen
from tactful.v1 import subjects_pb2, subjects_pb2_grpc
from tests.conftest import Tactful, bearer, email, make_settings, page_view, token_for
from tests.console.conftest import ALICE, BOB, COMPLIANCE, Filled, csrf_of, fill, signed_in

REQUESTER = "privacy_ops"
APPROVER = "privacy_approver"  # a second person of privacy operations


@dataclass
class Console:
    tactful: Tactful
    running: RunningConsole

    @property
    def url(self) -> str:
        return self.running.url

    def steps(self, step: str) -> list[dict[str, object]]:
        """The console's records of `step`, as the gRPC API's QueryAccessLog returns them."""
        found = Filled(self.tactful, self.running).query(
            method=f"tactful.console/subject-request.{step}"
        )
        return [
            {
                "sequence": r.sequence,
                "principal": r.principal,
                "role": r.role,
                "subjects": list(r.subjects),
                "decision": r.decision,
                "reason": json.loads(r.reason),
            }
            for r in found
        ]

    def export(self, address: str) -> dict[str, object]:
        """What the gRPC API's ExportSubject holds about `address`."""
        stub = subjects_pb2_grpc.SubjectsStub(self.tactful.channel)
        request = subjects_pb2.ExportSubjectRequest(subject=email(address))
        reply = stub.ExportSubject(request, metadata=bearer(REQUESTER), timeout=10)
        document: dict[str, object] = json.loads(reply.export_json)
        return document


def _principals(tmp: Path) -> tuple[object, ...]:
    """The development principals, with their test tokens, and a second privacy_ops."""
    base = make_settings(tmp)
    ops = next(p for p in base.principals if p.name == REQUESTER)
    approver = replace(ops, name=APPROVER, token_sha256=hash_token(token_for(APPROVER)))
    return (*base.principals, approver)


def _engines() -> list[str]:
    return ["sqlite", "postgres"]


@pytest.fixture(params=_engines())
def console(
    request: pytest.FixtureRequest, start_tactful: Callable[..., Tactful], tmp_path: Path
) -> Iterator[Console]:
    overrides: dict[str, object] = {"principals": _principals(tmp_path / "principals")}
    if request.param == "postgres":
        pytest.importorskip("psycopg")
        from tests.postgres_cluster import fresh_database, shared_cluster

        cluster = shared_cluster()
        main, vault = fresh_database(cluster, "dsr"), fresh_database(cluster, "dsrvault")
        stores.migrate(make_settings(tmp_path / "migrate", storage_url=main, vault_url=vault))
        overrides |= {"storage_url": main, "vault_url": vault}
    tactful = start_tactful(**overrides)
    fill(tactful)
    running = start_in_thread(
        with_listen(replace(tactful.settings), "127.0.0.1:0"), clock=tactful.clock
    )
    yield Console(tactful, running)
    running.stop()


def receive(client: httpx.Client, kind: str, address: str, *, suppress: bool = False) -> int:
    """Receive a request through the form; its id."""
    form = client.get("/subject-requests")
    assert form.status_code == 200, form.text
    data = {"csrf": csrf_of(form.text), "kind": kind, "namespace": "email", "identifier": address}
    if suppress:
        data["suppress"] = "on"
    reply = client.post("/subject-requests", data=data)
    assert reply.status_code == 303, reply.text
    found = re.fullmatch(r"/subject-requests/(\d+)", reply.headers["location"])
    assert found
    return int(found.group(1))


def act(client: httpx.Client, request_id: int, step: str, note: str = "") -> httpx.Response:
    page = client.get(f"/subject-requests/{request_id}")
    return client.post(
        f"/subject-requests/{request_id}/{step}", data={"csrf": csrf_of(page.text), "note": note}
    )


def test_an_erasure_received_by_one_and_approved_by_another_is_executed_with_a_receipt(
    console: Console,
) -> None:
    assert console.export(ALICE)["events"]  # Alice is held before
    with signed_in(console.url, REQUESTER) as requester:
        request_id = receive(requester, "erasure", ALICE, suppress=True)
        waiting = requester.get(f"/subject-requests/{request_id}")
        assert "received" in waiting.text and ALICE not in waiting.text
        assert f'action="/subject-requests/{request_id}/approve"' not in waiting.text
    with signed_in(console.url, APPROVER) as approver:
        reply = act(approver, request_id, "approve", "identity checked against ticket 4411")
        assert reply.status_code == 303, reply.text
        receipt = approver.get(reply.headers["location"])
    assert "executed" in receipt.text and "Receipt" in receipt.text
    assert "ticket 4411" in receipt.text and ALICE not in receipt.text

    # Every step recorded, allowed, naming Alice by pseudonym, in order.
    (received,) = console.steps("received")
    (approved,) = console.steps("approved")
    (executed,) = console.steps("executed")
    assert received["principal"] == REQUESTER and approved["principal"] == APPROVER
    assert executed["principal"] == APPROVER
    assert {r["role"] for r in (received, approved, executed)} == {"privacy_ops"}
    assert {r["decision"] for r in (received, approved, executed)} == {"allowed"}
    assert received["subjects"] == approved["subjects"] == executed["subjects"]
    assert received["subjects"][0].startswith("hmac-sha256:")  # type: ignore[index]
    assert received["sequence"] < approved["sequence"] < executed["sequence"]  # type: ignore[operator]
    assert executed["reason"] == {"request": request_id, "kind": "erasure",
                                  "approved_by": APPROVER}  # fmt: skip
    # The receipt names the executed record's sequence and the counts deleted.
    assert re.search(rf"access record {executed['sequence']}\b", receipt.text)
    assert re.search(r"<td>behavior\.events</td><td class=\"count\">[1-9]", receipt.text)

    # Alice is gone (through the gRPC API), suppressed; Bob is still there.
    after = console.export(ALICE)
    assert after["events"] == [] and after["subject"]["identifier"] is None  # type: ignore[index]
    assert console.export(BOB)["events"]
    console.tactful.record("support_triage", page_view(email(ALICE)))  # suppressed: dropped
    assert console.export(ALICE)["events"] == []


def test_the_requester_cannot_approve_their_own_erasure_and_the_refusal_is_recorded(
    console: Console,
) -> None:
    with signed_in(console.url, REQUESTER) as requester:
        request_id = receive(requester, "erasure", ALICE)
        reply = act(requester, request_id, "approve", "I checked it myself")
        assert reply.status_code == 409
        assert "four eyes" in reply.text
        assert "received" in requester.get(f"/subject-requests/{request_id}").text
    (refused,) = console.steps("approved")
    assert refused["decision"] == "denied" and refused["principal"] == REQUESTER
    assert console.steps("executed") == []
    assert console.export(ALICE)["events"]  # nothing erased


def test_an_approval_or_a_rejection_needs_a_note_and_a_rejection_erases_nothing(
    console: Console,
) -> None:
    with signed_in(console.url, REQUESTER) as requester:
        request_id = receive(requester, "erasure", ALICE)
    with signed_in(console.url, APPROVER) as approver:
        assert act(approver, request_id, "approve", "   ").status_code == 409
        assert act(approver, request_id, "reject", "").status_code == 409
        reply = act(approver, request_id, "reject", "requester could not prove identity")
        assert reply.status_code == 303
        page = approver.get(f"/subject-requests/{request_id}").text
        assert "rejected" in page and "could not prove identity" in page
        # Decided once: no approval after the rejection.
        assert act(approver, request_id, "approve", "changed my mind").status_code == 409
    (rejected,) = [r for r in console.steps("rejected") if r["decision"] == "allowed"]
    assert rejected["principal"] == APPROVER
    assert rejected["reason"] == {"request": request_id, "kind": "erasure"}
    assert console.steps("executed") == []
    assert console.export(ALICE)["events"]


def test_an_export_is_downloaded_once_by_its_receiver_only(console: Console) -> None:
    with signed_in(console.url, REQUESTER) as requester:
        request_id = receive(requester, "export", BOB)
        with signed_in(console.url, APPROVER) as other:
            assert act(other, request_id, "download").status_code == 409
        reply = act(requester, request_id, "download")
        assert reply.status_code == 200
        assert reply.headers["content-disposition"].startswith("attachment")
        document = reply.json()
        assert document["subject"]["identifier"] == BOB and document["events"]
        assert act(requester, request_id, "download").status_code == 409  # once
        assert "downloaded" in requester.get(f"/subject-requests/{request_id}").text
    allowed = [r for r in console.steps("downloaded") if r["decision"] == "allowed"]
    assert [r["principal"] for r in allowed] == [REQUESTER]
    denied = [r for r in console.steps("downloaded") if r["decision"] == "denied"]
    assert sorted(str(r["principal"]) for r in denied) == sorted([APPROVER, REQUESTER])


def test_an_unknown_subject_ends_failed_with_nothing_done(console: Console) -> None:
    with signed_in(console.url, REQUESTER) as requester:
        request_id = receive(requester, "erasure", "nobody@example.com")
    with signed_in(console.url, APPROVER) as approver:
        reply = act(approver, request_id, "approve", "ticket 7")
        page = approver.get(reply.headers["location"]).text
    assert "failed" in page and "unknown subject" in page
    (failed,) = console.steps("failed")
    assert failed["principal"] == APPROVER and "unknown subject" in str(failed["reason"])
    assert console.steps("executed") == []
    assert console.export(ALICE)["events"] and console.export(BOB)["events"]


def test_compliance_sees_the_workflow_read_only_and_privacy_ops_nothing_else(
    console: Console,
) -> None:
    with signed_in(console.url, REQUESTER) as requester:
        request_id = receive(requester, "erasure", ALICE)
        # A privacy_ops principal is sent to the workflow from the officers' pages.
        assert requester.get("/access-log").headers["location"] == "/subject-requests"
        bare = requester.get("/subject-requests").text
        assert 'href="/access-log"' not in bare
    with signed_in(console.url, COMPLIANCE) as officer:
        listing = officer.get("/subject-requests")
        assert listing.status_code == 200 and "read-only" in listing.text
        assert 'action="/subject-requests"' not in listing.text
        page = officer.get(f"/subject-requests/{request_id}")
        assert page.status_code == 200 and "/approve" not in page.text
        received = console.steps("received")[0]["sequence"]
        assert f'<a href="/records/{received}">' in page.text  # an officer opens the record
        reply = act(officer, request_id, "approve", "an officer tries")
        assert reply.status_code == 403
    assert [r for r in console.steps("approved")] == []


def test_every_form_needs_the_sessions_csrf_token(console: Console) -> None:
    with signed_in(console.url, REQUESTER) as requester:
        data = {"kind": "erasure", "namespace": "email", "identifier": ALICE, "csrf": "forged"}
        assert requester.post("/subject-requests", data=data).status_code == 403
    assert console.steps("received") == []
