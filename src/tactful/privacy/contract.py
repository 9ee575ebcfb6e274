"""Purpose-limited data contracts: what may be collected, kept and released.

`load_contract` reads one TOML file and checks it whole; every problem is
reported at once, each named by its place in the file (``purposes.onboarding.
collects[2]``) with the fix. A contract that does not check is never used.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from tactful.privacy.errors import ContractError
from tactful.privacy.journey_specs import JourneySpec, parse_global_holdout, parse_journey
from tactful.privacy.journey_states import DEFAULT_STATES, JourneyStates
from tactful.privacy.journey_states_reader import TextSources, parse_journey_states
from tactful.privacy.rules import Rule, parse_rule
from tactful.privacy.text_attributes import (
    INTENT_LABELS,
    SENTIMENTS,
    Derived,
    Kept,
    kept_names,
    parse_derive,
)


class LegalBasis(StrEnum):
    CONSENT = "consent"
    CONTRACT = "contract"
    LEGITIMATE_INTEREST = "legitimate_interest"
    LEGAL_OBLIGATION = "legal_obligation"


class UndeclaredAttributes(StrEnum):
    REJECT = "reject"
    DROP = "drop"


class AttributeType(StrEnum):
    STRING = "string"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    ENUM = "enum"
    TIMESTAMP = "timestamp"
    TEXT = "text"  # a person's words: classified at ingest, never kept (text_attributes.py)


@dataclass(frozen=True)
class AttributeSpec:
    type: AttributeType
    max_length: int | None = None
    values: frozenset[str] = frozenset()
    derive: frozenset[Derived] = frozenset()  # text only: the labels kept instead


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    attributes: Mapping[str, AttributeSpec]  # as sent
    # The labels kept instead of each text attribute (text_attributes.kept_names).
    labels: Mapping[str, AttributeSpec] = field(default_factory=dict)

    def kept(self, name: str) -> AttributeSpec | None:
        """The spec of attribute `name` as stored: a declared one that is not text, or
        a text attribute's label; None for anything never kept."""
        spec = self.attributes.get(name) or self.labels.get(name)
        return None if spec is None or spec.type is AttributeType.TEXT else spec

    def texts(self, derived: Derived) -> tuple[str, ...]:
        """The text attributes that derive `derived`, in declared order."""
        return tuple(n for n, s in self.attributes.items() if derived in s.derive)


class SignalKind(StrEnum):
    COUNT = "count"  # how many events of a type in a window
    LAST_VALUE = "last_value"  # the latest value of one attribute of an event type
    DISTINCT = "distinct"  # how many distinct values of an attribute in a window
    FIRST_SEEN = "first_seen"  # the first event under the purpose, any type
    LAST_SEEN = "last_seen"  # the latest event under the purpose, any type
    INTENT = "intent"  # what the recent events suggest the person is trying to do
    FRUSTRATION = "frustration"  # none, mild or high, from repeated failures in a window
    UNCERTAINTY = "uncertainty"  # none, mild or high, from comparing back and forth
    URGENCY = "urgency"  # none, mild or high, from repeated or late contacts
    RECENT_STEPS = "recent_steps"  # the latest event types and times in a window
    ERROR_CODES = "error_codes"  # the latest error codes shown or returned in a window


# Read over the recent journey (every event type under the purpose), never by a rule.
JOURNEY_KINDS = frozenset(
    {
        SignalKind.INTENT,
        SignalKind.FRUSTRATION,
        SignalKind.UNCERTAINTY,
        SignalKind.URGENCY,
        SignalKind.RECENT_STEPS,
        SignalKind.ERROR_CODES,
    }
)


@dataclass(frozen=True)
class SignalSpec:
    """A named value derived from one event type's events."""

    name: str
    description: str
    kind: SignalKind
    event: str
    window: timedelta | None = None  # count, distinct and the journey kinds
    attribute: str | None = None  # last_value


@dataclass(frozen=True)
class SegmentSpec:
    """A coarse segment: computed by its rule over signals, or built in (no rule)."""

    name: str
    description: str
    rule: Rule | None = None


BUILT_IN_SEGMENTS = frozenset({"new_visitor", "returning_visitor"})  # from first-seen time


@dataclass(frozen=True)
class Purpose:
    name: str
    description: str
    legal_basis: LegalBasis
    collects: frozenset[str]
    releases_segments: frozenset[str]
    releases_signals: frozenset[str]
    principals: frozenset[str]
    retention: timedelta
    undeclared_attributes: UndeclaredAttributes


