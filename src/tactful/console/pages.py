"""The console's pages: access log (and one record, and downloads), integrity,
purposes, retention, data-subject requests, privacy budget, journey scorecards."""

from __future__ import annotations

import csv
import io
import json
import math
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, StreamingResponse
from starlette.routing import Route

from tactful.console.app import Console, View
from tactful.console.charts import daily_chart, uplift_chart
from tactful.console.filters import PAGE_SIZE, Filters, read_filters
from tactful.console.security import Session
from tactful.console.sources import RETENTION_RUN, SUBJECT_REQUESTS
from tactful.journeys.scorecard import ReleasedScorecard
from tactful.privacy.access_log import (
    RECORD_FIELDS,
    AccessRecord,
    CheckpointKind,
    Decided,
    record_as_dict,
)
from tactful.privacy.contract import parse_duration
from tactful.privacy.decisions import Actor, Decision
from tactful.privacy.errors import BudgetExhausted, InvalidRequest
from tactful.privacy.explain import explain
from tactful.privacy.insights import MAX_EPSILON_PER_RELEASE
from tactful.privacy.pending_records import PendingRecord
from tactful.timestamps import duration_us, from_us, to_us


def routes(console: Console) -> list[Route]:
    pages = Pages(console)
    page = console.page
    return [
        Route("/access-log", page("access-log", pages.access_log), methods=["GET"]),
        Route("/access-log", page("access-log", pages.search, post=True), methods=["POST"]),
        Route("/access-log.csv", page("access-log.export", pages.download_csv)),
        Route("/access-log.jsonl", page("access-log.export", pages.download_jsonl)),
        Route("/records/{sequence:int}", page("record", pages.record)),
        Route("/integrity", page("integrity", pages.integrity), methods=["GET"]),
        Route("/integrity", page("integrity.verify", pages.verify, post=True), methods=["POST"]),
        Route("/purposes", page("purposes", pages.purposes)),
        Route("/retention", page("retention", pages.retention)),
        Route("/requests", page("requests", pages.requests)),
        Route("/budget", page("budget", pages.budget)),
        Route("/scorecards", page("scorecards", pages.scorecards), methods=["GET"]),
        Route(
            "/scorecards", page("scorecards.release", pages.release, post=True), methods=["POST"]
        ),
    ]


WINDOWS = (7, 30, 90)  # days a scorecard may look back over
DEFAULT_WINDOW, DEFAULT_EPSILON = 30, 1.0


def when(time_us: int) -> str:
    return from_us(time_us).strftime("%Y-%m-%d %H:%M:%S")


