"""The console's journey releases page: per journey, the live playbook version and the
versions kept for a rollback, its guardrails, and every promotion, rollback and
guardrail rollback the access log holds, with its reason, newest first; the journeys
released most recently first.

The command line records each as `tactful.cli/journeys.promote|rollback|guard` with the
reason "journey NAME: version A -> B: WHY" (or "version A -> B (HOW): WHY", e.g. a
staged rollout's share; a guardrail's WHY starts "guardrail: "), so
an officer reads "rolled back automatically by guardrail: complaint rose from 3.0 % …"
beside the version that is live now."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request

from tactful.console.app import Console, View
from tactful.console.filters import when
from tactful.console.security import Session
from tactful.console.sources import JOURNEY_RELEASES
from tactful.journeys.errors import PlaybookError
from tactful.privacy.access_log import AccessRecord
from tactful.privacy.journey_specs import JourneySpec

NEWEST = 500  # release records read, newest first
_REASON = re.compile(
    r"journey (?P<journey>[a-z][a-z0-9_]*): version (?P<before>\d+) -> (?P<after>\d+)"
    r"(?: \((?P<how>[^)]*)\))?: (?P<why>.*)",
    re.S,
)
_GUARDRAIL = "guardrail: "
_DONE = {"promote": "promoted", "rollback": "rolled back", "guard": "rolled back automatically"}


class ReleasePages:
    def __init__(self, console: Console) -> None:
        self._console = console
        self._sources = console.sources

    async def releases(self, request: Request, session: Session) -> View:
        records = await self._console.run(self._sources.by_methods, JOURNEY_RELEASES, newest=NEWEST)
        events = [_event(r) for r in records]
        journeys = [
            await self._console.run(
                self._journey, name, [e for e in events if e["journey"] == name]
            )
            for name in self._sources.journeys()
        ]
        # The journeys released most recently first, then those never released.
        journeys.sort(key=lambda j: -j["events"][0]["sequence"] if j["events"] else 0)
        known = set(self._sources.journeys())
        context = {
            "journeys": journeys,
            "others": [e for e in events if e["journey"] not in known],
            "newest": NEWEST,
        }
        reason = json.dumps({"journeys": len(journeys), "records": len(records)})
        return View("releases.html", context, reason=reason)

    def _journey(self, name: str, events: list[dict[str, Any]]) -> dict[str, Any]:
        spec = self._sources.contract.journeys[name]
        shown: dict[str, Any] = {
            "name": name,
            "guards": _guards(spec),
            "events": events,
            "problem": "",
            "live": None,
            "staged": None,
            "kept": [],
        }
        try:
            current, kept = self._sources.playbook_versions(name)
        except PlaybookError as exc:
            shown["problem"] = str(exc)
            return shown
        shown["live"] = {
            "version": current.version,
            "hash": current.content_hash[:19],
            "owner": current.owner,
            "changes": current.changes,
        }
        shown["kept"] = [f"v{v.version}" for v in kept if v.version != current.version]
        try:
            staging = self._sources.staged_version(name)
        except PlaybookError as exc:
            shown["problem"] = f"the staged version does not load: {exc}"
            return shown
        if staging is not None:
            shown["staged"] = {
                "version": staging.version.version,
                "hash": staging.version.content_hash[:19],
                "share": f"{staging.share:.0%}",
                "changes": staging.version.changes,
            }
        return shown


def _guards(spec: JourneySpec) -> str:
    if not spec.guards:
        return ""
    each = ", ".join(f"{guard} +{threshold:.1%}" for guard, threshold in spec.guards.items())
    return (
        f"{each} at most, beyond chance at the {spec.guard_significance:g} level, over "
        f"{spec.guard_min_sample} treated decisions a version"
    )


def _event(record: AccessRecord) -> dict[str, Any]:
    e = record.entry
    action = e.method.rsplit(".", 1)[-1]
    found = _REASON.fullmatch(e.reason)
    why = found["why"] if found else e.reason
    automatic = action == "guard"
    if automatic and why.startswith(_GUARDRAIL):
        why = why[len(_GUARDRAIL) :]
    return {
        "sequence": record.sequence,
        "time": when(e.time_us),
        "journey": found["journey"] if found else "",
        "action": action,
        "done": _DONE.get(action, action) + (" by guardrail" if automatic else ""),
        "versions": _versions(found) if found else "",
        "before": found["before"] if found else "",
        "principal": e.principal,
        "why": why,
        "automatic": automatic,
    }


def _versions(found: re.Match[str]) -> str:
    how = f" ({found['how']})" if found["how"] else ""
    return f"{found['before']} → {found['after']}{how}"
