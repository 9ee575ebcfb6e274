"""The access-log page for the officer's day, on every storage engine: newest records
first with their reason, keyset pages newer and older, the newest and the oldest page,
and a jump to a time. The log is written through the engine with known times (one
record a minute), and the page size is 4, so that every page boundary is known."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from tactful.cli.console import RunningConsole, start_in_thread, with_listen
from tactful.privacy.access_log import AccessEntry, Decided
from tactful.privacy.keyring import KeyringWatcher
from tactful.privacy.pseudonym import Pseudonymizer
from tactful.timestamps import to_us
from tests.conftest import T0
from tests.console.conftest import ALICE, csrf_of, sequences_in, signed_in
from tests.storage.engines import ENGINES, Engine

RECORDS = 25
SIZE = 4
MINUTE = 60_000_000
DENIED_REASON = "purpose onboarding is not among support_widget's purposes"
ENGINE_LIST = [engine() for engine in ENGINES.values()]


def time_us(i: int) -> int:
    """Record i was written i minutes after T0."""
    return to_us(T0) + i * MINUTE


def at(i: int, seconds: int = 0) -> str:
    """The time of record i (plus `seconds`) as a datetime input sends it."""
    return (T0 + timedelta(minutes=i, seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")


def entry(i: int, alice: str) -> AccessEntry:
    denied = i % 5 == 0
    return AccessEntry(
        time_us=time_us(i),
        principal="support_widget",
        role="frontend",
        method="tactful.v1.Personalization/GetSegments",
        purpose="support_triage",
        subjects=(alice,) if i % 3 == 0 else (),
        requested=(),
        released=(),
        decision=Decided.DENIED if denied else Decided.ALLOWED,
        status="PERMISSION_DENIED" if denied else "OK",
        reason=DENIED_REASON if denied else f"ok {i}",
        request_id=f"req-{i:04d}",
        latency_us=100,
    )


@dataclass
class Logged:
    console: RunningConsole
    about_alice: list[int]  # the sequences of the records about Alice, oldest first


@pytest.fixture(params=ENGINE_LIST, ids=[e.name for e in ENGINE_LIST])
def logged(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Logged]:
    engine: Engine = request.param
    settings = engine.settings(tmp_path / "data")
    (alice,) = Pseudonymizer(KeyringWatcher(settings.keyring_path).keys("pseudonym")).resolve(
        "email", ALICE
    )
    stores = engine.open(settings)
    try:
        for i in range(1, RECORDS + 1):
            stores.append_access([entry(i, alice)], now_us=time_us(i))
    finally:
        stores.close()
    monkeypatch.setattr("tactful.console.pages.PAGE_SIZE", SIZE)
    console = start_in_thread(
        with_listen(replace(settings), "127.0.0.1:0"), clock=lambda: T0 + timedelta(days=1)
    )
    try:
        yield Logged(console, [i for i in range(1, RECORDS + 1) if i % 3 == 0])
    finally:
        console.stop()


def link(page: httpx.Response, name: str) -> str:
    """The href of the paging link `name` ("" if the page has none)."""
    found = re.findall(rf'<a href="(/access-log[^"]*)"[^>]*>{name}</a>', page.text)
    assert len(found) in (0, 2), found  # above and below the table, or neither
    return html.unescape(found[0]) if found else ""


def jump(when: str) -> str:
    return f"{OURS}&{urlencode({'at': when})}"


def reasons_in(page: httpx.Response) -> list[str]:
    return [html.unescape(r) for r in re.findall(r'<td class="reason">(.*?)</td>', page.text)]


OURS = "/access-log?purpose=support_triage"  # the records written above, not the console's


def test_the_newest_records_come_first_with_their_reason(logged: Logged) -> None:
    with signed_in(logged.console.url) as client:
        page = client.get(OURS)
        assert sequences_in(page.text) == [25, 24, 23, 22]
        assert reasons_in(page) == [DENIED_REASON, "ok 24", "ok 23", "ok 22"]
        assert ">reason</th>" in page.text
        assert link(page, "Newer") == link(page, "Newest") == ""  # nothing is newer
        # Unfiltered, the newest is the console's own record of the page just shown.
        everything = sequences_in(client.get("/access-log").text)
        assert everything == sorted(everything, reverse=True) and everything[0] > RECORDS


def test_older_pages_reach_the_oldest_record_and_newer_pages_come_back(logged: Logged) -> None:
    with signed_in(logged.console.url) as client:
        seen, page = [], client.get(OURS)
        while True:  # bounded: every page moves the cursor down
            seen.append(sequences_in(page.text))
            older = link(page, "Older")
            if not older:
                break
            assert "purpose=support_triage" in older  # the filters go along
            page = client.get(older)
        assert seen == [[25, 24, 23, 22], [21, 20, 19, 18], [17, 16, 15, 14], [13, 12, 11, 10],
                        [9, 8, 7, 6], [5, 4, 3, 2], [1]]  # fmt: skip
        assert link(page, "Oldest") == "" and link(page, "Newer")

        page = client.get(link(client.get(OURS), "Oldest"))
        assert sequences_in(page.text) == [4, 3, 2, 1]
        assert link(page, "Older") == link(page, "Oldest") == ""
        back = []
        while True:  # bounded: every page moves the cursor up
            back.append(sequences_in(page.text))
            newer = link(page, "Newer")
            if not newer:
                break
            page = client.get(newer)
        assert back == [[4, 3, 2, 1], [8, 7, 6, 5], [12, 11, 10, 9], [16, 15, 14, 13],
                        [20, 19, 18, 17], [24, 23, 22, 21], [25]]  # fmt: skip
        assert sequences_in(client.get(link(page, "Older")).text) == [24, 23, 22, 21]
        newest = client.get(link(client.get(link(page, "Older")), "Newest"))
        assert sequences_in(newest.text) == [25, 24, 23, 22]


def test_a_jump_to_a_time_shows_the_records_at_and_before_it(logged: Logged) -> None:
    with signed_in(logged.console.url) as client:
        page = client.get(jump(at(10, seconds=30)))
        assert sequences_in(page.text) == [10, 9, 8, 7]
        assert f'value="{at(10, seconds=30)}"' in page.text  # shown back in its input
        assert sequences_in(client.get(link(page, "Older")).text) == [6, 5, 4, 3]
        assert sequences_in(client.get(link(page, "Newer")).text) == [14, 13, 12, 11]
        exactly = client.get(jump(at(10)))  # "at": its own minute included
        assert sequences_in(exactly.text) == [10, 9, 8, 7]
        early = client.get(jump(at(0)))
        assert sequences_in(early.text) == [] and "No records at or before that time" in early.text
        assert sequences_in(client.get(link(early, "Newer")).text) == [4, 3, 2, 1]
        late = client.get(jump(at(60 * 24 * 365)))
        assert sequences_in(late.text) == [25, 24, 23, 22]
        bad = client.get(jump("this morning"))
        assert "is not a date or time" in bad.text
        assert sequences_in(bad.text) == [25, 24, 23, 22]  # the newest, as without a jump


def test_a_subject_search_pages_newest_first_too(logged: Logged) -> None:
    with signed_in(logged.console.url) as client:
        form = client.get("/access-log")
        found = client.post(
            "/access-log",
            data={"csrf": csrf_of(form.text), "namespace": "email", "identifier": ALICE},
        )
        newest_first = logged.about_alice[::-1]
        assert sequences_in(found.text) == newest_first[:SIZE]
        older = client.get(link(found, "Older"))
        assert sequences_in(older.text) == newest_first[SIZE : 2 * SIZE]
        assert ALICE not in link(found, "Older")  # the search's handle, never the identifier
        # The jump form carries the search's handle too: her records at and before 12.
        (handle,) = re.findall(r'<input type="hidden" name="subject" value="([^"]+)">', found.text)
        jumped = client.get("/access-log", params={"subject": handle, "at": at(12)})
        assert sequences_in(jumped.text) == [12, 9, 6, 3]
