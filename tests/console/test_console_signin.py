"""The console's sign-in under a flood: every refused sign-in is a record or is counted
in a summary record, and too many refused sign-ins lock sign-in out with backoff (for
the address, or for every address during a flood from many), a correct token's
included, until the lockout ends.

Before, of 300 wrong tokens from one address, 240 got 429 with no record and no
summary, and a correct token still signed in during the flood. Time is the test's
clock: nobody sleeps."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest

from tactful.app.limits import FailureLimits
from tactful.app.lockout import LockoutPolicy
from tactful.cli.console import RunningConsole, start_in_thread, with_listen
from tests.conftest import Tactful, token_for
from tests.console.conftest import COMPLIANCE, Filled, csrf_of

SIGN_IN = "tactful.console/sign-in"
SUMMARY = "tactful.console/sign-in.rate-limited"
LOCKOUT = "tactful.console/sign-in.lockout"
# The defaults, but summaries written when the console stops (not every minute).
LIMITS = FailureLimits(summary_s=3600)
LOCKOUT_POLICY = LockoutPolicy()  # the defaults: 10 from one address, 100 from all, 60 s


@dataclass
class Console(Filled):
    def sign_in(self, token: str, *, address: str = "127.0.0.1") -> int:
        """The status of one sign-in with `token`, from `address` (a loopback one)."""
        transport = httpx.HTTPTransport(local_address=address)
        with httpx.Client(base_url=self.url, timeout=30, transport=transport) as client:
            form = client.get("/sign-in")
            data = {"token": token, "csrf": csrf_of(form.text)}
            return client.post("/sign-in", data=data).status_code

    def wait(self, seconds: float) -> None:
        self.tactful.clock.advance(timedelta(seconds=seconds))

    def stop(self) -> None:
        """Stop the console: it writes the open window's summary."""
        self.console.stop()

    def refused_sign_ins(self) -> tuple[int, int]:
        """(refused sign-ins recorded one each, refused sign-ins counted in summaries)."""
        records = self.query()
        recorded = [r for r in records if r.method == SIGN_IN and r.decision == "denied"]
        summaries = [json.loads(r.reason)["rate_limited"] for r in records if r.method == SUMMARY]
        return len(recorded), sum(s["refused"] for s in summaries)

    def lockouts(self) -> list[str]:
        return [r.reason for r in self.query() if r.method == LOCKOUT]


@pytest.fixture
def start_console(start_tactful: Callable[..., Tactful]) -> Iterator[Callable[..., Console]]:
    running: list[RunningConsole] = []

    def start(limits: FailureLimits = LIMITS, lockout: LockoutPolicy = LOCKOUT_POLICY) -> Console:
        tactful = start_tactful(failure_limits=limits, signin_lockout=lockout)
        settings = with_listen(tactful.settings, "127.0.0.1:0")
        running.append(start_in_thread(settings, clock=tactful.clock))
        return Console(tactful, running[-1])

    yield start
    for console in running:
        if console._thread.is_alive():
            console.stop()


def test_300_wrong_tokens_are_each_recorded_or_counted_and_lock_the_address_out(
    start_console: Callable[..., Console],
) -> None:
    console = start_console()
    codes = [console.sign_in(f"tf_wrong-{i}") for i in range(300)]
    assert codes == [403] * 10 + [429] * 290  # locked out after 10, for 60 s
    assert console.sign_in(token_for(COMPLIANCE)) == 429  # a correct token too
    console.wait(59)
    assert console.sign_in(token_for(COMPLIANCE)) == 429
    console.wait(1)
    assert console.sign_in(token_for(COMPLIANCE)) == 303  # the lockout is over

    console.stop()
    recorded, counted = console.refused_sign_ins()
    assert recorded + counted == 302  # 300 wrong tokens, the correct one twice refused
    # The address's bucket ([rate_limit] failed_burst, 60) during the flood, and the
    # refusal 59 s later, when the bucket had refilled.
    assert recorded == 61
    (lockout,) = console.lockouts()
    assert lockout.startswith("locked out: this address (127.0.0.1) for 60 s until")
    assert lockout.endswith("after 10 refused sign-ins (lockout 1 in a row)")


def test_each_lockout_in_a_row_is_twice_as_long(start_console: Callable[..., Console]) -> None:
    console = start_console()
    assert [console.sign_in("tf_wrong") for _ in range(11)] == [403] * 10 + [429]
    console.wait(60)
    assert console.sign_in(token_for(COMPLIANCE)) == 303
    assert [console.sign_in("tf_wrong") for _ in range(11)] == [403] * 10 + [429]
    console.wait(60)
    assert console.sign_in(token_for(COMPLIANCE)) == 429  # 120 s, this time
    console.wait(60)
    assert console.sign_in(token_for(COMPLIANCE)) == 303

    console.stop()
    assert [reason.split(" until ")[0] for reason in console.lockouts()] == [
        "locked out: this address (127.0.0.1) for 60 s",
        "locked out: this address (127.0.0.1) for 120 s",
    ]


def test_a_flood_from_many_addresses_locks_every_address_out(
    start_console: Callable[..., Console],
) -> None:
    console = start_console(
        FailureLimits(summary_s=3600, global_burst=5), LockoutPolicy(everyone_after=20)
    )
    codes = [console.sign_in("tf_wrong", address=f"127.0.1.{i}") for i in range(1, 31)]
    assert codes == [403] * 20 + [429] * 10  # one try from each: no address is locked
    assert console.sign_in(token_for(COMPLIANCE), address="127.0.2.1") == 429
    console.wait(60)
    assert console.sign_in(token_for(COMPLIANCE), address="127.0.2.2") == 303

    console.stop()
    assert console.refused_sign_ins() == (5, 26)  # every address's bucket, then counted
    (lockout,) = console.lockouts()
    assert lockout.startswith("locked out: every address for 60 s until")
    (summary,) = [r for r in console.query() if r.method == SUMMARY]
    limited = json.loads(summary.reason)["rate_limited"]
    assert limited["sources"] == 26 and limited["principals"] == {
        "anonymous": 25,
        COMPLIANCE: 1,
    }
    assert limited["would_have_been"] == {"RESOURCE_EXHAUSTED": 11, "UNAUTHENTICATED": 15}


def test_a_principal_refused_again_and_again_is_locked_out_whatever_its_address(
    start_console: Callable[..., Console],
) -> None:
    console = start_console()
    analyst = token_for("analyst")
    codes = [console.sign_in(analyst, address=f"127.0.3.{i}") for i in range(1, 13)]
    assert codes == [403] * 10 + [429] * 2

    console.stop()
    (lockout,) = [r for r in console.query() if r.method == LOCKOUT]
    assert lockout.principal == "analyst"
    assert lockout.reason.startswith("locked out: this principal for 60 s until")


def test_the_summary_of_refused_sign_ins_is_written_when_its_window_ends(
    start_console: Callable[..., Console],
) -> None:
    from tests.conftest import eventually

    console = start_console(FailureLimits(per_minute=0.001, burst=1, summary_s=0.2))
    assert [console.sign_in("tf_wrong") for _ in range(4)] == [403] * 4
    eventually(lambda: console.refused_sign_ins() == (1, 3), seconds=10)