@dataclass(frozen=True)
class Contract:
    path: str
    events: Mapping[str, EventType]
    segments: Mapping[str, SegmentSpec]
    signals: Mapping[str, SignalSpec]
    purposes: Mapping[str, Purpose]
    # Each journey: its playbook file (relative to the contract's folder), holdout,
    # outcomes and success metric (journey_specs.py).
    journeys: Mapping[str, JourneySpec] = field(default_factory=dict)
    states: JourneyStates = DEFAULT_STATES  # [intent] and [states.*]
    holdout: float = 0.0  # [holdout] share: people held out of every journey


E = TypeVar("E", bound=StrEnum)

_DURATION = re.compile(r"([0-9]{1,7})([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


def parse_duration(text: str) -> timedelta:
    """'30d', '12h', '15m' or '45s' as a timedelta; ValueError otherwise.

    >>> parse_duration("12h")
    datetime.timedelta(seconds=43200)
    """
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if not match or int(match.group(1)) == 0:
        raise ValueError(f'{text!r} is not a duration; write e.g. "30d", "12h", "15m"')
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def load_contract(path: Path) -> Contract:
    """Read and check a contract file; raises ContractError listing every problem."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ContractError(str(path), [f"cannot read: {exc.strerror}"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ContractError(str(path), [f"not valid TOML: {exc}"]) from None
    return parse_contract(document, source=str(path))


def parse_contract(document: Mapping[str, Any], *, source: str = "<contract>") -> Contract:
    """Check a parsed TOML document and build the contract from it."""
    checker = _Checker()
    checker.keys("", document, _TOP_LEVEL_KEYS)
    if not _is_int(document.get("version")) or document.get("version") != 1:
        checker.problem("version", "must be 1; add `version = 1` at the top")
    events = {
        name: _event(checker, name, raw) for name, raw in checker.table(document, "events").items()
    }
    signals = {
        name: _signal(checker, name, raw, events)
        for name, raw in checker.table(document, "signals").items()
    }
    segments = {
        name: _segment(checker, name, raw, signals)
        for name, raw in checker.table(document, "segments").items()
    }
    purposes = {
        name: _purpose(checker, name, raw, events, segments, signals)
        for name, raw in checker.table(document, "purposes").items()
    }
    if not purposes:
        checker.problem("purposes", "no purpose declared; nothing could be collected")
    journeys = {
        name: parse_journey(checker, name, raw)
        for name, raw in checker.table(document, "journeys").items()
    }
    holdout = parse_global_holdout(checker, document)
    states = parse_journey_states(checker, document, events, segments, _text_sources(events))
    if checker.problems:
        raise ContractError(source, checker.problems)
    return Contract(source, events, segments, signals, purposes, journeys, states, holdout)


def _text_sources(events: Mapping[str, EventType]) -> TextSources:
    def by_event(derived: Derived) -> dict[str, tuple[str, ...]]:
        return {name: found for name, e in events.items() if (found := e.texts(derived))}

    return TextSources(by_event(Derived.INTENT), by_event(Derived.SENTIMENT))


def unknown_keys(where: str, table: Mapping[str, Any], known: Iterable[str]) -> list[str]:
    """One problem for each key of `table` that is not one of `known`, named by its place,
    with the nearest known key for a near miss (the contract's and the config's tables).

    >>> unknown_keys("purposes.onboarding", {"collect": []}, ["collects", "retention"])
    ["purposes.onboarding.collect: unknown key; did you mean 'collects'?"]
    """
    known = sorted(known)
    problems = []
    for key in sorted(set(table) - set(known)):
        place = f"{where}.{key}" if where else key
        near = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {near[0]!r}?" if near else f"known keys here: {', '.join(known)}"
        problems.append(f"{place}: unknown key; {hint}")
    return problems


_TOP_LEVEL_KEYS = (
    "version",
    "events",
    "signals",
    "segments",
    "purposes",
    "journeys",
    "holdout",
    "intent",
    "states",
)
_EVENT_KEYS = ("description", "attributes")
_ATTRIBUTE_KEYS = ("type", "max_length", "values", "derive")
_SIGNAL_KEYS = ("description", "kind", "event", "attribute", "window")
_SEGMENT_KEYS = ("description", "rule")
_PURPOSE_KEYS = (
    "description",
    "legal_basis",
    "collects",
    "releases_segments",
    "releases_signals",
    "principals",
    "retention",
    "undeclared_attributes",
)


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")

    def keys(self, where: str, table: Mapping[str, Any], known: Iterable[str]) -> None:
        self.problems.extend(unknown_keys(where, table, known))

    def table(self, parent: Mapping[str, Any], key: str, where: str = "") -> dict[str, Any]:
        place = f"{where}.{key}" if where else key
        value = parent.get(key, {})
        if not isinstance(value, dict):
            self.problem(place, "must be a table")
            return {}
        good = {}
        for name, item in value.items():
            if not _NAME.fullmatch(name):
                self.problem(f"{place}.{name}", "names are lower_snake_case, at most 64 characters")
            elif not isinstance(item, dict):
                self.problem(f"{place}.{name}", "must be a table")
            else:
                good[name] = item
        return good

    def text(self, raw: Mapping[str, Any], key: str, where: str) -> str:
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip():
            self.problem(f"{where}.{key}", "is required and must be non-empty text")
            return ""
        return value

    def names(
        self, raw: Mapping[str, Any], key: str, where: str, known: Mapping[str, Any], kind: str
    ) -> frozenset[str]:
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(f"{where}.{key}", "must be a list of names")
            return frozenset()
        for index, name in enumerate(value):
            if name not in known:
                self.problem(
                    f"{where}.{key}[{index}]",
                    f"{kind} {name!r} is not declared; declare [{kind}s.{name}] or remove it",
                )
        return frozenset(value)

    def choice(
        self, raw: Mapping[str, Any], key: str, where: str, enum: type[E], default: E | None = None
    ) -> E:
        value = raw.get(key, default)
        try:
            return enum(value)
        except (ValueError, TypeError):
            allowed = ", ".join(e.value for e in enum)
            self.problem(f"{where}.{key}", f"{value!r} is not one of {allowed}")
            return next(iter(enum))


def _segment(
    checker: _Checker, name: str, raw: Mapping[str, Any], signals: Mapping[str, SignalSpec]
) -> SegmentSpec:
    where = f"segments.{name}"
    checker.keys(where, raw, _SEGMENT_KEYS)
    description = checker.text(raw, "description", where)
    if "rule" not in raw:
        if name not in BUILT_IN_SEGMENTS:
            checker.problem(
                f"{where}.rule",
                "is required: a rule over signals, e.g. "
                '{ signal = "orders_30d", op = ">=", value = 1 }',
            )
        return SegmentSpec(name, description)
    kinds = {n: str(s.kind) for n, s in signals.items() if s.kind not in JOURNEY_KINDS}
    rule = parse_rule(raw["rule"], f"{where}.rule", kinds, checker.problems)
    return SegmentSpec(name, description, rule)


def _event(checker: _Checker, name: str, raw: Mapping[str, Any]) -> EventType:
    where = f"events.{name}"
    checker.keys(where, raw, _EVENT_KEYS)
    attributes = {
        attr: _attribute(checker, f"{where}.attributes.{attr}", spec)
        for attr, spec in checker.table(raw, "attributes", where).items()
    }
    labels = _labels(checker, where, attributes)
    return EventType(name, checker.text(raw, "description", where), attributes, labels)


_KEPT_SPECS = {
    Kept.INTENT: AttributeSpec(AttributeType.ENUM, values=frozenset(INTENT_LABELS)),
    Kept.SENTIMENT: AttributeSpec(AttributeType.ENUM, values=frozenset(SENTIMENTS)),
    Kept.TEXT: AttributeSpec(AttributeType.STRING, max_length=64),
    Kept.NUMBER: AttributeSpec(AttributeType.FLOAT),
}


def _labels(
    checker: _Checker, where: str, attributes: Mapping[str, AttributeSpec]
) -> dict[str, AttributeSpec]:
    """The labels kept for the event's text attributes; a label may not take the name of
    a declared attribute, whose values it would mix with."""
    labels: dict[str, AttributeSpec] = {}
    for name, spec in attributes.items():
        if spec.type is not AttributeType.TEXT:
            continue
        for label, kind in kept_names(name, spec.derive).items():
            if label in attributes or label in labels:
                checker.problem(
                    f"{where}.attributes.{name}",
                    f"its label {label!r} is the name of another attribute; rename one",
                )
            labels[label] = _KEPT_SPECS[kind]
    return labels


def _attribute(checker: _Checker, where: str, raw: Mapping[str, Any]) -> AttributeSpec:
    checker.keys(where, raw, _ATTRIBUTE_KEYS)
    kind = checker.choice(raw, "type", where, AttributeType)
    max_length: Any = raw.get("max_length")
    if not (_is_int(max_length) and max_length > 0):
        if kind in (AttributeType.STRING, AttributeType.TEXT) or max_length is not None:
            checker.problem(
                f"{where}.max_length",
                f"{kind} needs a positive max_length; max_length must be a positive integer",
            )
        max_length = None
    derive: frozenset[Derived] = frozenset()
    if kind is AttributeType.TEXT:
        derive = parse_derive(checker, where, raw.get("derive"))
    elif "derive" in raw:
        checker.problem(f"{where}.derive", 'only a text attribute derives labels (type = "text")')
    values = raw.get("values")
    if not (isinstance(values, list) and values and all(isinstance(v, str) for v in values)):
        if kind is AttributeType.ENUM or values is not None:
            checker.problem(
                f"{where}.values", "enums need a non-empty list of text values; values must be one"
            )
        values = []
    return AttributeSpec(kind, max_length, frozenset(values), derive)


def _signal(
    checker: _Checker, name: str, raw: Mapping[str, Any], events: Mapping[str, EventType]
) -> SignalSpec:
    where = f"signals.{name}"
    checker.keys(where, raw, _SIGNAL_KEYS)
    description = checker.text(raw, "description", where)
    kind = checker.choice(raw, "kind", where, SignalKind)
    if kind in (SignalKind.FIRST_SEEN, SignalKind.LAST_SEEN):
        return SignalSpec(name, description, kind, "")  # any event under the purpose
    if kind in JOURNEY_KINDS:
        return SignalSpec(name, description, kind, "", window=_window(checker, raw, where, kind))
    event = raw.get("event")
    if not isinstance(event, str) or event not in events:
        checker.problem(f"{where}.event", f"event {event!r} is not declared in [events]")
        return SignalSpec(name, description, kind, "")
    window = None
    if kind in (SignalKind.COUNT, SignalKind.DISTINCT):
        window = _window(checker, raw, where, kind)
    if kind is SignalKind.COUNT:
        return SignalSpec(name, description, kind, event, window=window)
    attribute = raw.get("attribute")
    declared = events[event].attributes.get(attribute) if isinstance(attribute, str) else None
    if declared is not None and declared.type is AttributeType.TEXT:
        labels = ", ".join(kept_names(str(attribute), declared.derive))
        checker.problem(
            f"{where}.attribute",
            f"{attribute!r} is text, which is never kept; read one of its labels: {labels}",
        )
        attribute = None
    elif not isinstance(attribute, str) or events[event].kept(attribute) is None:
        checker.problem(
            f"{where}.attribute",
            f"attribute {attribute!r} is not declared on event {event}; "
            f"declare it under [events.{event}.attributes] or read another one",
        )
        attribute = None
    return SignalSpec(name, description, kind, event, window=window, attribute=attribute)


def _window(
    checker: _Checker, raw: Mapping[str, Any], where: str, kind: SignalKind
) -> timedelta | None:
    try:
        return parse_duration(raw.get("window", ""))
    except ValueError as exc:
        checker.problem(f"{where}.window", f"a {kind} needs a window: {exc}")
        return None


def check_principals(contract: Contract, configured: Iterable[str]) -> list[str]:
    """Problems for every purpose principal that the configuration does not declare."""
    known = set(configured)
    return [
        f"purposes.{purpose.name}.principals: principal {name!r} is not configured; "
        f"add a [[principals]] entry named {name!r} or remove it from the purpose"
        for purpose in contract.purposes.values()
        for name in sorted(purpose.principals - known)
    ]


def _purpose(
    checker: _Checker,
    name: str,
    raw: Mapping[str, Any],
    events: Mapping[str, Any],
    segments: Mapping[str, Any],
    signals: Mapping[str, Any],
) -> Purpose:
    where = f"purposes.{name}"
    checker.keys(where, raw, _PURPOSE_KEYS)
    try:
        retention = parse_duration(raw.get("retention", ""))
    except ValueError as exc:
        checker.problem(f"{where}.retention", str(exc))
        retention = timedelta(0)
    principals = raw.get("principals", [])
    if not isinstance(principals, list) or not all(isinstance(p, str) for p in principals):
        checker.problem(f"{where}.principals", "must be a list of principal names")
        principals = []
    return Purpose(
        name=name,
        description=checker.text(raw, "description", where),
        legal_basis=checker.choice(raw, "legal_basis", where, LegalBasis),
        collects=checker.names(raw, "collects", where, events, "event"),
        releases_segments=checker.names(raw, "releases_segments", where, segments, "segment"),
        releases_signals=checker.names(raw, "releases_signals", where, signals, "signal"),
        principals=frozenset(principals),
        retention=retention,
        undeclared_attributes=checker.choice(
            raw, "undeclared_attributes", where, UndeclaredAttributes, UndeclaredAttributes.REJECT
        ),
    )


def _is_int(value: object) -> bool:
    """True for TOML integers; False for booleans, which Python counts as ints."""
    return isinstance(value, int) and not isinstance(value, bool)