class Pages:
    def __init__(self, console: Console) -> None:
        self._console = console
        self._sources = console.sources

    # -- access log ---------------------------------------------------------------------------

    async def access_log(self, request: Request, session: Session) -> View:
        filters, problems = read_filters(request.query_params)
        namespace, pseudonyms = session.searches.get(filters.subject, ("", ()))
        if filters.subject and not pseudonyms:
            problems.append("subject: that search has expired; search again")
            filters = replace(filters, subject="")
        return await self._listing(filters, problems, namespace, pseudonyms, identifier="")

    async def search(self, request: Request, session: Session) -> View:
        """A subject search: by POST only, so the identifier is in no URL; shown back
        only in the search box of this response."""
        form = await request.form()
        raw = {k: str(v) for k, v in form.items()}
        filters, problems = read_filters(raw)
        namespace = raw.get("namespace", "").strip()
        identifier = raw.get("identifier", "")
        if not identifier.strip():
            cleared = replace(filters, subject="").params()
            return View(response=RedirectResponse(f"/access-log?{cleared}", 303))
        try:
            pseudonyms = await self._console.run(
                self._sources.subject_pseudonyms, namespace, identifier
            )
        except InvalidRequest as exc:
            problems.extend(f"{v.field}: {v.description}" for v in exc.violations)
            return await self._listing(filters, problems, namespace, (), identifier=identifier)
        handle = secrets.token_urlsafe(12)
        session.searches[handle] = (namespace, pseudonyms)
        filters = replace(filters, subject=handle, after=0)
        return await self._listing(filters, problems, namespace, pseudonyms, identifier=identifier)

    async def _listing(
        self,
        filters: Filters,
        problems: list[str],
        namespace: str,
        pseudonyms: tuple[str, ...],
        *,
        identifier: str,
    ) -> View:
        records: list[AccessRecord] = []
        if not (namespace and not pseudonyms):  # a refused search shows nothing
            records = await self._console.run(
                self._sources.records,
                filters.query(pseudonyms),
                after=filters.after,
                limit=PAGE_SIZE + 1,
            )
        more = len(records) > PAGE_SIZE
        records = records[:PAGE_SIZE]
        context = {
            "filters": filters,
            "problems": problems,
            "namespace": namespace,
            "identifier": identifier,
            "pseudonyms": pseudonyms,
            "records": [_row(r) for r in records],
            "next": replace(filters, after=records[-1].sequence).params() if more else "",
            "first": replace(filters, after=0).params() if filters.after else "",
            "download": replace(filters, after=0).params(),
        }
        return View(
            "access_log.html",
            context,
            subjects=pseudonyms,
            reason=filters.described(namespace),
        )

    async def _download(self, request: Request, session: Session, kind: str) -> View:
        filters, problems = read_filters(request.query_params)
        namespace, pseudonyms = session.searches.get(filters.subject, ("", ()))
        if problems or (filters.subject and not pseudonyms):
            return View(
                "refused.html",
                {
                    "message": "These filters cannot be downloaded: "
                    + "; ".join(problems or ["the search expired"])
                },
                reason=filters.described(namespace),
                status=400,
            )
        reason = json.dumps(
            {"format": kind, **json.loads(filters.described(namespace))}, sort_keys=True
        )
        view = View(subjects=pseudonyms, reason=reason)
        # The records as the log stood before this download's own record (which the page
        # wrapper writes before the body is read), as `tactful audit export` does.
        body = _csv_lines if kind == "csv" else _jsonl_lines
        stamp = self._console.clock().strftime("%Y%m%dT%H%M%SZ")
        view.response = StreamingResponse(
            body(self._console, filters.query(pseudonyms), lambda: view.recorded),
            media_type="text/csv; charset=utf-8" if kind == "csv" else "application/x-ndjson",
            headers={"content-disposition": f'attachment; filename="access-log-{stamp}.{kind}"'},
        )
        return view

    async def download_csv(self, request: Request, session: Session) -> View:
        return await self._download(request, session, "csv")

    async def download_jsonl(self, request: Request, session: Session) -> View:
        return await self._download(request, session, "jsonl")

    async def record(self, request: Request, session: Session) -> View:
        sequence = int(request.path_params["sequence"])
        record = await self._console.run(self._sources.record, sequence)
        if record is None:
            return View(
                "refused.html",
                {"message": f"No record {sequence} (never written, or truncated)."},
                reason=json.dumps({"sequence": sequence}),
                status=404,
            )
        before, after = await self._console.run(self._sources.neighbours, sequence)
        checkpoints = await self._console.run(self._sources.checkpoints)
        signed = min(
            (
                c
                for c in checkpoints
                if c.kind is CheckpointKind.CHECKPOINT and c.sequence >= sequence
            ),
            key=lambda c: c.sequence,
            default=None,
        )
        context = {
            "record": record,
            "fields": record_as_dict(record),
            "before": before,
            "after": after,
            "signed": {
                "sequence": signed.sequence,
                "time": when(signed.time_us),
                "key": signed.key_version,
            }
            if signed
            else None,
        }
        return View(
            "record.html",
            context,
            subjects=record.entry.subjects,
            reason=json.dumps({"sequence": sequence}),
        )

    # -- integrity ----------------------------------------------------------------------------

    async def integrity(self, request: Request, session: Session) -> View:
        if self._console.last_check is None:
            self._console.last_check = await self._console.run(
                self._sources.verify, now=self._console.clock()
            )
        return await self._integrity_view("shown")

    async def verify(self, request: Request, session: Session) -> View:
        self._console.last_check = await self._console.run(
            self._sources.verify, now=self._console.clock()
        )
        return await self._integrity_view("verified now")

    async def _integrity_view(self, what: str) -> View:
        check = self._console.last_check
        checkpoints = await self._console.run(self._sources.checkpoints)
        rows = [
            {
                "kind": str(c.kind),
                "sequence": c.sequence,
                "time": when(c.time_us),
                "key": c.key_version,
                "hash": c.record_hash,
            }
            for c in reversed(checkpoints[-200:])
        ]
        verdict = check.verification
        reason = json.dumps(
            {"action": what, "intact": verdict.intact, "first_bad": verdict.first_bad_sequence}
        )
        context = {
            "check": check,
            "verdict": verdict,
            "checked_at": check.checked_at.strftime("%Y-%m-%d %H:%M:%S"),
            "checkpoints": rows,
            "checkpoint_count": len(checkpoints),
            "truncations": [
                {"first": t.first_removed, "last": t.last_removed, "time": when(t.time_us)}
                for t in check.truncations
            ],
        }
        return View("integrity.html", context, reason=reason)

    # -- purposes -----------------------------------------------------------------------------

    async def purposes(self, request: Request, session: Session) -> View:
        contract = self._sources.contract
        days = self._console.settings.console.chart_days
        today = (
            self._console.clock().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        )
        since, until = today - timedelta(days=days - 1), today + timedelta(days=1)
        shown = []
        for name in sorted(contract.purposes):
            counts = await self._console.run(
                self._sources.daily_counts, name, since_us=to_us(since), until_us=to_us(until)
            )
            shown.append(
                {
                    "name": name,
                    "explained": explain(contract, name).rstrip(),
                    "chart": daily_chart(counts),
                    "since": since.date().isoformat(),
                }
            )
        return View(
            "purposes.html", {"purposes": shown, "days": days}, reason=json.dumps({"days": days})
        )

    # -- retention ----------------------------------------------------------------------------

    async def retention(self, request: Request, session: Session) -> View:
        records = await self._console.run(self._sources.by_methods, (RETENTION_RUN,), newest=100)
        receipts = [_receipt(r) for r in records]
        now = self._console.clock()
        period = parse_duration(self._console.settings.console.retention_warning)
        newest = records[0].entry.time_us if records else None
        late = newest is None or to_us(now) - newest > duration_us(period)
        context = {
            "receipts": receipts,
            "late": late,
            "period": self._console.settings.console.retention_warning,
            "newest": when(newest) if newest else "",
        }
        return View("retention.html", context, reason=json.dumps({"receipts": len(receipts)}))

    # -- data-subject requests ----------------------------------------------------------------

    async def requests(self, request: Request, session: Session) -> View:
        records = await self._console.run(self._sources.by_methods, SUBJECT_REQUESTS, newest=200)
        rows = [_request(r) for r in records]
        return View("requests.html", {"requests": rows}, reason=json.dumps({"shown": len(rows)}))

    # -- privacy budget -----------------------------------------------------------------------

    async def budget(self, request: Request, session: Session) -> View:
        debits = await self._console.run(self._sources.debits)
        total = self._console.settings.insights_budget
        analysts = sorted(
            {p.name for p in self._console.settings.principals if "analyst" in p.roles}
            | {d.principal for d in debits}
        )
        rows = []
        for name in analysts:
            spent = math.fsum(d.epsilon for d in debits if d.principal == name)
            rows.append(
                {
                    "principal": name,
                    "spent": round(spent, 12),
                    "remaining": max(0.0, round(total - spent, 12)),
                    "releases": sum(1 for d in debits if d.principal == name),
                }
            )
        releases = [
            {
                "time": when(d.debited_at_us),
                "principal": d.principal,
                "purpose": d.purpose,
                "epsilon": d.epsilon,
            }
            for d in reversed(debits[-500:])
        ]
        context = {"budget": total, "analysts": rows, "releases": releases}
        return View("budget.html", context, reason=json.dumps({"analysts": len(rows)}))

    # -- journey scorecards -------------------------------------------------------------------

    async def scorecards(self, request: Request, session: Session) -> View:
        """The form only: a scorecard spends budget, so it is released by POST alone."""
        context = self._scorecard_form("", DEFAULT_WINDOW, str(DEFAULT_EPSILON), [])
        debits = await self._console.run(self._sources.debits)
        spent = math.fsum(d.epsilon for d in debits if d.principal == session.principal)
        context["left"] = max(0.0, round(self._console.settings.insights_budget - spent, 12))
        return View("scorecards.html", context, reason=json.dumps({"action": "form"}))

    async def release(self, request: Request, session: Session) -> View:
        """A scorecard released as the signed-in officer, through the domain's release
        (its decision, its debit): recorded as the RPC's would be, with the journey's purpose."""
        form = await request.form()
        journey = str(form.get("journey", "")).strip()
        raw_epsilon = str(form.get("epsilon", "")).strip()
        problems: list[str] = []
        try:
            days = int(str(form.get("days", "")))
        except ValueError:
            days = 0
        if days not in WINDOWS:
            problems.append(f"window: choose one of {', '.join(map(str, WINDOWS))} days")
            days = DEFAULT_WINDOW
        try:
            epsilon = float(raw_epsilon)
        except ValueError:
            problems.append("epsilon: must be a number above 0, e.g. 1")
            epsilon = math.nan
        context = self._scorecard_form(journey, days, raw_epsilon, problems)
        asked = {"journey": journey, "days": days, "epsilon": raw_epsilon}
        if problems:
            return _refused_release(context, asked, "INVALID_ARGUMENT", status=400)
        now = self._console.clock()
        until_us = to_us(now)
        since_us = until_us - days * 86_400_000_000
        kept: list[PendingRecord] = []

        def owed(decision: Decision, purpose: str) -> PendingRecord:
            """The page's record, made with the debit (as the RPC's is with its own)."""
            reason = json.dumps({**asked, "epsilon": epsilon, "decision": decision.reason})
            entry = self._console.entry(
                "scorecards.release", session.principal, reason=reason, purpose=purpose
            )
            kept.append(PendingRecord(entry))
            return kept[-1]

        try:
            card = await self._console.run(
                self._sources.scorecard,
                self._actor(session),
                journey,
                since_us,
                until_us,
                epsilon,
                now=now,
                owed=owed,
            )
        except InvalidRequest as exc:
            problems.extend(f"{v.field}: {v.description}" for v in exc.violations)
            return _refused_release(context, asked, "INVALID_ARGUMENT", status=400)
        except BudgetExhausted as exc:
            context["exhausted"] = (
                f"Your privacy budget is spent: {exc.remaining} of epsilon"
                f" {self._console.settings.insights_budget} is left and this scorecard asks"
                f" for {exc.requested}. Nothing was released or spent; ask for a smaller"
                " epsilon, or wait until the operator grants a new budget."
            )
            return _refused_release(context, asked, "RESOURCE_EXHAUSTED", status=429)
        context["card"] = _card(card, since_us, until_us)
        (pending,) = kept
        return View("scorecards.html", context, purpose=card.purpose, owed=pending)

    def _actor(self, session: Session) -> Actor:
        """The signed-in officer as the contract knows them (their roles, their purposes)."""
        for p in self._console.settings.principals:
            if p.name == session.principal:
                return Actor(p.name, p.roles, p.purposes)
        return Actor(session.principal, frozenset({"compliance"}), frozenset())

    def _scorecard_form(
        self, journey: str, days: int, epsilon: str, problems: list[str]
    ) -> dict[str, Any]:
        return {
            "journeys": self._sources.journeys(),
            "journey": journey,
            "windows": WINDOWS,
            "days": days,
            "epsilon": epsilon,
            "max_epsilon": MAX_EPSILON_PER_RELEASE,
            "budget": self._console.settings.insights_budget,
            "problems": problems,
            "exhausted": "",
            "card": None,
            "left": None,  # the officer's budget left, on the form alone
        }


