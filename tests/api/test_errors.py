"""One mapping from domain errors to gRPC codes, and nothing internal leaks."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from tactful import journeys, lifecycle, privacy, segments, storage
from tactful.api.errors import STATUS_BY_ERROR, status_for
from tactful.app.auth import Unauthenticated
from tactful.journeys.errors import PlaybookError
from tactful.privacy.decisions import Decision, Verdict
from tactful.privacy.errors import InvalidRequest, ReleaseNotAllowed, Violation


def public_domain_errors() -> set[type[Exception]]:
    found: set[type[Exception]] = set()
    for package in (privacy, segments, journeys, lifecycle, storage):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.rsplit(".", 1)[-1].startswith("_"):
                continue
            module = importlib.import_module(info.name)
            found.update(
                obj
                for name, obj in vars(module).items()
                if inspect.isclass(obj)
                and issubclass(obj, Exception)
                and not name.startswith("_")
                and obj.__module__ == module.__name__
            )
    return found


def test_every_public_domain_error_is_mapped() -> None:
    errors = public_domain_errors()
    assert InvalidRequest in errors  # the walk really finds the domain errors
    assert sorted(e.__qualname__ for e in errors - STATUS_BY_ERROR.keys()) == []


def test_a_playbook_that_does_not_check_is_a_failed_precondition_saying_little() -> None:
    status = status_for(PlaybookError("/etc/tactful/playbooks/x.toml", ["actions: none"]))
    assert status.code is grpc.StatusCode.FAILED_PRECONDITION
    assert status.details == "internal error"  # no path, no problem list


def test_invalid_request_carries_bad_request_details() -> None:
    status = status_for(InvalidRequest([Violation("events[3].occurred_at", "is required")]))
    assert status.code is grpc.StatusCode.INVALID_ARGUMENT
    ((key, value),) = status.trailing_metadata
    assert key == "grpc-status-details-bin"
    details = status_pb2.Status.FromString(value)
    bad_request = error_details_pb2.BadRequest()
    assert details.details[0].Unpack(bad_request)
    assert [(v.field, v.description) for v in bad_request.field_violations] == [
        ("events[3].occurred_at", "is required")
    ]


@pytest.mark.parametrize(
    "error", [RuntimeError("db at /secret/path is locked"), KeyError("hmac-sha256:v1:abc")]
)
def test_unmapped_errors_become_internal_without_internals(error: Exception) -> None:
    status = status_for(error)
    assert status.code is grpc.StatusCode.INTERNAL
    assert status.details == "internal error"


def test_unauthenticated_message_is_shown() -> None:
    status = status_for(Unauthenticated("unknown or revoked token"))
    assert (status.code, status.details) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "unknown or revoked token",
    )


def test_a_refused_list_of_many_long_names_is_capped_in_the_error_info() -> None:
    names = tuple(f"{'s' * 200}{i}" for i in range(2000))
    decision = Decision(
        Verdict.ITEMS_NOT_RELEASED,
        f"purpose p does not release {', '.join(names)}",
        "frontend",
        names,
        (),
        names,
    )
    status = status_for(ReleaseNotAllowed(decision))
    assert status.code is grpc.StatusCode.PERMISSION_DENIED
    assert len(status.details.encode()) <= 300
    ((_, value),) = status.trailing_metadata
    assert len(value) <= 3072
    info = error_details_pb2.ErrorInfo()
    assert status_pb2.Status.FromString(value).details[0].Unpack(info)
    refused = info.metadata["refused"].split(",")
    assert len(refused) == 21 and refused[-1] == "and 1980 more"
    assert all(len(name) <= 32 for name in refused[:20])
    assert refused[0] == names[0][:31] + "…"


def test_quoted_client_values_are_shortened_and_the_rest_kept() -> None:
    value = "v" * 500
    status = status_for(InvalidRequest([Violation("names[0]", f"signal {value!r} is unknown")]))
    ((_, raw),) = status.trailing_metadata
    bad_request = error_details_pb2.BadRequest()
    assert status_pb2.Status.FromString(raw).details[0].Unpack(bad_request)
    (violation,) = bad_request.field_violations
    assert violation.description == f"signal '{'v' * 31}…' is unknown"
    assert status.details == f"names[0]: signal '{'v' * 31}…' is unknown"
