"""Invariant: signal state equals what the events say, through random histories of
ingest, chunked retention purges, consent withdrawals, erasures and rekeys.

After every step, for each person and purpose, the events the engine holds are those a
plain model of the history holds, and every count and latest value the engine reads
from its maintained state is the one those events give (the property of
tests/storage/sqlite/test_signal_state.py, asked of the domain's paths instead of SQL).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tactful.privacy.keyring import rotate_keyring
from tactful.segments.store import SignalQuery
from tactful.timestamps import to_us
from tests.conftest import T0
from tests.storage.engines import Engine, Event, Stores

PEOPLE = ("ada@example.com", "bob@example.com")
MINUTE_US = 60_000_000
START_US = to_us(T0 - timedelta(hours=6))
# purpose -> (principal, {event type: (attribute, values)})
PURPOSES: dict[str, tuple[str, dict[str, tuple[str, Sequence[str]]]]] = {
    "support_triage": (
        "support_widget",
        {"page_viewed": ("path", ("/a", "/b")), "error_shown": ("error_code", ("E1", "E2"))},
    ),
    "onboarding": (
        "web_frontend",
        {"page_viewed": ("path", ("/a", "/b")), "signup_started": ("plan", ("free", "pro"))},
    ),
}
LATEST = {"support_triage": ("error_shown", "error_code"), "onboarding": ("signup_started", "plan")}
MOMENTS = [0, START_US - 1, START_US + 90 * MINUTE_US, START_US + 3 * 60 * MINUTE_US - 1]


@dataclass
class Model:
    """The history as plain data: (write number, person, event) for every event kept."""

    events: list[tuple[int, str, Event]] = field(default_factory=list)
    writes: int = 0

    def add(self, who: str, event: Event) -> None:
        self.writes += 1
        self.events.append((self.writes, who, event))

    def keep(self, keep: Any) -> None:
        self.events = [e for e in self.events if keep(e[1], e[2])]

    def of(self, who: str, purpose: str) -> list[tuple[int, Event]]:
        return [(n, e) for n, w, e in self.events if w == who and e.purpose == purpose]


def ingest(purpose: str) -> st.SearchStrategy[tuple[Any, ...]]:
    kinds = PURPOSES[purpose][1]
    return st.sampled_from(sorted(kinds)).flatmap(
        lambda kind: st.tuples(
            st.just("ingest"),
            st.sampled_from(PEOPLE),
            st.just(purpose),
            st.just(kind),
            st.integers(0, 6 * 60 - 1),
            st.sampled_from([None, *kinds[kind][1]]),
        )
    )


steps = st.lists(
    st.one_of(
        ingest("support_triage"),
        ingest("onboarding"),
        st.tuples(st.just("purge"), st.sampled_from(sorted(PURPOSES)), st.integers(0, 6 * 60)),
        st.tuples(st.just("withdraw"), st.sampled_from(PEOPLE)),
        st.tuples(st.just("erase"), st.sampled_from(PEOPLE)),
        st.tuples(st.just("rotate")),
        st.tuples(st.just("rekey")),
    ),
    min_size=1,
    max_size=12,
)


def apply(engine: Engine, stores: Stores, model: Model, step: tuple[Any, ...]) -> Stores:
    """Do one step to the engine and to the model; the stores to go on with."""
    match step:
        case ("ingest", who, purpose, kind, minute, value):
            attribute = PURPOSES[purpose][1][kind][0]
            attributes = {} if value is None else {attribute: value}
            at = START_US + minute * MINUTE_US
            principal = PURPOSES[purpose][0]
            result = stores.record(principal, purpose, [(who, kind, at, attributes)], now=T0)
            assert result.stored == 1, result
            model.add(who, Event(purpose, kind, at, tuple(sorted(attributes.items()))))
        case ("purge", purpose, minute):
            cutoff = START_US + minute * MINUTE_US + 17 * 1_000_000  # inside a minute
            while stores.purge_older(purpose, cutoff, limit=2):  # small chunks
                pass
            model.keep(lambda w, e: e.purpose != purpose or e.occurred_at_us >= cutoff)
        case ("withdraw", who):
            stores.set_consent(who, "onboarding", False, now=T0)
            model.keep(lambda w, e: w != who or e.purpose != "onboarding")
            stores.set_consent(who, "onboarding", True, now=T0)  # collected again, anew
        case ("erase", who):
            stores.erase(who, suppress=False, now=T0)
            model.keep(lambda w, e: w != who)
            stores.set_consent(who, "onboarding", True, now=T0)
        case ("rotate",):
            rotate_keyring(stores.settings.keyring_path, ["pseudonym"], now=T0)
            stores.close()  # a new key: the stores are opened again, as after a restart
            stores = engine.open(stores.settings)
        case ("rekey",):  # people seen under the new key meanwhile are merged
            stores.rekey(now=T0)
    return stores


def assert_state_matches_the_events(stores: Stores, model: Model) -> None:
    for who in PEOPLE:
        kept = sorted(stores.stored_events(who), key=repr)
        assert kept == sorted((e for _, w, e in model.events if w == who), key=repr), who
        for purpose, (_, kinds) in PURPOSES.items():
            events = model.of(who, purpose)
            queries = [
                SignalQuery(f"{kind}>{since}", "count", kind, None, since)
                for kind in sorted(kinds)
                for since in MOMENTS
            ]
            expected: list[Any] = [
                sum(1 for _, e in events if e.type == kind and e.occurred_at_us > since)
                for kind in sorted(kinds)
                for since in MOMENTS
            ]
            kind, attribute = LATEST[purpose]
            queries.append(SignalQuery("latest", "last_value", kind, attribute))
            having = [(e.occurred_at_us, n, e) for n, e in events if e.type == kind]
            having = [h for h in having if attribute in dict(h[2].attributes)]
            expected.append(dict(max(having)[2].attributes)[attribute] if having else None)
            assert stores.signal_values(who, purpose, queries) == expected, (who, purpose)


# A person seen under both keys when the rekey comes: their state is merged.
SEEN_UNDER_BOTH_KEYS = [
    ("ingest", PEOPLE[0], "support_triage", "error_shown", 10, "E1"),
    ("ingest", PEOPLE[0], "onboarding", "signup_started", 20, "pro"),
    ("rotate",),
    ("ingest", PEOPLE[0], "support_triage", "error_shown", 5, "E2"),
    ("ingest", PEOPLE[0], "support_triage", "page_viewed", 30, "/b"),
    ("ingest", PEOPLE[0], "onboarding", "signup_started", 25, "free"),
    ("rekey",),
    ("purge", "support_triage", 8),
]


@settings(max_examples=25, deadline=None)
@example(history=SEEN_UNDER_BOTH_KEYS)
@given(history=steps)
def test_signal_state_equals_what_the_events_say(
    engine: Engine, tmp_path_factory: Any, history: list[tuple[Any, ...]]
) -> None:
    stores = engine.open(engine.settings(tmp_path_factory.mktemp("state") / "data"))
    try:
        for who in PEOPLE:
            stores.set_consent(who, "onboarding", True, now=T0)
        model = Model()
        for step in history:
            stores = apply(engine, stores, model, step)
            assert_state_matches_the_events(stores, model)
    finally:
        stores.close()


def test_a_tie_seen_under_two_keys_goes_to_the_later_write(
    engine: Engine, tmp_path_factory: Any
) -> None:
    """Between a key rotation and the rekey, a latest value is read over both pseudonyms;
    two events of the same time under each: the one written after the rotation wins."""
    tie = [
        ("ingest", PEOPLE[0], "onboarding", "signup_started", 20, "pro"),
        ("rotate",),
        ("ingest", PEOPLE[0], "onboarding", "signup_started", 20, "free"),
    ]
    test_signal_state_equals_what_the_events_say.hypothesis.inner_test(  # type: ignore[attr-defined]
        engine, tmp_path_factory, tie
    )
