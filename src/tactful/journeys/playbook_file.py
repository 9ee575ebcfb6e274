"""Reading a playbook file: TOML in, a checked `Playbook` out (playbook.py holds the values).

`load_playbook` reads one playbook file and checks it whole against the contract it
serves under; every problem is reported at once, each named by its place in the file
(``actions.retry_payment.eligibility.signal``) with the fix. A playbook that does not
check is never used. See docs/guide/journeys.md for the format.

Arbitration (`decide.py`) ranks the eligible actions by

    priority = propensity × context weight × value × levers

where the propensity is the intent's confidence and the other three are the action's
declared `priority` parameters (each 1.0 unless declared).

A playbook may condition only on what its purpose releases: the action chosen would
otherwise reveal a signal or segment the caller may not read. Such a playbook is
refused at load, the problem naming the action and the signal.
"""

from __future__ import annotations

import math
import re
import string
import tomllib
from collections.abc import Mapping
from datetime import time, timedelta
from pathlib import Path
from typing import Any

from tactful.journeys.conditions import Condition, parse_condition
from tactful.journeys.errors import PlaybookError
from tactful.journeys.playbook import (
    Action,
    ActionKind,
    Cap,
    Case,
    CaseEvent,
    Constraints,
    Ladder,
    Playbook,
    Priority,
    QuietHours,
    Rung,
)
from tactful.privacy.contract import (
    Contract,
    Purpose,
    SignalKind,
    parse_duration,
    unknown_keys,
)

# What an explanation may name: categories of data and of the decision, never a value.
PLACEHOLDERS = frozenset({"purpose", "journey", "step", "signals", "segments", "intent", "consent"})

_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_TEMPLATE = re.compile(r"[a-z][a-z0-9_.\-]{0,127}")
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_TOP_LEVEL_KEYS = (
    "journey",
    "purpose",
    "owner",
    "version",
    "baseline",
    "changes",
    "ladder",
    "actions",
    "explanations",
    "cases",
)
_LADDER_KEYS = ("confidence_threshold", "ambiguity_margin", "moderate_threshold")
_ACTION_KEYS = (
    "kind",
    "template",
    "explanation",
    "eligibility",
    "applicability",
    "suitability",
    "constraints",
    "priority",
    "cost",
)
_CONDITION_KEYS = ("eligibility", "applicability", "suitability")
_CONSTRAINT_KEYS = (
    "frequency_cap",
    "cooldown",
    "never_after_refusal",
    "max_compensations",
    "daily_compensation_budget",
    "quiet_hours",
)
_CAP_KEYS = ("count", "window")
_QUIET_KEYS = ("start", "end", "locale_signal")
_PRIORITY_KEYS = ("context_weight", "value", "levers")
_CASE_KEYS = ("name", "events", "expect")
_CASE_EVENT_KEYS = ("type", "attributes")
_EXPECT_KEYS = ("action", "rung")
_RUNG_KIND = {Rung.CLARIFY: ActionKind.CLARIFY, Rung.HUMAN: ActionKind.HANDOFF}