def _refused_release(context: dict[str, Any], asked: dict[str, Any], status_text: str, *,
                     status: int) -> View:  # fmt: skip
    reason = json.dumps({**asked, "refused": context["problems"] or context["exhausted"]})
    return View(
        "scorecards.html",
        context,
        reason=reason,
        decided=Decided.DENIED,
        outcome=status_text,
        status=status,
    )


def _card(card: ReleasedScorecard, since_us: int, until_us: int) -> dict[str, Any]:
    """A released scorecard as the page shows it."""
    success = [u for u in card.uplifts if u.figure == card.success_metric]
    return {
        "journey": card.journey,
        "purpose": card.purpose,
        "metric": card.success_metric,
        "since": when(since_us),
        "until": when(until_us),
        "min_people": card.min_people,
        "spent": card.epsilon_spent,
        "remaining": card.epsilon_remaining,
        "groups": [
            {
                "name": f"v{g.playbook_version} {g.arm}" + (f" / {g.action}" if g.action else ""),
                "people": g.people,
                "withheld": g.withheld,
                "figures": [
                    {
                        "name": f.name,
                        "value": "–" if f.value is None else f"{f.value:.3f}",
                        "interval": ""
                        if f.low is None or f.high is None
                        else f"{f.low:.3f} to {f.high:.3f}",
                    }
                    for f in g.figures
                ],
            }
            for g in card.groups
        ],
        "withheld": [
            f"v{g.playbook_version} {g.arm}" + (f" / {g.action}" if g.action else "")
            for g in card.groups
            if g.withheld
        ],
        "uplifts": [
            {
                "version": u.playbook_version,
                "figure": u.figure,
                "difference": f"{u.difference:+.3f}",
                "interval": f"{u.low:+.3f} to {u.high:+.3f}",
                "treatment": f"{u.treatment:.3f}",
                "holdout": f"{u.holdout:.3f}",
            }
            for u in card.uplifts
        ],
        "chart": uplift_chart([(u.playbook_version, u.difference, u.low, u.high) for u in success])
        if success
        else None,
        "statistics": [
            {
                "name": s.name,
                "epsilon": f"{s.epsilon:.4f}",
                "sensitivity": s.sensitivity,
                "scale": f"{s.scale:.2f}",
            }  # fmt: skip
            for s in card.statistics
        ],
    }


