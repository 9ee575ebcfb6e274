"""The subjects of a batch are keyed once and remembered while the keys stand; what is
remembered never decides consent or erasure, which the next batch still reads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from tactful.privacy import pseudonym as pseudonym_module
from tactful.privacy.errors import Violation
from tactful.privacy.keyring import SUPPRESSION, KeyringWatcher, create_keyring, rotate_keyring
from tactful.privacy.pseudonym import Pseudonymizer
from tactful.privacy.suppression import Tombstones
from tactful.segments.subject_keys import KeyedSubject, SubjectKeys
from tests.conftest import T0, Tactful, email
from tests.lifecycle.test_subject_requests import erase, event

ADA = ("email", " Ada@Example.com")


def subject_keys(
    keyring: Path, *, capacity: int = 100, clock: Callable[[], float] = lambda: 0.0
) -> SubjectKeys:
    watcher = KeyringWatcher(keyring)
    return SubjectKeys(
        Pseudonymizer(watcher.keys("pseudonym")),
        Tombstones(watcher.keys(SUPPRESSION)),
        capacity=capacity,
        clock=clock,
    )


def keyed(keys: SubjectKeys, reference: tuple[str, str]) -> KeyedSubject:
    subject = keys.key([reference])[reference]
    assert isinstance(subject, KeyedSubject)
    return subject


@pytest.fixture
def keyring(tmp_path: Path) -> Path:
    path = tmp_path / "keyring.json"
    create_keyring(path, now=T0)
    return path


@pytest.fixture
def hmacs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The pseudonyms computed from here on, in order."""
    computed: list[str] = []
    real = pseudonym_module._pseudonym

    def counting(key: bytes, version: int, namespace: str, normalized: str) -> str:
        computed.append(normalized)
        return real(key, version, namespace, normalized)

    monkeypatch.setattr(pseudonym_module, "_pseudonym", counting)
    return computed


def test_a_subject_is_keyed_once_then_remembered(keyring: Path, hmacs: list[str]) -> None:
    keys = subject_keys(keyring)
    first = keys.key([ADA, ADA, ("email", "bob@example.com")])
    assert sorted(hmacs) == ["ada@example.com", "bob@example.com"]
    again = keys.key([ADA])
    assert again[ADA] == first[ADA]
    assert len(hmacs) == 2  # nothing keyed again
    subject = keyed(keys, ADA)
    assert subject.normalized == "ada@example.com"
    assert subject.pseudonyms[0].startswith("hmac-sha256:v1:")
    assert subject.tombstones and all(":suppression-v1:" in t for t in subject.tombstones)


def test_a_rotated_keyring_keys_everyone_anew(keyring: Path) -> None:
    keys = subject_keys(keyring)
    before = keyed(keys, ADA)
    rotate_keyring(keyring, ["pseudonym"], now=T0 + timedelta(days=1))
    after = keyed(keys, ADA)
    assert after.pseudonyms[0].startswith("hmac-sha256:v2:")
    # The old version still reads (consent recorded before the rotation applies).
    assert after.pseudonyms[1:] == before.pseudonyms
    assert after.tombstones == before.tombstones  # the suppression key never rotates


def test_a_malformed_reference_is_named_and_never_keyed(keyring: Path, hmacs: list[str]) -> None:
    keys = subject_keys(keyring)
    reference = ("email", "x\u00b2@example.com")
    for _ in range(2):
        problem = keys.key([reference])[reference]
        assert isinstance(problem, Violation) and problem.field == ".id"
    assert hmacs == []
    unknown = ("shoe_size", "42")
    problem = keys.key([unknown])[unknown]
    assert isinstance(problem, Violation) and problem.field == ".namespace"


def test_a_full_memory_is_forgotten_whole(keyring: Path, hmacs: list[str]) -> None:
    keys = subject_keys(keyring, capacity=2)
    keys.key([("email", "a@example.com"), ("email", "b@example.com")])
    keys.key([("email", "c@example.com")])  # over capacity: a and b are forgotten
    keys.key([("email", "c@example.com"), ("email", "a@example.com")])
    assert sorted(hmacs[:2]) == ["a@example.com", "b@example.com"]
    assert hmacs[2:] == ["c@example.com", "a@example.com"]


def test_the_memory_is_forgotten_whole_a_minute_after_it_started(
    keyring: Path, hmacs: list[str]
) -> None:
    """Identifiers live in the process no longer than a minute, erased people's too."""
    now = [0.0]
    keys = subject_keys(keyring, clock=lambda: now[0])
    keys.key([ADA])
    now[0] = 59.0
    keys.key([ADA, ("email", "b@example.com")])  # still remembered: Ada not keyed again
    assert hmacs == ["ada@example.com", "b@example.com"]
    now[0] = 60.0
    keys.key([ADA])  # the memory started at 0 is gone, and with it Ada
    assert hmacs == ["ada@example.com", "b@example.com", "ada@example.com"]


def test_erasure_and_withdrawal_apply_to_the_very_next_batch_of_a_remembered_person(
    tactful: Tactful,
) -> None:
    ada, bob = email("ada@example.com"), email("bob@example.com")
    for person in (ada, bob):
        tactful.consent(person, "onboarding")
        reply = tactful.record(
            "onboarding", event(person, "page_viewed", T0, path="/a"), principal="web_frontend"
        )
        assert reply.stored == 1  # and the person is remembered
    tactful.consent(ada, "onboarding", granted=False)
    reply = tactful.record(
        "onboarding", event(ada, "page_viewed", T0, path="/b"), principal="web_frontend"
    )
    assert (reply.stored, reply.not_stored) == (0, 1)
    erase(tactful, bob, suppress=True)
    reply = tactful.record("support_triage", event(bob, "page_viewed", T0, path="/c"))
    assert (reply.stored, reply.not_stored) == (0, 1)
