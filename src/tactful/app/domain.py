"""The domain wired from Settings: the stores the engine table opens (app/stores.py)
and the use cases over them, built once for the gRPC server (api/server.py), the
commands (cli/) and the tests.

`open_domain` also does what must happen before anything is served: the identity
rules' renormalization of old pseudonyms, and erasures cut short by a crash.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tactful.app import stores
from tactful.app.settings import Settings
from tactful.app.text import open_classifier
from tactful.journeys.catalogue import JourneyCatalogue
from tactful.journeys.engine import JourneyEngine
from tactful.journeys.holdout import Holdouts
from tactful.journeys.outcome_recorder import OutcomeRecorder
from tactful.journeys.release_store import ReleaseStore
from tactful.journeys.scorecard import Scorecards
from tactful.journeys.staging import StagedRollout
from tactful.lifecycle.rekey import Rekeyer, RekeyReport, describe_renormalization
from tactful.lifecycle.subject_requests import SubjectRequests
from tactful.privacy.access_log import AccessQuery, record_as_dict
from tactful.privacy.consent import ConsentRecorder
from tactful.privacy.contract import AttributeType, Contract, check_principals, load_contract
from tactful.privacy.errors import ContractError
from tactful.privacy.insights import Insights
from tactful.privacy.keyring import KeyringWatcher, add_holdout_key
from tactful.privacy.pseudonym import Pseudonymizer
from tactful.privacy.suppression import Tombstones, migrate_legacy_tombstones
from tactful.privacy.vault import IdentityVault
from tactful.segments.census import Census
from tactful.segments.minimum import MinimumSegmentSize
from tactful.segments.reader import Reader
from tactful.segments.release import Releaser
from tactful.segments.store import tracked_by
from tactful.segments.text_labels import TextClassifier


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Domain:
    """The stores and use cases, built once from Settings: for the server and the CLI."""

    contract: Contract
    pseudonymizer: Pseudonymizer
    tombstones: Tombstones
    vault: IdentityVault
    store: stores.Behavior
    subject_data: stores.SubjectData
    access_log: stores.AccessLog
    consent: ConsentRecorder
    releaser: Releaser
    subjects: SubjectRequests
    budget_ledger: stores.Ledger
    insights: Insights
    minimum: MinimumSegmentSize
    erasures: stores.Outbox
    journey_memory: stores.Memory
    journeys: JourneyEngine
    scorecards: Scorecards
    journey_outcomes: stores.Outcomes
    outcomes: OutcomeRecorder
    releases: ReleaseStore | None = None  # the journeys' versions, followed
    text_classifier: TextClassifier | None = None  # ingest's, when the contract has text

    def close(self) -> None:
        if self.releases is not None:
            self.releases.close()
        for resource in (
            self.journey_outcomes,
            self.journey_memory,
            self.erasures,
            self.budget_ledger,
            self.access_log,
            self.subject_data,
            self.store,
            self.vault,
        ):
            resource.close()


def open_domain(
    settings: Settings, *, renormalized: Callable[[RekeyReport], None] | None = None
) -> Domain:
    contract = load_checked_contract(settings)
    # Before the other stores open: a playbook that does not check or whose cases fail
    # stops the start, as a bad contract does.
    releases = stores.open_releases(settings, contract)
    try:
        catalogue = JourneyCatalogue(contract, releases)
    except BaseException:
        releases.close()
        raise
    # A keyring from before the holdout key: every host's copy derives the same one.
    add_holdout_key(settings.keyring_path, now=utc_now())
    keyring = KeyringWatcher(settings.keyring_path)
    pseudonymizer = Pseudonymizer(keyring.keys("pseudonym"))
    vault = stores.open_vault(settings, keyring.keys("vault"), keyring.keys("pseudonym"))
    subject_data = stores.open_subject_data(settings)
    # Tombstones from before the suppression key, while their pseudonym key is live.
    migrate_legacy_tombstones(settings.keyring_path, subject_data, now=utc_now())
    tombstones = Tombstones(keyring.keys("suppression"))
    # Before anything looks a subject up: under the old rules' pseudonyms, an
    # erasure would miss data that the migration would then bring back.
    if vault.outdated(limit=1, normalization_only=True):
        try:
            report = Rekeyer(pseudonymizer, vault, subject_data, pause_s=0).run(
                now=utc_now(), normalization_only=True
            )
        except BaseException:  # killed halfway: the next start picks up from there
            subject_data.close()
            vault.close()
            raise
        (renormalized or _print_renormalization)(report)
    store = stores.open_behavior(settings, tracked_by(contract))
    access_log = stores.open_access_log(settings, keyring.keys("signing"))
    consent = ConsentRecorder(contract, pseudonymizer, store, tombstones)
    minimum = MinimumSegmentSize(
        Census(contract, store.census_source(on_writer=False)), settings.min_segment_size
    )
    releaser = Releaser(contract, pseudonymizer, store, consent, minimum)
    subjects = SubjectRequests(
        contract,
        pseudonymizer,
        subject_data,
        vault,
        releaser.held,
        _access_history(access_log),
        tombstones,
        erasures := stores.open_erasure_outbox(settings),
    )
    # An erasure cut short (a crash between the vault and the behavior store) is
    # finished before anything is served.
    subjects.finish_erasures()
    budget_ledger = stores.open_budget_ledger(settings)
    insights = Insights(
        contract,
        Census(contract, store.census_source(on_writer=True)),
        budget_ledger,
        budget=settings.insights_budget,
    )
    journey_memory = stores.open_journey_memory(settings)
    journeys = JourneyEngine(
        contract,
        catalogue.playbooks(),
        pseudonymizer,
        consent,
        Reader(contract, store, minimum),
        journey_memory,
        releaser,
        holdouts=Holdouts(contract, keyring.keys("holdout")),
        catalogue=catalogue,
        staging=StagedRollout(keyring.keys("holdout")),
    )
    journey_outcomes = stores.open_journey_outcomes(settings)
    scorecards = Scorecards(
        contract,
        catalogue.playbooks,
        journey_outcomes,
        budget_ledger,
        budget=settings.insights_budget,
        releases=releases,
    )
    # A journey's purpose is the contract's: a promotion never changes it (releases.py).
    outcomes = OutcomeRecorder(
        contract, catalogue.playbooks(), pseudonymizer, consent, journey_memory, journey_outcomes
    )
    return Domain(
        contract,
        pseudonymizer,
        tombstones,
        vault,
        store,
        subject_data,
        access_log,
        consent,
        releaser,
        subjects,
        budget_ledger,
        insights,
        minimum,
        erasures,
        journey_memory,
        journeys,
        scorecards,
        journey_outcomes,
        outcomes,
        releases,
        open_classifier() if _has_text(contract) else None,
    )


def _has_text(contract: Contract) -> bool:
    return any(
        spec.type is AttributeType.TEXT
        for event in contract.events.values()
        for spec in event.attributes.values()
    )


def _print_renormalization(report: RekeyReport) -> None:
    print(f"tactful: {describe_renormalization(report)}", file=sys.stderr, flush=True)
    for pseudonym in report.inseparable:
        print(f"tactful: {pseudonym} may hold two spellings; kept together", file=sys.stderr)
    for pseudonym in report.refused:
        print(f"tactful: {pseudonym} holds a character the rules refuse", file=sys.stderr)


def _access_history(log: stores.AccessLog) -> Callable[[Sequence[str]], list[dict[str, object]]]:
    """The access records about a subject, for their export."""

    def history(pseudonyms: Sequence[str]) -> list[dict[str, object]]:
        records = log.query(AccessQuery(subjects=tuple(pseudonyms)), limit=1_000_000)
        return [record_as_dict(r) for r in records]

    return history


def load_checked_contract(settings: Settings) -> Contract:
    """The contract, checked on its own and against the configured principals."""
    contract = load_contract(settings.contract)
    problems = check_principals(contract, [p.name for p in settings.principals])
    problems += [
        f"principals.{p.name}.purposes: purpose {name!r} is not declared in the contract"
        for p in settings.principals
        for name in sorted(p.purposes - contract.purposes.keys())
    ]
    if problems:
        raise ContractError(str(settings.contract), problems)
    return contract