def _row(record: AccessRecord) -> dict[str, Any]:
    e = record.entry
    return {
        "sequence": record.sequence,
        "time": when(e.time_us),
        "principal": e.principal,
        "method": e.method,
        "purpose": e.purpose,
        "subjects": e.subjects,
        "decision": str(e.decision),
        "status": e.status,
    }


def _receipt(record: AccessRecord) -> dict[str, Any]:
    try:
        receipt = json.loads(record.entry.reason)
    except ValueError:
        receipt = {}
    deleted = receipt.get("deleted", {}) if isinstance(receipt, dict) else {}
    stores: list[dict[str, Any]] = []
    for store, counts in sorted(deleted.items()) if isinstance(deleted, dict) else ():
        if isinstance(counts, dict):
            stores.extend(
                {"store": store, "purpose": p, "count": n} for p, n in sorted(counts.items())
            )
        else:
            stores.append({"store": store, "purpose": "", "count": counts})
    return {
        "sequence": record.sequence,
        "recorded": when(record.entry.time_us),
        "principal": record.entry.principal,
        "started_at": receipt.get("started_at", "") if isinstance(receipt, dict) else "",
        "cutoffs": sorted((receipt.get("cutoffs") or {}).items())
        if isinstance(receipt, dict)
        else [],
        "identity_cutoff": receipt.get("identity_cutoff") if isinstance(receipt, dict) else None,
        "deleted": stores,
    }


