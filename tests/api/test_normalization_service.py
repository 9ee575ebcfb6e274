"""Identifier normalization over gRPC: one person is one subject however their
identifier is written, two people stay two, and an identifier with a character the
PRECIS rules refuse (a compatibility character, control, invisible, private-use or
unassigned one) is refused by field, naming the character, never the identifier."""

from __future__ import annotations

import grpc
import pytest

from tactful.v1 import common_pb2, personalization_pb2
from tests.api.test_bad_input import stored_rows
from tests.conftest import Tactful, bearer, email, page_view, violations
from tests.lifecycle.test_subject_requests import erase, export

# NUL is refused before the identifier rules look, in any string field of any request
# (tests/storage/contract/test_contract_hostile_requests.py and the test below).
REFUSED = [
    ("zero-width space", "ada\u200b@example.com", "U+200B ZERO WIDTH SPACE"),
    ("zero-width joiner", "a\u200dda@example.com", "U+200D ZERO WIDTH JOINER"),
    ("soft hyphen", "ada\u00ad@example.com", "U+00AD SOFT HYPHEN"),
    ("byte order mark", "\ufeffada@example.com", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
    ("superscript two", "x\u00b2@example.com", "U+00B2 SUPERSCRIPT TWO"),
    ("fi ligature", "\ufb01n@example.com", "U+FB01 LATIN SMALL LIGATURE FI"),
    ("no-break space", "ada\u00a0lovelace@example.com", "U+00A0 NO-BREAK SPACE"),
    ("line separator", "ada\u2028@example.com", "U+2028 LINE SEPARATOR"),
    ("private use", "ada\ue000@example.com", "U+E000 <private use>"),
]


@pytest.mark.parametrize(
    ("identifier", "character"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_record_events_refuses_a_character_by_name(
    tactful: Tactful, identifier: str, character: str
) -> None:
    batch = [page_view(email("bob@example.com")), page_view(email(identifier))]
    with pytest.raises(grpc.RpcError) as caught:
        tactful.record("support_triage", *batch)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    found = violations(caught.value)
    assert list(found) == ["events[1].subject.id"]
    assert found["events[1].subject.id"].startswith(
        f"{character} is not allowed in an identifier ("
    )
    # The identifier is personal data: neither it nor its parts come back.
    assert "example" not in str(caught.value.details()) + repr(found)
    assert stored_rows(tactful) == (0, 0)


def test_record_events_refuses_nul_in_an_identifier_without_echoing_it(tactful: Tactful) -> None:
    batch = [page_view(email("bob@example.com")), page_view(email("ada\u0000@example.com"))]
    with pytest.raises(grpc.RpcError) as caught:
        tactful.record("support_triage", *batch)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "U+0000" in str(caught.value.details()) + repr(violations(caught.value))
    assert "example" not in str(caught.value.details()) + repr(violations(caught.value))
    assert stored_rows(tactful) == (0, 0)


@pytest.mark.parametrize("identifier", [r[1] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_get_segments_refuses_a_character_by_name(tactful: Tactful, identifier: str) -> None:
    tactful.record("support_triage", page_view(email("ada@example.com")))
    request = personalization_pb2.GetSegmentsRequest(
        subject=email(identifier), purpose="support_triage"
    )
    with pytest.raises(grpc.RpcError) as caught:
        tactful.personalization.GetSegments(request, metadata=bearer("support_widget"))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert list(violations(caught.value)) == ["subject.id"]


def test_an_erasure_typed_in_nfc_erases_what_was_recorded_in_nfd(tactful: Tactful) -> None:
    tactful.record("support_triage", page_view(email("jose\u0301@example.com")))
    tactful.record("support_triage", page_view(email("JOS\u00c9@example.com")))
    assert len(export(tactful, email("jos\u00e9@example.com"))["events"]) == 2
    deleted = erase(tactful, email("jos\u00e9@example.com"))
    assert deleted["behavior.events"] == 2
    assert deleted["vault.identities"] == 1
    assert stored_rows(tactful) == (0, 0)


def test_sharp_s_and_double_s_are_exported_and_erased_apart(tactful: Tactful) -> None:
    tactful.record("support_triage", page_view(email("straße@example.com"), path="/a"))
    tactful.record("support_triage", *[page_view(email("strasse@example.com"), path="/b")] * 2)
    sharp = export(tactful, email("STRAẞE@example.com"))
    assert [e["attributes"]["path"] for e in sharp["events"]] == ["/a"]
    assert sharp["subject"]["identifier"] == "straße@example.com"
    assert erase(tactful, email("strasse@example.com"))["behavior.events"] == 2
    assert len(export(tactful, email("straße@example.com"))["events"]) == 1


def test_fullwidth_and_kelvin_sign_reach_the_ascii_subject(tactful: Tactful) -> None:
    tactful.record("support_triage", page_view(email("kate@example.com")))
    for written in ("ｋａｔｅ＠ｅｘａｍｐｌｅ．ｃｏｍ", "\u212aATE@example.com"):
        assert tactful.segments(email(written)) == ["new_visitor"], written
    phone = common_pb2.SubjectRef(namespace="phone", id="＋４４ ２０ ７９４６－００００")
    tactful.record("support_triage", page_view(phone))
    same = common_pb2.SubjectRef(namespace="phone", id="+44 20 7946 0000")
    assert len(export(tactful, same)["events"]) == 1
