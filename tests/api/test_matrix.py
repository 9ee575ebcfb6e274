"""Every method x role x purpose x kind of caller, generated from the example contract.

The expected outcome comes from the contract and the role table in docs/guide/contracts.md,
not from the decision function; a purpose added to the contract is covered
without touching this file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import grpc
import pytest

from tactful.api.server import create_server
from tactful.app.auth import hash_token
from tactful.app.settings import EXAMPLE_CONTRACT, ROLES, PrincipalConfig
from tactful.privacy.contract import Contract, LegalBasis, load_contract
from tactful.v1 import common_pb2, personalization_pb2, personalization_pb2_grpc
from tests.conftest import (
    T0,
    Clock,
    ServerThread,
    bearer,
    make_settings,
    timestamp,
    token_for,
    write_contract,
)

CONTRACT = load_contract(EXAMPLE_CONTRACT)
# Who may call what: the role table of docs/guide/contracts.md.
ROLES_FOR_METHOD = {
    "RecordEvents": {"frontend", "agent"},
    "SetConsent": {"frontend"},
    "GetSegments": {"frontend", "agent"},
    "GetSignals(all)": {"frontend", "agent"},
    "GetSignals(released)": {"frontend", "agent"},
}
# claimant: configured for every purpose and listed by every purpose;
# outsider: configured for every purpose, listed by none; unlisted: the reverse.
CALLERS = ("claimant", "outsider", "unlisted")


def caller_name(kind: str, role: str) -> str:
    return f"{kind}_{role}"


def subject(purpose: str) -> common_pb2.SubjectRef:
    return common_pb2.SubjectRef(namespace="email", id=f"matrix-{purpose}@example.com")


def an_event(contract: Contract, purpose: str) -> common_pb2.Event:
    event_type = sorted(contract.purposes[purpose].collects)[0]
    return common_pb2.Event(subject=subject(purpose), type=event_type, occurred_at=timestamp(T0))


def widened_contract(directory: Path) -> Path:
    """The example contract, with the claimant and unlisted callers added to every purpose."""
    added = ", ".join(
        f'"{caller_name(kind, role)}"' for kind in ("claimant", "unlisted") for role in ROLES
    )
    text = re.sub(
        r"^principals = \[",
        f"principals = [{added}, ",
        EXAMPLE_CONTRACT.read_text(),
        flags=re.MULTILINE,
    )
    return write_contract(directory / "contract.toml", text)


@dataclass
class Matrix:
    stub: personalization_pb2_grpc.PersonalizationStub
    contract: Contract


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    directory = tmp_path_factory.mktemp("matrix")
    contract_path = widened_contract(directory)
    contract = load_contract(contract_path)
    everything = frozenset(contract.purposes)
    callers = [
        PrincipalConfig(
            caller_name(kind, role),
            hash_token(token_for(caller_name(kind, role))),
            frozenset({role}),
            frozenset() if kind == "unlisted" else everything,
        )
        for kind in CALLERS
        for role in ROLES
    ]
    settings = make_settings(directory / "data")
    settings = replace(
        settings, contract=contract_path, principals=(*settings.principals, *callers)
    )
    thread = ServerThread()
    running = thread.run(create_server(settings, clock=Clock()))
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    stub = personalization_pb2_grpc.PersonalizationStub(channel)
    seeder = bearer(caller_name("claimant", "frontend"))
    for purpose, declared in contract.purposes.items():
        if declared.legal_basis is LegalBasis.CONSENT:
            stub.SetConsent(
                personalization_pb2.SetConsentRequest(
                    subject=subject(purpose), purpose=purpose, granted=True, source="matrix"
                ),
                metadata=seeder,
                timeout=10,
            )
        stub.RecordEvents(
            personalization_pb2.RecordEventsRequest(
                purpose=purpose, events=[an_event(contract, purpose)]
            ),
            metadata=seeder,
            timeout=10,
        )
    yield Matrix(stub, contract)
    channel.close()
    thread.run(running.stop(None))
    thread.close()


@dataclass(frozen=True)
class Expected:
    code: grpc.StatusCode
    released: frozenset[str] = frozenset()


def expected(contract: Contract, method: str, role: str, purpose: str, kind: str) -> Expected:
    declared = contract.purposes[purpose]
    if role not in ROLES_FOR_METHOD[method] or kind != "claimant":
        return Expected(grpc.StatusCode.PERMISSION_DENIED)
    if method == "SetConsent" and declared.legal_basis is not LegalBasis.CONSENT:
        return Expected(grpc.StatusCode.INVALID_ARGUMENT)
    if method == "GetSegments":
        return Expected(grpc.StatusCode.OK, frozenset({"new_visitor"}) & declared.releases_segments)
    if method == "GetSignals(all)" and declared.releases_signals != contract.signals.keys():
        return Expected(grpc.StatusCode.PERMISSION_DENIED)
    if method == "GetSignals(released)":
        if not declared.releases_signals:
            return Expected(grpc.StatusCode.PERMISSION_DENIED)
        return Expected(grpc.StatusCode.OK, declared.releases_signals)
    return Expected(grpc.StatusCode.OK)


def call(
    matrix: Matrix, method: str, role: str, purpose: str, kind: str
) -> tuple[grpc.StatusCode, frozenset[str]]:
    metadata = bearer(caller_name(kind, role))
    stub, who = matrix.stub, subject(purpose)
    declared = matrix.contract.purposes[purpose]
    try:
        if method == "RecordEvents":
            reply = stub.RecordEvents(
                personalization_pb2.RecordEventsRequest(
                    purpose=purpose, events=[an_event(matrix.contract, purpose)]
                ),
                metadata=metadata,
                timeout=10,
            )
            assert reply.stored == 1
            return grpc.StatusCode.OK, frozenset()
        if method == "SetConsent":
            stub.SetConsent(
                personalization_pb2.SetConsentRequest(
                    subject=who, purpose=purpose, granted=True, source="matrix"
                ),
                metadata=metadata,
                timeout=10,
            )
            return grpc.StatusCode.OK, frozenset()
        if method == "GetSegments":
            segments = stub.GetSegments(
                personalization_pb2.GetSegmentsRequest(subject=who, purpose=purpose),
                metadata=metadata,
                timeout=10,
            )
            return grpc.StatusCode.OK, frozenset(segments.segments)
        names = (
            sorted(matrix.contract.signals)
            if method == "GetSignals(all)"
            else sorted(declared.releases_signals) or sorted(matrix.contract.signals)[:1]
        )
        signals = stub.GetSignals(
            personalization_pb2.GetSignalsRequest(subject=who, purpose=purpose, names=names),
            metadata=metadata,
            timeout=10,
        )
        return grpc.StatusCode.OK, frozenset(s.name for s in signals.signals)
    except grpc.RpcError as error:
        return error.code(), frozenset()


CASES = [
    (method, role, purpose, kind)
    for method in ROLES_FOR_METHOD
    for role in sorted(ROLES)
    for purpose in sorted(CONTRACT.purposes)
    for kind in CALLERS
]


@pytest.mark.parametrize(
    ("method", "role", "purpose", "kind"), CASES, ids=["-".join(case) for case in CASES]
)
def test_outcome_matches_the_contract(
    matrix: Matrix, method: str, role: str, purpose: str, kind: str
) -> None:
    want = expected(matrix.contract, method, role, purpose, kind)
    code, released = call(matrix, method, role, purpose, kind)
    assert code is want.code
    if method == "GetSignals(released)" and code is grpc.StatusCode.OK:
        # A signal with no data yet is absent; never one the purpose does not release.
        assert released <= want.released
    else:
        assert released == want.released


def test_the_matrix_covers_every_purpose_and_role() -> None:
    assert {c[2] for c in CASES} == set(CONTRACT.purposes)
    assert {c[1] for c in CASES} == set(ROLES)
    allowed = [c for c in CASES if expected(CONTRACT, *c).code is grpc.StatusCode.OK]
    denied = [c for c in CASES if expected(CONTRACT, *c).code is not grpc.StatusCode.OK]
    assert allowed and denied
