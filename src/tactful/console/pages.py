"""The console's pages: access log (and one record, and downloads), integrity,
purposes, retention, data-subject requests, privacy budget; the journey scorecards'
page is scorecard_pages.py, the journey releases' release_pages.py."""

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
from tactful.console.charts import daily_chart
from tactful.console.filters import PAGE_SIZE, Filters, read_filters, when
from tactful.console.paging import NO_PAGE, read_page
from tactful.console.release_pages import ReleasePages
from tactful.console.scorecard_pages import ScorecardPages
from tactful.console.security import Session
from tactful.console.sources import RETENTION_RUN, SUBJECT_REQUESTS
from tactful.privacy.access_log import (
    RECORD_FIELDS,
    AccessRecord,
    CheckpointKind,
    record_as_dict,
)
from tactful.privacy.contract import parse_duration
from tactful.privacy.errors import InvalidRequest
from tactful.privacy.explain import explain
from tactful.timestamps import duration_us, to_us


def routes(console: Console) -> list[Route]:
    pages, cards, releases = Pages(console), ScorecardPages(console), ReleasePages(console)
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
        Route("/scorecards", page("scorecards", cards.scorecards), methods=["GET"]),
        Route(
            "/scorecards", page("scorecards.release", cards.release, post=True), methods=["POST"]
        ),
        Route("/releases", page("releases", releases.releases)),
    ]


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
            cleared = replace(filters, subject="").paged().params()
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
        filters = replace(filters, subject=handle).paged()
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
        page = NO_PAGE
        if not (namespace and not pseudonyms):  # a refused search shows nothing
            query = filters.query(pseudonyms)
            page = await self._console.run(read_page, self._sources, query, filters, PAGE_SIZE)
        context = {
            "filters": filters,
            "problems": problems,
            "namespace": namespace,
            "identifier": identifier,
            "pseudonyms": pseudonyms,
            "records": [_row(r) for r in page.records],
            **page.links(filters),
            "download": filters.paged().params(),
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
        "reason": e.reason,
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
        if isinstance(details, dict) and details.get("kind") in ("export", "erasure"):
            kind = details["kind"]  # the console's request workflow says which
    except ValueError:
        pass
    return {
        "sequence": record.sequence,
        "time": when(e.time_us),
        "kind": kind + (" + suppression" if suppressed else ""),
        "principal": e.principal,
        "via": "API"
        if e.method.startswith("tactful.v1.")
        else ("console" if e.method.startswith("tactful.console/") else "command line"),
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
