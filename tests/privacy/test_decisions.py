"""The decision function over the example contract: verdicts, precedence, properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tactful.app.settings import EXAMPLE_CONTRACT
from tactful.privacy.contract import LegalBasis, load_contract
from tactful.privacy.decisions import (
    PURPOSE_BEARING,
    ROLES_FOR_ACTION,
    Action,
    Actor,
    Decision,
    Role,
    Verdict,
    decide,
    enforce,
)
from tactful.privacy.errors import (
    ConsentRequired,
    Denied,
    InvalidRequest,
    PurposeNotClaimable,
    ReleaseNotAllowed,
    RoleNotAllowed,
)

CONTRACT = load_contract(EXAMPLE_CONTRACT)


def actor(name: str, roles: set[str], purposes: set[str]) -> Actor:
    return Actor(name, frozenset(roles), frozenset(purposes))


# The principals of examples/development.toml.
WEB = actor(
    "web_frontend",
    {"frontend"},
    {"onboarding", "checkout_recovery", "account_retention", "multilingual_support"},
)
WIDGET = actor("support_widget", {"frontend"}, {"support_triage", "multilingual_support"})
AGENT = actor("agent_console", {"agent"}, {"agent_assist"})
ANALYST = actor("analyst", {"analyst"}, {"analytics"})
COMPLIANCE = actor("compliance_officer", {"compliance"}, set())
PRIVACY_OPS = actor("privacy_ops", {"privacy_ops"}, set())
ADMIN = actor("operator", {"admin"}, set())


# -- each verdict, and the order in which they are checked ------------------------------


def test_role_is_checked_before_anything_about_the_purpose() -> None:
    for purpose in ("support_triage", "no_such_purpose", ""):
        decision = decide(CONTRACT, ANALYST, Action.COLLECT, purpose, ["x"])
        assert decision.verdict is Verdict.ROLE_NOT_ALLOWED
        assert decision.role == ""
        assert decision.released == ()
        assert "frontend" in decision.reason and "agent" in decision.reason


def test_admin_reads_no_personal_data() -> None:
    for action in Action:
        decision = decide(CONTRACT, ADMIN, action, "support_triage")
        assert decision.verdict is Verdict.ROLE_NOT_ALLOWED, action


@pytest.mark.parametrize("action", sorted(Action))
def test_every_action_needs_one_of_its_roles(action: Action) -> None:
    for role in Role:
        someone = actor("support_widget", {role}, {"support_triage"})
        decision = decide(CONTRACT, someone, action, "support_triage", consent_granted=True)
        if role in ROLES_FOR_ACTION[action]:
            assert decision.verdict is not Verdict.ROLE_NOT_ALLOWED
            assert decision.role == role
        else:
            assert decision.verdict is Verdict.ROLE_NOT_ALLOWED


def test_the_role_reported_is_one_that_allows_the_action() -> None:
    both = actor("agent_console", {"frontend", "agent", "analyst"}, {"agent_assist"})
    decision = decide(CONTRACT, both, Action.READ_HANDOFF, "agent_assist")
    assert decision.allowed and decision.role == "agent"
    decision = decide(CONTRACT, both, Action.COLLECT, "agent_assist")
    assert decision.allowed and decision.role in {"agent", "frontend"}


@pytest.mark.parametrize("purpose", ["", "marketing", "Onboarding", "onboarding "])
def test_unknown_purpose_comes_before_claimability(purpose: str) -> None:
    nobody = actor("stranger", {"frontend"}, set())
    decision = decide(CONTRACT, nobody, Action.READ_SIGNALS, purpose, ["signup_plan"])
    assert decision.verdict is Verdict.PURPOSE_UNKNOWN
    assert decision.role == "frontend"
    assert decision.released == ()


def test_not_claimable_when_the_principal_has_not_configured_the_purpose() -> None:
    # The contract lists web_frontend for onboarding; this actor's configuration does not.
    assert "web_frontend" in CONTRACT.purposes["onboarding"].principals
    configured_without = actor("web_frontend", {"frontend"}, {"checkout_recovery"})
    decision = decide(CONTRACT, configured_without, Action.COLLECT, "onboarding")
    assert decision.verdict is Verdict.PURPOSE_NOT_CLAIMABLE


def test_not_claimable_when_the_contract_does_not_list_the_principal() -> None:
    # The actor's configuration claims onboarding; the contract does not list it.
    assert "support_widget" not in CONTRACT.purposes["onboarding"].principals
    overreaching = actor("support_widget", {"frontend"}, {"onboarding", "support_triage"})
    for action in (Action.COLLECT, Action.SET_CONSENT, Action.READ_SEGMENTS):
        decision = decide(CONTRACT, overreaching, action, "onboarding", consent_granted=True)
        assert decision.verdict is Verdict.PURPOSE_NOT_CLAIMABLE


def test_claimability_comes_before_consent_and_release() -> None:
    decision = decide(CONTRACT, WIDGET, Action.READ_SIGNALS, "onboarding", ["cart_item_count"])
    assert decision.verdict is Verdict.PURPOSE_NOT_CLAIMABLE


def test_consent_comes_before_release() -> None:
    decision = decide(CONTRACT, WEB, Action.READ_SIGNALS, "onboarding", ["cart_item_count"])
    assert decision.verdict is Verdict.CONSENT_REQUIRED
    assert decision.refused == ()
    granted = decide(
        CONTRACT,
        WEB,
        Action.READ_SIGNALS,
        "onboarding",
        ["cart_item_count"],
        consent_granted=True,
    )
    assert granted.verdict is Verdict.ITEMS_NOT_RELEASED


CONSENT_PURPOSES = sorted(
    p.name for p in CONTRACT.purposes.values() if p.legal_basis is LegalBasis.CONSENT
)


@pytest.mark.parametrize(
    ("action", "gated"),
    [
        (Action.COLLECT, False),  # accepted; the recorder keeps only consenting subjects
        (Action.SET_CONSENT, False),  # granting must not need a grant
        (Action.READ_SEGMENTS, True),
        (Action.READ_SIGNALS, True),
        (Action.READ_HANDOFF, True),
        # Differentially private counts over subjects who consented to be collected.
        (Action.READ_AGGREGATES, False),
    ],
)
def test_consent_is_needed_only_for_reads_about_a_subject(action: Action, gated: bool) -> None:
    assert "onboarding" in CONSENT_PURPOSES and "analytics" in CONSENT_PURPOSES
    for purpose in CONSENT_PURPOSES:
        principal = sorted(CONTRACT.purposes[purpose].principals)[0]
        someone = actor(principal, set(ROLES_FOR_ACTION[action]), {purpose})
        without = decide(CONTRACT, someone, action, purpose)
        assert (without.verdict is Verdict.CONSENT_REQUIRED) is gated, (purpose, without)
        assert decide(CONTRACT, someone, action, purpose, consent_granted=True).allowed


@pytest.mark.parametrize("purpose", ["checkout_recovery", "support_triage", "account_retention"])
def test_no_consent_needed_for_other_legal_bases(purpose: str) -> None:
    assert CONTRACT.purposes[purpose].legal_basis is not LegalBasis.CONSENT
    principal = sorted(CONTRACT.purposes[purpose].principals)[0]
    someone = actor(principal, {"frontend"}, {purpose})
    decision = decide(CONTRACT, someone, Action.READ_SEGMENTS, purpose, consent_granted=False)
    assert decision.allowed


def test_segments_release_the_allowed_subset() -> None:
    decision = decide(
        CONTRACT,
        WEB,
        Action.READ_SEGMENTS,
        "account_retention",
        ["returning_visitor", "new_visitor", "vip"],
    )
    assert decision.verdict is Verdict.ALLOWED
    assert decision.requested == ("new_visitor", "returning_visitor", "vip")
    assert decision.released == ("returning_visitor",)


def test_segments_of_a_purpose_that_releases_none_release_nothing() -> None:
    decision = decide(CONTRACT, WEB, Action.READ_SEGMENTS, "checkout_recovery", ["new_visitor"])
    assert decision.allowed and decision.released == ()


def test_signals_are_refused_wholly() -> None:
    decision = decide(
        CONTRACT,
        WIDGET,
        Action.READ_SIGNALS,
        "support_triage",
        ["last_error_code", "pages_viewed_24h", "failed_logins_1h", "cart_item_count"],
    )
    assert decision.verdict is Verdict.ITEMS_NOT_RELEASED
    assert decision.released == ()
    assert decision.refused == ("cart_item_count", "pages_viewed_24h")
    assert "cart_item_count" in decision.reason and "pages_viewed_24h" in decision.reason


def test_signals_all_released_are_released() -> None:
    decision = decide(
        CONTRACT,
        WIDGET,
        Action.READ_SIGNALS,
        "support_triage",
        ["last_error_code", "failed_logins_1h", "last_error_code"],
    )
    assert decision.allowed
    assert decision.released == ("failed_logins_1h", "last_error_code")
    assert decision.refused == ()


def test_a_purpose_releasing_no_signals_refuses_every_name() -> None:
    for name in CONTRACT.signals:
        decision = decide(CONTRACT, WEB, Action.READ_SIGNALS, "account_retention", [name])
        assert decision.verdict is Verdict.ITEMS_NOT_RELEASED
        assert decision.refused == (name,)


@pytest.mark.parametrize(
    ("who", "action"),
    [
        (COMPLIANCE, Action.QUERY_ACCESS_LOG),
        (COMPLIANCE, Action.VERIFY_ACCESS_LOG),
        (PRIVACY_OPS, Action.EXPORT_SUBJECT),
        (PRIVACY_OPS, Action.ERASE_SUBJECT),
    ],
)
def test_actions_without_a_purpose_ignore_the_purpose(who: Actor, action: Action) -> None:
    assert action not in PURPOSE_BEARING
    for purpose in ("", "no_such_purpose", "onboarding"):
        assert decide(CONTRACT, who, action, purpose).allowed


def test_allowed_collection() -> None:
    decision = decide(CONTRACT, AGENT, Action.COLLECT, "agent_assist")
    assert decision == Decision(Verdict.ALLOWED, decision.reason, "agent")


# -- purity -----------------------------------------------------------------------------


def test_decide_is_deterministic_and_ignores_request_order_and_duplicates() -> None:
    names = ["last_error_code", "cart_item_count", "failed_logins_1h"]
    first = decide(CONTRACT, WIDGET, Action.READ_SIGNALS, "support_triage", names)
    again = decide(CONTRACT, WIDGET, Action.READ_SIGNALS, "support_triage", list(names))
    reordered = decide(
        CONTRACT, WIDGET, Action.READ_SIGNALS, "support_triage", [*reversed(names), names[0]]
    )
    one_shot = decide(CONTRACT, WIDGET, Action.READ_SIGNALS, "support_triage", iter(names))
    assert first == again == reordered == one_shot
    assert names == ["last_error_code", "cart_item_count", "failed_logins_1h"]


def test_decide_does_not_depend_on_earlier_calls() -> None:
    args: tuple[Any, ...] = (CONTRACT, WEB, Action.READ_SIGNALS, "onboarding", ["signup_plan"])
    before = decide(*args)
    decide(*args, consent_granted=True)
    decide(CONTRACT, ANALYST, Action.COLLECT, "analytics")
    assert decide(*args) == before


# -- enforce ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "action", "purpose", "requested", "error"),
    [
        (ANALYST, Action.COLLECT, "support_triage", [], RoleNotAllowed),
        (WIDGET, Action.COLLECT, "onboarding", [], PurposeNotClaimable),
        (WEB, Action.READ_SIGNALS, "onboarding", ["signup_plan"], ConsentRequired),
        (WIDGET, Action.READ_SIGNALS, "support_triage", ["cart_item_count"], ReleaseNotAllowed),
    ],
    ids=["role", "claim", "consent", "release"],
)
def test_enforce_raises_the_denial_matching_the_verdict(
    who: Actor, action: Action, purpose: str, requested: list[str], error: type[Denied]
) -> None:
    decision = decide(CONTRACT, who, action, purpose, requested)
    with pytest.raises(error) as raised:
        enforce(decision)
    assert type(raised.value) is error
    assert raised.value.decision is decision
    assert str(raised.value) == decision.reason


def test_enforce_answers_an_unknown_purpose_as_invalid_input() -> None:
    decision = decide(CONTRACT, WEB, Action.COLLECT, "marketing")
    with pytest.raises(InvalidRequest) as raised:
        enforce(decision)
    assert [v.field for v in raised.value.violations] == ["purpose"]
    assert "marketing" in raised.value.violations[0].description


def test_enforce_returns_an_allowing_decision_unchanged() -> None:
    decision = decide(CONTRACT, WIDGET, Action.READ_SIGNALS, "support_triage", ["last_error_code"])
    assert enforce(decision) is decision


def test_every_verdict_is_reachable_and_enforced() -> None:
    seen = {
        decide(CONTRACT, ANALYST, Action.COLLECT, "support_triage").verdict,
        decide(CONTRACT, WEB, Action.COLLECT, "nope").verdict,
        decide(CONTRACT, WIDGET, Action.COLLECT, "onboarding").verdict,
        decide(CONTRACT, WEB, Action.READ_SEGMENTS, "onboarding").verdict,
        decide(CONTRACT, WEB, Action.READ_SIGNALS, "account_retention", ["signup_plan"]).verdict,
        decide(CONTRACT, WEB, Action.COLLECT, "onboarding").verdict,
    }
    assert seen == set(Verdict)


def test_verdict_values_are_the_ones_on_the_wire() -> None:
    # Denials carry them in google.rpc.ErrorInfo (reason, metadata["outcome"]): the
    # Python name may change, the values never.
    assert {v.name: v.value for v in Verdict} == {
        "ALLOWED": "allowed",
        "ROLE_NOT_ALLOWED": "role_not_allowed",
        "PURPOSE_UNKNOWN": "purpose_unknown",
        "PURPOSE_NOT_CLAIMABLE": "purpose_not_claimable",
        "CONSENT_REQUIRED": "consent_required",
        "ITEMS_NOT_RELEASED": "items_not_released",
    }


# -- properties -------------------------------------------------------------------------

PURPOSE_NAMES = sorted(CONTRACT.purposes)
PRINCIPAL_NAMES = sorted({n for p in CONTRACT.purposes.values() for n in p.principals})
ITEM_NAMES = sorted({*CONTRACT.signals, *CONTRACT.segments})

actors = st.builds(
    actor,
    st.sampled_from(PRINCIPAL_NAMES) | st.text(max_size=12),
    st.sets(st.sampled_from(sorted(Role)) | st.text(max_size=8), max_size=4),
    st.sets(st.sampled_from(PURPOSE_NAMES) | st.text(max_size=8), max_size=5),
)
purposes = st.sampled_from(PURPOSE_NAMES) | st.sampled_from(["", "marketing"]) | st.text()
requests = st.lists(st.sampled_from(ITEM_NAMES) | st.text(max_size=16), max_size=8)


@example(  # found by Hypothesis: a handoff withholds what the purpose does not release
    who=actor("analyst", {"agent"}, {"analytics"}),
    action=Action.READ_HANDOFF,
    purpose="analytics",
    requested=["account_role"],
    consent=True,
)
@given(
    who=actors,
    action=st.sampled_from(sorted(Action)),
    purpose=purposes,
    requested=requests,
    consent=st.booleans(),
)
def test_decide_never_releases_more_than_it_may(
    who: Actor, action: Action, purpose: str, requested: list[str], consent: bool
) -> None:
    decision = decide(CONTRACT, who, action, purpose, requested, consent_granted=consent)
    assert set(decision.released) <= set(requested)
    assert set(decision.refused) <= set(requested)
    assert decision.requested == tuple(sorted(set(requested)))
    if not decision.allowed:
        assert decision.released == ()
    elif action is Action.READ_HANDOFF:  # shows what it may, withholds (names) the rest
        assert set(decision.released) | set(decision.refused) == set(requested)
        assert not set(decision.released) & set(decision.refused)
    else:
        assert decision.refused == ()
    if decision.allowed:
        assert decision.role in ROLES_FOR_ACTION[action] and decision.role in who.roles
    if decision.allowed and action in PURPOSE_BEARING:
        found = CONTRACT.purposes[purpose]
        assert who.name in found.principals and purpose in who.purposes
        if action is Action.READ_SIGNALS:
            assert set(decision.released) <= found.releases_signals
            assert decision.released == decision.requested  # never a partial answer
        if action in {Action.READ_SEGMENTS, Action.READ_HANDOFF}:
            releases = {
                Action.READ_SEGMENTS: found.releases_segments,
                Action.READ_HANDOFF: found.releases_signals,
            }[action]
            assert set(decision.released) <= releases
        if action in {Action.READ_SEGMENTS, Action.READ_SIGNALS, Action.READ_HANDOFF}:
            assert consent or found.legal_basis is not LegalBasis.CONSENT
    if decision.verdict is Verdict.ITEMS_NOT_RELEASED:
        assert decision.refused, "a refusal names what it refuses"
    # Pure: asked again, in another order, the same answer.
    assert (
        decide(CONTRACT, who, action, purpose, reversed(requested), consent_granted=consent)
        == decision
    )


@example(  # found by Hypothesis: a handoff withholds what the purpose does not release
    who=actor("analyst", {"agent"}, {"analytics"}),
    action=Action.READ_HANDOFF,
    purpose="analytics",
    requested=["account_role"],
    consent=True,
)
@given(
    who=actors,
    action=st.sampled_from(sorted(Action)),
    purpose=purposes,
    requested=requests,
    consent=st.booleans(),
)
def test_enforce_either_returns_the_decision_or_raises_a_privacy_error(
    who: Actor, action: Action, purpose: str, requested: list[str], consent: bool
) -> None:
    decision = decide(CONTRACT, who, action, purpose, requested, consent_granted=consent)
    try:
        assert enforce(decision) is decision
    except InvalidRequest:
        assert decision.verdict is Verdict.PURPOSE_UNKNOWN
    except Denied as denied:
        assert denied.decision is decision and not decision.allowed
    else:
        assert decision.allowed