def _request(record: AccessRecord) -> dict[str, Any]:
    e = record.entry
    kind = "erasure" if "rase" in e.method else "export"
    suppressed = False
    try:
        details = json.loads(e.reason)
        suppressed = bool(isinstance(details, dict) and details.get("suppressed"))
    except ValueError:
        pass
    return {
        "sequence": record.sequence,
        "time": when(e.time_us),
        "kind": kind + (" + suppression" if suppressed else ""),
        "principal": e.principal,
        "via": "API" if e.method.startswith("tactful.v1.") else "command line",
        "subjects": e.subjects,
        "decision": str(e.decision),
        "status": e.status,
        "reason": e.reason,
    }


def _csv_cells(record: AccessRecord) -> dict[str, object]:
    """A record as `tactful audit export --format csv` writes it."""
    e = record.entry
    lists = {"requested": e.requested, "released": e.released, "subjects": e.subjects}
    return record_as_dict(record) | {name: ",".join(items) for name, items in lists.items()}


async def _csv_lines(console: Console, query: Any, before: Callable[[], int]) -> AsyncIterator[str]:
    out = io.StringIO()
    writer = csv.DictWriter(out, RECORD_FIELDS)
    writer.writeheader()
    async for batch in _batches(console, query, before):
        for record in batch:
            writer.writerow(_csv_cells(record))
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()


async def _jsonl_lines(
    console: Console, query: Any, before: Callable[[], int]
) -> AsyncIterator[str]:
    async for batch in _batches(console, query, before):
        yield "".join(json.dumps(record_as_dict(r), ensure_ascii=False) + "\n" for r in batch)


async def _batches(
    console: Console, query: Any, before: Callable[[], int]
) -> AsyncIterator[list[AccessRecord]]:
    after = 0
    while True:
        page = await console.run(console.sources.records, query, after=after, limit=5_000)
        kept = [r for r in page if r.sequence < before()]
        if kept:
            yield kept
        if len(kept) < len(page) or len(page) < 5_000:
            return
        after = page[-1].sequence
