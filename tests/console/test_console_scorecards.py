"""The console's Scorecards page over HTTP: the form, the release by POST as the
signed-in officer (the domain's release: its decision, its debit), its refusals and
the access record of each."""

from __future__ import annotations

import re

import pytest

from tactful.app import stores
from tactful.console.sources import Sources
from tactful.journeys.outcomes import OutcomeReport, ScoredDecision
from tactful.privacy.pending_records import PendingRecord
from tactful.storage.sqlite.journey_outcomes import SqliteJourneyOutcomes
from tests.console.conftest import COMPLIANCE, Filled, csrf_of, signed_in

JOURNEY = "support_triage"


def scored_rows() -> list[ScoredDecision]:
    """4,000 people scored on support_triage (3,000 treated, 1,000 in the global
    holdout): enough that the noise never withholds an arm (with a few hundred it did,
    now and then, and the chart was missing)."""
    return [
        ScoredDecision(
            f"p{i}", 1, "treatment" if i < 3000 else "global_holdout", "kb_article", "none",
            1_000 + i, OutcomeReport(resolved=i % 3 != 0, effort=3),
        )
        for i in range(4000)
    ]  # fmt: skip


@pytest.fixture(autouse=True)
def scored(monkeypatch: pytest.MonkeyPatch) -> None:
    """Those people, where the SQLite outcome store reads them."""
    monkeypatch.setattr(SqliteJourneyOutcomes, "scored", lambda self, j, s, u: scored_rows())
    monkeypatch.delattr(SqliteJourneyOutcomes, "tallied")  # tally those rows


def release(client: object, **fields: str) -> object:
    form = client.get("/scorecards")  # type: ignore[attr-defined]
    data = {"journey": JOURNEY, "days": "30", "epsilon": "0.5", "csrf": csrf_of(form.text)}
    return client.post("/scorecards", data=data | fields)  # type: ignore[attr-defined]


def records(filled: Filled, page: str) -> list[object]:
    return filled.query(method=f"tactful.console/{page}")


def test_the_page_offers_the_form_and_releases_nothing_on_load(filled: Filled) -> None:
    with signed_in(filled.url) as client:
        page = client.get("/scorecards")
        assert page.status_code == 200
        assert '<a href="/scorecards" aria-current="page">Scorecards</a>' in page.text
        assert f'<option value="{JOURNEY}">' in page.text
        assert 'name="epsilon" value="1.0"' in page.text
        assert 'You have epsilon <span class="left">1.0</span> left.' in page.text
        assert "<svg" not in page.text
    assert records(filled, "scorecards.release") == []
    assert filled.query(method="tactful.console/budget") == []  # nothing else recorded
    with signed_in(filled.url) as client:
        assert "None yet." in client.get("/budget").text  # no budget spent by looking


def test_a_release_shows_groups_uplift_chart_noise_and_budget_and_is_recorded(
    filled: Filled,
) -> None:
    with signed_in(filled.url) as client:
        reply = release(client)
        assert reply.status_code == 200, reply.text
        page = reply.text
        assert "Spent epsilon 0.5; 0.5 of your budget left." in page
        assert '<svg class="chart uplift" role="img"' in page
        assert re.search(r'<rect class="(gain|loss)"', page)
        assert 'class="whisker"' in page
        assert "v1 treatment" in page and "about " in page
        assert "Withheld, because fewer than 20 people" in page and "v1 journey_holdout" in page
        assert "first_contact_resolution" in page and "95 % interval" in page
        assert "<td>people</td>" in page and "noise scale" in page
        budget = client.get("/budget").text
        assert COMPLIANCE in budget and "<td>0.5</td>" in budget
        assert '<span class="left">0.5</span>' in client.get("/scorecards").text
    (record,) = records(filled, "scorecards.release")
    assert record.principal == COMPLIANCE and record.role == "compliance"  # type: ignore[attr-defined]
    assert record.decision == "allowed"  # type: ignore[attr-defined]
    assert record.purpose == "support_triage"  # type: ignore[attr-defined]  # the playbook's
    assert '"journey": "support_triage"' in record.reason  # type: ignore[attr-defined]
    assert "0.5 of the budget remaining" in record.reason  # type: ignore[attr-defined]


def test_the_record_is_kept_with_the_debit_until_it_is_written(
    filled: Filled, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the RPC's: the page's record is stored beside the debit, in its transaction,
    and dropped once the access log has it (else the servers' recovery writes it)."""
    with signed_in(filled.url) as client:
        assert release(client).status_code == 200
        assert pending(filled) == []  # written, so dropped
        monkeypatch.setattr(Sources, "recorded", lambda self, p: None)  # as if cut short
        assert release(client).status_code == 200
    (owed,) = pending(filled)
    first, second = records(filled, "scorecards.release")
    assert owed.entry.request_id == second.request_id  # type: ignore[attr-defined]
    assert owed.entry.method == "tactful.console/scorecards.release"
    assert owed.entry.purpose == "support_triage"


def pending(filled: Filled) -> list[PendingRecord]:
    ledger = stores.open_budget_ledger(filled.tactful.settings)
    try:
        return ledger.claim_pending_records(
            written_before_us=2**62, now_us=0, lease_us=1, limit=100
        )
    finally:
        ledger.close()


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"journey": "no_such_journey"}, "journey: &#39;no_such_journey&#39; is not a journey"),
        ({"epsilon": "0"}, "epsilon: must be a finite number above 0"),
        ({"epsilon": "many"}, "epsilon: must be a number above 0"),
        ({"epsilon": "11"}, "is 11.0; at most 10.0 in one release"),
        ({"days": "365"}, "window: choose one of 7, 30, 90 days"),
    ],
)
def test_a_bad_journey_epsilon_or_window_is_refused_and_spends_nothing(
    filled: Filled, fields: dict[str, str], problem: str
) -> None:
    with signed_in(filled.url) as client:
        reply = release(client, **fields)
        assert reply.status_code == 400
        assert problem in reply.text and "<svg" not in reply.text
        assert "None yet." in client.get("/budget").text
    (record,) = records(filled, "scorecards.release")
    assert record.status == "INVALID_ARGUMENT"  # type: ignore[attr-defined]
    assert record.decision == "denied"  # type: ignore[attr-defined]


def test_an_exhausted_budget_says_so_and_releases_nothing(filled: Filled) -> None:
    with signed_in(filled.url) as client:
        assert release(client, epsilon="1").status_code == 200
        reply = release(client, epsilon="0.25")
        assert reply.status_code == 429
        assert "Your privacy budget is spent: 0.0 of epsilon 1.0 is left" in reply.text
        assert "<svg" not in reply.text
    first, second = records(filled, "scorecards.release")
    assert second.status == "RESOURCE_EXHAUSTED"  # type: ignore[attr-defined]


def test_a_release_without_the_form_token_is_refused(filled: Filled) -> None:
    with signed_in(filled.url) as client:
        reply = client.post("/scorecards", data={"journey": JOURNEY, "days": "30", "epsilon": "1"})
        assert reply.status_code == 403
    assert records(filled, "scorecards.release") == []