def load_playbook(path: Path, contract: Contract) -> Playbook:
    """Read and check a playbook file; raises PlaybookError listing every problem."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlaybookError(str(path), [f"cannot read: {exc.strerror}"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PlaybookError(str(path), [f"not valid TOML: {exc}"]) from None
    return parse_playbook(document, contract, source=str(path))


def parse_playbook(
    document: Mapping[str, Any], contract: Contract, *, source: str = "<playbook>"
) -> Playbook:
    """Check a parsed TOML document against `contract` and build the playbook from it."""
    problems: list[str] = []
    problems.extend(unknown_keys("", document, _TOP_LEVEL_KEYS))
    journey = _name(document, "journey", "", problems)
    purpose_name = _name(document, "purpose", "", problems)
    purpose = contract.purposes.get(purpose_name) if purpose_name else None
    if purpose_name and purpose is None:
        problems.append(
            f"purpose: {purpose_name!r} is not a purpose of the contract; "
            f"one of {', '.join(sorted(contract.purposes))}"
        )
    owner = _text(document, "owner", "", problems)
    version: Any = document.get("version")
    if not _is_int(version) or version < 1:
        problems.append("version: the playbook's version, a positive integer; add `version = 1`")
        version = 0
    ladder = _ladder(_table(document, "ladder", "", problems), problems)
    explanations = {
        name: text
        for name, text in _named(document, "explanations", "", problems, str).items()
        if _explanation(text, f"explanations.{name}", problems)
    }
    actions = {
        name: _action(name, raw, contract, explanations, problems)
        for name, raw in _named(document, "actions", "", problems, dict).items()
    }
    if not actions:
        problems.append("actions: no action declared; a playbook needs at least one")
    elif not any(a.kind is ActionKind.HANDOFF for a in actions.values()):
        problems.append(
            "actions: the fallback ladder ends with a person; declare an action of kind handoff"
        )
    if purpose is not None:
        problems.extend(_leaks(actions, purpose, contract))
    cases = _cases(document, actions, purpose, contract, problems)
    baseline = _baseline(document, actions, problems)
    changes = document.get("changes", "")
    if not isinstance(changes, str):
        problems.append(
            'changes: what this version changed, in words, e.g. "retry twice, not three times"'
        )
        changes = ""
    if problems:
        raise PlaybookError(source, problems)
    assert isinstance(version, int)
    return Playbook(
        source, journey, purpose_name, owner, version, ladder, actions, explanations, cases,
        baseline, changes,
    )  # fmt: skip


def _baseline(
    document: Mapping[str, Any], actions: Mapping[str, Action], problems: list[str]
) -> str | None:
    """The action a held-out person gets (what the product did before), if declared."""
    if "baseline" not in document:
        return None
    baseline = _name(document, "baseline", "", problems)
    if baseline and actions and baseline not in actions:
        problems.append(
            f"baseline: {baseline!r} is not an action of this playbook; "
            f"one of {', '.join(sorted(actions))}"
        )
    return baseline or None


def _leaks(actions: Mapping[str, Action], purpose: Purpose, contract: Contract) -> list[str]:
    """One problem for each signal, segment or intent an action reads that the purpose
    does not release (the action chosen would reveal it)."""
    intents = {n for n, s in contract.signals.items() if s.kind is SignalKind.INTENT}
    problems = []
    for name, action in actions.items():
        read = action.reads()
        for signal in sorted(read.signals - purpose.releases_signals):
            problems.append(
                f"actions.{name}: reads signal {signal!r}, which purpose {purpose.name!r} "
                "does not release; the action would reveal it. Release it in the purpose "
                "or condition on something it releases"
            )
        for segment in sorted(read.segments - purpose.releases_segments):
            problems.append(
                f"actions.{name}: reads segment {segment!r}, which purpose {purpose.name!r} "
                "does not release; the action would reveal it. Release it in the purpose "
                "or condition on something it releases"
            )
        if read.intent and not intents & purpose.releases_signals:
            problems.append(
                f"actions.{name}: reads the intent, and purpose {purpose.name!r} releases "
                "no signal of kind intent; the action would reveal it"
            )
    return problems


def _ladder(raw: Mapping[str, Any], problems: list[str]) -> Ladder:
    problems.extend(unknown_keys("ladder", raw, _LADDER_KEYS))
    default = Ladder()
    values = {}
    for key in _LADDER_KEYS:
        value = raw.get(key, getattr(default, key))
        if not _number(value) or not 0 <= value <= 1:
            problems.append(f"ladder.{key}: a number from 0 to 1")
            value = getattr(default, key)
        values[key] = float(value)
    ladder = Ladder(**values)
    if ladder.confidence_threshold > ladder.moderate_threshold:
        problems.append(
            "ladder.moderate_threshold: must be at least confidence_threshold "
            f"({ladder.confidence_threshold})"
        )
    return ladder


def _action(
    name: str,
    raw: Mapping[str, Any],
    contract: Contract,
    explanations: Mapping[str, str],
    problems: list[str],
) -> Action:
    where = f"actions.{name}"
    problems.extend(unknown_keys(where, raw, _ACTION_KEYS))
    try:
        kind = ActionKind(str(raw.get("kind")))
    except (ValueError, TypeError):
        allowed = ", ".join(k.value for k in ActionKind)
        problems.append(f"{where}.kind: {raw.get('kind')!r} is not one of {allowed}")
        kind = ActionKind.NOTHING
    template = raw.get("template")
    if not isinstance(template, str) or not _TEMPLATE.fullmatch(template):
        problems.append(
            f"{where}.template: the approved template's id, e.g. "
            '"checkout.retry_payment.v2" (lower case, digits, _ . -)'
        )
        template = ""
    explanation = raw.get("explanation")
    if not isinstance(explanation, str) or explanation not in explanations:
        problems.append(
            f"{where}.explanation: {explanation!r} is not declared; name one of the [explanations]"
        )
        explanation = ""
    kinds = {n: str(s.kind) for n, s in contract.signals.items()}
    conditions: dict[str, Condition | None] = {}
    for key in _CONDITION_KEYS:
        conditions[key] = (
            parse_condition(raw[key], f"{where}.{key}", kinds, set(contract.segments), problems)
            if key in raw
            else None
        )
    constraints = _constraints(
        _table(raw, "constraints", where, problems),
        f"{where}.constraints",
        kind,
        contract,
        problems,
    )
    priority = _priority(_table(raw, "priority", where, problems), f"{where}.priority", problems)
    cost = raw.get("cost", 0.0)
    if not _number(cost) or cost < 0:
        problems.append(f"{where}.cost: a number, 0 or more (the budget's currency)")
        cost = 0.0
    elif cost and kind is not ActionKind.COMPENSATE:
        problems.append(f"{where}.cost: only a compensate action has a cost")
    return Action(
        name,
        kind,
        template,
        explanation,
        conditions["eligibility"],
        conditions["applicability"],
        conditions["suitability"],
        constraints,
        priority,
        float(cost),
    )


def _constraints(
    raw: Mapping[str, Any],
    where: str,
    kind: ActionKind,
    contract: Contract,
    problems: list[str],
) -> Constraints:
    problems.extend(unknown_keys(where, raw, _CONSTRAINT_KEYS))
    frequency_cap = _cap(raw, "frequency_cap", where, problems)
    cooldown = None
    if "cooldown" in raw:
        cooldown = _duration(raw["cooldown"], f"{where}.cooldown", problems)
    never = raw.get("never_after_refusal", False)
    if not isinstance(never, bool):
        problems.append(f"{where}.never_after_refusal: true or false")
        never = False
    max_compensations = _cap(raw, "max_compensations", where, problems)
    budget = raw.get("daily_compensation_budget")
    if budget is not None and (not _number(budget) or not budget > 0):
        problems.append(f"{where}.daily_compensation_budget: a positive number")
        budget = None
    for key in ("max_compensations", "daily_compensation_budget"):
        if key in raw and kind is not ActionKind.COMPENSATE:
            problems.append(f"{where}.{key}: only for an action of kind compensate")
    quiet = None
    if "quiet_hours" in raw:
        quiet = _quiet_hours(raw["quiet_hours"], f"{where}.quiet_hours", contract, problems)
    return Constraints(
        frequency_cap,
        cooldown,
        never,
        max_compensations,
        float(budget) if budget is not None else None,
        quiet,
    )


def _cap(raw: Mapping[str, Any], key: str, where: str, problems: list[str]) -> Cap | None:
    if key not in raw:
        return None
    place = f"{where}.{key}"
    value = raw[key]
    if not isinstance(value, dict):
        problems.append(f'{place}: a table, e.g. {{ count = 1, window = "24h" }}')
        return None
    problems.extend(unknown_keys(place, value, _CAP_KEYS))
    count: Any = value.get("count")
    if not _is_int(count) or count < 1:
        problems.append(f"{place}.count: a positive integer")
        count = None
    window = _duration(value.get("window"), f"{place}.window", problems)
    if count is None or window is None:
        return None
    return Cap(count, window)


def _quiet_hours(
    raw: Any, where: str, contract: Contract, problems: list[str]
) -> QuietHours | None:
    if not isinstance(raw, dict):
        problems.append(f'{where}: a table, e.g. {{ start = "22:00", end = "08:00" }}')
        return None
    problems.extend(unknown_keys(where, raw, _QUIET_KEYS))
    clocks = []
    for key in ("start", "end"):
        value = raw.get(key)
        match = _CLOCK.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            problems.append(f'{where}.{key}: a time of day, "HH:MM" from "00:00" to "23:59"')
        else:
            clocks.append(time(int(match.group(1)), int(match.group(2))))
    locale = raw.get("locale_signal")
    if locale is not None and (not isinstance(locale, str) or contract.signals.get(locale) is None):
        problems.append(f"{where}.locale_signal: {locale!r} is not a declared signal")
        locale = None
    if len(clocks) != 2:
        return None
    if clocks[0] == clocks[1]:
        problems.append(f"{where}: start and end are the same time; quiet hours need a span")
        return None
    return QuietHours(clocks[0], clocks[1], locale)


def _priority(raw: Mapping[str, Any], where: str, problems: list[str]) -> Priority:
    problems.extend(unknown_keys(where, raw, _PRIORITY_KEYS))
    values = {}
    for key in _PRIORITY_KEYS:
        value = raw.get(key, 1.0)
        if not _number(value) or not value >= 0:
            problems.append(f"{where}.{key}: a number, 0 or more (1.0 unless declared)")
            value = 1.0
        values[key] = float(value)
    return Priority(**values)


def _explanation(text: str, where: str, problems: list[str]) -> bool:
    """True when `text` is plain language whose placeholders name only categories."""
    if not text.strip():
        problems.append(f"{where}: must be non-empty text")
        return False
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        problems.append(f"{where}: {exc}; write {{{{ and }}}} for a literal brace")
        return False
    found = len(problems)
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            problems.append(
                f"{where}: placeholder {{{name}}} is not a data category; an explanation "
                f"names categories, never values: {', '.join(sorted(PLACEHOLDERS))}"
            )
        elif spec or conversion:
            problems.append(f"{where}: placeholder {{{name}}} takes no format or conversion")
    return len(problems) == found


def _cases(
    document: Mapping[str, Any],
    actions: Mapping[str, Action],
    purpose: Purpose | None,
    contract: Contract,
    problems: list[str],
) -> tuple[Case, ...]:
    raw = document.get("cases", [])
    if not isinstance(raw, list):
        problems.append("cases: a list of [[cases]] tables")
        return ()
    cases = []
    names: set[str] = set()
    for index, item in enumerate(raw):
        where = f"cases[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be a table")
            continue
        problems.extend(unknown_keys(where, item, _CASE_KEYS))
        found = len(problems)
        name = _text(item, "name", where, problems)
        if name and name in names:
            problems.append(f"{where}.name: {name!r} is the name of an earlier case")
        names.add(name)
        events = _case_events(item.get("events"), f"{where}.events", purpose, contract, problems)
        expect = item.get("expect")
        if not isinstance(expect, dict):
            problems.append(f'{where}.expect: a table, e.g. {{ action = "…", rung = "none" }}')
            continue
        problems.extend(unknown_keys(f"{where}.expect", expect, _EXPECT_KEYS))
        action: Any = expect.get("action")
        if not isinstance(action, str) or action not in actions:
            problems.append(f"{where}.expect.action: {action!r} is not an action of this playbook")
        try:
            rung = Rung(str(expect.get("rung")))
        except (ValueError, TypeError):
            allowed = ", ".join(r.value for r in Rung)
            problems.append(f"{where}.expect.rung: {expect.get('rung')!r} is not one of {allowed}")
            continue
        wanted = _RUNG_KIND.get(rung)
        if (
            wanted
            and isinstance(action, str)
            and action in actions
            and actions[action].kind is not wanted
        ):
            problems.append(
                f"{where}.expect: rung {rung} answers with an action of kind {wanted}, "
                f"and {action!r} is of kind {actions[action].kind}"
            )
        if len(problems) == found and isinstance(action, str):
            cases.append(Case(name, events, action, rung))
    return tuple(cases)


def _case_events(
    raw: Any, where: str, purpose: Purpose | None, contract: Contract, problems: list[str]
) -> tuple[CaseEvent, ...]:
    if not isinstance(raw, list) or not raw:
        problems.append(f'{where}: a non-empty list of events, e.g. [{{ type = "…" }}]')
        return ()
    events = []
    for index, item in enumerate(raw):
        place = f"{where}[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{place}: must be a table")
            continue
        problems.extend(unknown_keys(place, item, _CASE_EVENT_KEYS))
        kind = item.get("type")
        event = contract.events.get(kind) if isinstance(kind, str) else None
        if event is None:
            problems.append(f"{place}.type: {kind!r} is not an event of the contract")
            continue
        if purpose is not None and kind not in purpose.collects:
            problems.append(f"{place}.type: purpose {purpose.name!r} does not collect {kind!r}")
        attributes = item.get("attributes", {})
        if not isinstance(attributes, dict):
            problems.append(f"{place}.attributes: must be a table")
            continue
        for attribute in sorted(a for a in attributes if event.kept(a) is None):
            problems.append(
                f"{place}.attributes.{attribute}: "
                + (
                    "text is never kept, nor classified here; give its labels instead"
                    if attribute in event.attributes
                    else f"not an attribute of event {kind!r}"
                )
            )
        assert isinstance(kind, str)
        events.append(CaseEvent(kind, dict(attributes)))
    return tuple(events)


def _name(raw: Mapping[str, Any], key: str, where: str, problems: list[str]) -> str:
    value = raw.get(key)
    place = f"{where}.{key}" if where else key
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        problems.append(f"{place}: is required, lower_snake_case, at most 64 characters")
        return ""
    return value


def _text(raw: Mapping[str, Any], key: str, where: str, problems: list[str]) -> str:
    value = raw.get(key)
    place = f"{where}.{key}" if where else key
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{place}: is required and must be non-empty text")
        return ""
    return value


def _table(raw: Mapping[str, Any], key: str, where: str, problems: list[str]) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        problems.append(f"{where}.{key}: must be a table" if where else f"{key}: must be a table")
        return {}
    return value


def _named(
    raw: Mapping[str, Any], key: str, where: str, problems: list[str], kind: type
) -> dict[str, Any]:
    """The entries of table `key` whose names are lower_snake_case and values `kind`."""
    place = f"{where}.{key}" if where else key
    good = {}
    for name, item in _table(raw, key, where, problems).items():
        if not _NAME.fullmatch(name):
            problems.append(f"{place}.{name}: names are lower_snake_case, at most 64 characters")
        elif not isinstance(item, kind):
            shape = "text" if kind is str else "a table"
            problems.append(f"{place}.{name}: must be {shape}")
        else:
            good[name] = item
    return good


def _duration(value: Any, where: str, problems: list[str]) -> timedelta | None:
    try:
        return parse_duration(value)
    except ValueError as exc:
        problems.append(f"{where}: {exc}")
        return None


def _number(value: object) -> bool:
    """True for a finite TOML integer or float (not a boolean, nan or inf)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: object) -> bool:
    """True for TOML integers; False for booleans, which Python counts as ints."""
    return isinstance(value, int) and not isinstance(value, bool)
