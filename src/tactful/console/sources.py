"""What the console reads, opened from Settings in one place.

The console goes through the domain's objects (the access log's `query`, `verify`
and `checkpoints`, the contract, the privacy budget's ledger), never SQL of its own,
so that a storage engine other than SQLite changes this module and nothing else.

It keeps no behavior store or vault open (the journey outcomes only when a scorecard is
asked for, to release it as the domain does; the whole domain, as `tactful subjects`
opens it, only while it executes a data-subject request): it needs the keyring's pseudonym keys (to
find a subject's records under every live key version, as `QueryAccessLog` does)
and its signing keys (to verify checkpoints, and to sign the head after its own
records), the access log, the budget ledger, the contract and the token file.
It writes only its own access records, through the access log's `append`, which
any number of processes may call (each takes the write lock in turn).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime

from tactful.app import stores
from tactful.app.auth import Authenticator
from tactful.app.domain import Domain, load_checked_contract, open_domain
from tactful.app.settings import ConfigError, Settings
from tactful.journeys.catalogue import JourneyCatalogue
from tactful.journeys.releases import Staging, Version, history, live, staged
from tactful.journeys.scorecard import ReleasedScorecard, Scorecards
from tactful.lifecycle.request_workflow import Recorder, RequestWorkflow
from tactful.lifecycle.subject_requests import SubjectRequests
from tactful.privacy.access_log import (
    AccessEntry,
    AccessQuery,
    AccessRecord,
    Checkpoint,
    Decided,
    Verification,
)
from tactful.privacy.access_log_verify import Truncation
from tactful.privacy.contract import Contract
from tactful.privacy.decisions import Actor, Decision
from tactful.privacy.insights import Debit
from tactful.privacy.keyring import KeyringWatcher
from tactful.privacy.pending_records import PendingRecord
from tactful.privacy.pseudonym import Pseudonymizer

RETENTION_RUN = "tactful.cli/retention.run"
# Data-subject requests, over the API and from the command line.
SUBJECT_REQUESTS = (
    "tactful.v1.Subjects/ExportSubject",
    "tactful.v1.Subjects/EraseSubject",
    "tactful.cli/subjects.export",
    "tactful.cli/subjects.erase",
    # Executed (or failed) through the console's requests (lifecycle/request_workflow.py).
    "tactful.console/subject-request.executed",
    "tactful.console/subject-request.downloaded",
    "tactful.console/subject-request.failed",
)
# Promotions, rollbacks and guardrail rollbacks (`tactful journeys promote|rollback|guard`).
JOURNEY_RELEASES = tuple(f"tactful.cli/journeys.{a}" for a in ("promote", "rollback", "guard"))
_PAGE = 10_000  # records read at a time when the console counts or lists


@dataclass(frozen=True)
class DailyCount:
    day: date
    calls: int
    denials: int


@dataclass(frozen=True)
class CheckedLog:
    """A full verification, and what the truncation checkpoints removed (intact only)."""

    verification: Verification
    truncations: tuple[Truncation, ...]
    checked_at: datetime


class Sources:
    """The stores the console reads, and the access log it records its own views in."""

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime]) -> None:
        if not settings.keyring_path.exists():
            raise ConfigError(f"no keyring at {settings.keyring_path}: the console needs it")
        self.contract: Contract = load_checked_contract(settings)
        keyring = KeyringWatcher(settings.keyring_path)
        self._pseudonymizer = Pseudonymizer(keyring.keys("pseudonym"))
        # Wherever the engine keeps it (a file in the data folder, or PostgreSQL).
        try:
            self._log = stores.open_access_log(settings, keyring.keys("signing"), must_exist=True)
        except ConfigError as exc:
            raise ConfigError(
                f"{exc}: start `tactful serve` on these stores first "
                "(the console only reads what the server keeps)"
            ) from None
        self._ledger = stores.open_budget_ledger(settings)
        self._settings = settings
        self._outcomes: stores.Outcomes | None = None  # opened by the first scorecard
        self._scorecards: Scorecards | None = None
        self._requests: stores.Requests | None = None  # opened by the first request page
        self._domain: Domain | None = None  # open while a request executes
        self._tokens = stores.open_tokens(settings)
        # Where the servers find the playbook versions: on PostgreSQL the database,
        # read afresh on each look (not followed); otherwise the contract's folder.
        self._releases = stores.open_releases(settings, self.contract, listen=False)
        self.authenticator = Authenticator(settings.principals, self._tokens, clock=clock)

    # -- the access log -------------------------------------------------------------------

    def subject_pseudonyms(self, namespace: str, identifier: str) -> tuple[str, ...]:
        """The subject's pseudonyms under every live key version (InvalidRequest if the
        namespace or identifier cannot be one)."""
        return self._pseudonymizer.resolve(namespace, identifier)

    def records(self, query: AccessQuery, *, after: int, limit: int) -> list[AccessRecord]:
        return self._log.query(query, after_sequence=after, limit=limit)

    def records_before(
        self, query: AccessQuery, *, before: int | None, limit: int
    ) -> list[AccessRecord]:
        """The `limit` newest matching records before sequence `before` (None: the
        newest of all), newest first."""
        return self._log.query(query, before_sequence=before, limit=limit, newest_first=True)

    def sequence_at(self, time_us: int) -> int:
        """The newest record's sequence at or before `time_us`, 0 if none."""
        return self._log.sequence_at(time_us)

    def all_records(self, query: AccessQuery) -> Iterator[AccessRecord]:
        """Every matching record, a page at a time (for downloads and counts)."""
        after = 0
        while True:
            page = self._log.query(query, after_sequence=after, limit=_PAGE)
            yield from page
            if len(page) < _PAGE:
                return
            after = page[-1].sequence

    def record(self, sequence: int) -> AccessRecord | None:
        found = self._log.query(AccessQuery(), after_sequence=sequence - 1, limit=1)
        return found[0] if found and found[0].sequence == sequence else None

    def neighbours(self, sequence: int) -> tuple[int | None, int | None]:
        """The sequences of the records just before and after `sequence` in the chain."""
        following = self._log.query(AccessQuery(), after_sequence=sequence, limit=1)
        before = self.record(sequence - 1) if sequence > 1 else None
        return (
            before.sequence if before else None,
            following[0].sequence if following else None,
        )

    def verify(self, *, now: datetime) -> CheckedLog:
        verification = self._log.verify()
        cuts = tuple(self._log.truncations()) if verification.intact else ()
        return CheckedLog(verification, cuts, now)

    def checkpoints(self) -> list[Checkpoint]:
        """The signed checkpoints, from the file outside the database ([] if unreadable:
        verification names that problem)."""
        try:
            return self._log.checkpoints()
        except (ValueError, KeyError, TypeError):
            return []

    def daily_counts(self, purpose: str, *, since_us: int, until_us: int) -> list[DailyCount]:
        """Calls and denials per UTC day under `purpose`, oldest day first."""
        calls: dict[date, int] = {}
        denials: dict[date, int] = {}
        query = AccessQuery(since_us=since_us, until_us=until_us, purpose=purpose)
        for record in self.all_records(query):
            day = _day(record.entry.time_us)
            calls[day] = calls.get(day, 0) + 1
            if record.entry.decision is Decided.DENIED:
                denials[day] = denials.get(day, 0) + 1
        first, last = _day(since_us), _day(until_us - 1)
        days = [date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1)]
        return [DailyCount(d, calls.get(d, 0), denials.get(d, 0)) for d in days]

    def by_methods(self, methods: tuple[str, ...], *, newest: int) -> list[AccessRecord]:
        """The newest `newest` records of any of `methods`, newest first."""
        found: list[AccessRecord] = []
        for method in methods:
            found.extend(self.all_records(AccessQuery(method=method)))
        found.sort(key=lambda r: r.sequence, reverse=True)
        return found[:newest]

    def append(self, entry: AccessEntry, *, now_us: int) -> AccessRecord:
        """Write the console's own access record (AccessLogUnavailable if it cannot)."""
        (written,) = self._log.append([entry], now_us=now_us)
        return written

    def sign_head(self, *, now_us: int) -> None:
        self._log.checkpoint(now_us=now_us)

    # -- the privacy budget -----------------------------------------------------------------

    def debits(self) -> list[Debit]:
        return self._ledger.debits()

    # -- scorecards -------------------------------------------------------------------------

    def journeys(self) -> list[str]:
        """The contract's journeys, by name."""
        return sorted(self.contract.journeys)

    def playbook_versions(self, journey: str) -> tuple[Version, list[Version]]:
        """The journey's live playbook version (read now, where the servers read it: a
        promotion or a rollback changes it without a restart) and those kept for a
        rollback, newest first (PlaybookError if the live version does not load)."""
        return live(self.contract, journey, self._releases), history(
            self.contract, journey, self._releases
        )

    def staged_version(self, journey: str) -> Staging | None:
        """The version staged for a share of the treatment arm, if any (PlaybookError if
        it does not load)."""
        return staged(self.contract, journey, self._releases)

    def scorecard(
        self, actor: Actor, journey: str, since_us: int, until_us: int, epsilon: float, *,
        now: datetime, owed: Callable[[Decision, str], PendingRecord],
    ) -> ReleasedScorecard:  # fmt: skip
        """The domain's scorecard release (the decision, the debit, the noise), as
        Insights.GetScorecard makes it: `owed` is the page's access record, kept with the
        debit until it is durable (the servers' recovery writes it if the console cannot).
        The journey stores open on the first call."""
        if self._scorecards is None:
            catalogue = JourneyCatalogue(self.contract, self._releases)
            self._outcomes = stores.open_journey_outcomes(self._settings)
            self._scorecards = Scorecards(
                self.contract,
                catalogue.playbooks,
                self._outcomes,
                self._ledger,
                budget=self._settings.insights_budget,
                releases=self._releases,
            )
        return self._scorecards.release(
            actor, journey, since_us, until_us, epsilon, now=now, owed=owed
        )

    # -- data-subject requests ---------------------------------------------------------------

    def subject_requests(self, record: Recorder) -> RequestWorkflow:
        """The request workflow, its steps recorded by `record`; its store opens on the
        first call, and the domain's stores only while a request executes."""
        if self._requests is None:
            self._requests = stores.open_subject_requests(self._settings)
        return RequestWorkflow(self._requests, record, self._open_subjects, self._close_subjects)

    def _open_subjects(self) -> SubjectRequests:
        # As `tactful subjects` does: every store opened, erasures cut short finished.
        self._domain = open_domain(self._settings)
        return self._domain.subjects

    def _close_subjects(self) -> None:
        if self._domain is not None:
            self._domain.close()
            self._domain = None

    def recorded(self, pending: PendingRecord) -> None:
        """`pending`'s record is durable: its copy beside the debit is dropped."""
        self._ledger.drop_pending_records([pending.key])

    def close(self) -> None:
        if self._outcomes is not None:
            self._outcomes.close()
        if self._requests is not None:
            self._requests.close()
        self._tokens.close()
        self._releases.close()
        self._ledger.close()
        self._log.close()


def _day(time_us: int) -> date:
    return date.fromordinal(date(1970, 1, 1).toordinal() + time_us // 86_400_000_000)
