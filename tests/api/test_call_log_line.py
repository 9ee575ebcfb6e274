"""A call's log line, written out without json.dumps or the stdlib's per-record work,
is the very line json.dumps wrote, and its record carries what a formatter names."""

from __future__ import annotations

import json
import logging
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tactful.api import logs
from tactful.api.observability import CallOutcome
from tactful.timestamps import from_us

TEXT = st.text(max_size=40)  # quotes, backslashes, control characters, any code point


def expected_line(outcome: CallOutcome) -> str:
    """The line as it was made before: a dict of the call's fields through json.dumps."""
    line: dict[str, Any] = {"level": "info", "logger": "tactful.calls"}
    line |= {
        "time": from_us(outcome.time_us).isoformat(timespec="milliseconds"),
        "event": "call",
        "method": outcome.method,
        "principal": outcome.principal,
        "purpose": outcome.purpose,
        "code": outcome.code,
        "decision": outcome.decision,
        "latency_ms": round(outcome.latency_s * 1000, 3),
        "request_id": outcome.request_id,
    }
    if outcome.reason:
        line["reason"] = outcome.reason
    return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


@given(
    time_us=st.integers(-(10**15), 10**17),
    names=st.tuples(TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT),
    latency_s=st.floats(0, 1e4, allow_nan=False),
)
def test_the_json_call_line_is_the_one_json_dumps_wrote(
    time_us: int, names: tuple[str, ...], latency_s: float
) -> None:
    method, principal, purpose, code, decision, request_id, reason = names
    outcome = CallOutcome(time_us, method, principal, purpose, code, decision, request_id,
                          latency_s, reason)  # fmt: skip
    line = logs.JsonLines().format(logs._CallRecord(outcome))
    assert line == expected_line(outcome)


def test_calls_in_one_second_and_the_next_get_their_own_times() -> None:
    second = 1_765_150_915_000_000
    times = [second + 1, second + 999_999, second + 1_000_000, second - 1, second + 7_000]
    assert [logs._milliseconds(t) for t in times] == [
        from_us(t).isoformat(timespec="milliseconds") for t in times
    ]


def test_a_call_record_names_what_a_stdlib_record_would() -> None:
    outcome = CallOutcome(0, "m/M", "p", "", "OK", "allowed", "r", 0.0012)
    made = logs._CallRecord(outcome)
    stdlib = logs.calls.makeRecord(logs.calls.name, logging.INFO, __file__, 1, made.msg,
                                   made.args, None)  # fmt: skip
    assert set(vars(stdlib)) - {"msecs", "created", "relativeCreated"} <= {
        name for name in dir(made) if not name.startswith("__")
    }
    assert made.getMessage() == "m/M p purpose=- OK allowed 1.200 ms request_id=r"
    for attribute in ("name", "levelno", "levelname", "thread", "threadName", "process",
                      "processName", "exc_info", "stack_info"):  # fmt: skip
        assert getattr(made, attribute) == getattr(stdlib, attribute), attribute
    assert abs(made.created - stdlib.created) < 1
    text = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(filename)s:%(lineno)d "
                             "%(funcName)s %(process)d %(message)s")  # fmt: skip
    assert "INFO tactful.calls logs.py:0 log_call" in text.format(made)
