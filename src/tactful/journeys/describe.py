"""A playbook as a compliance officer reads it (`tactful journeys explain JOURNEY`): the
purpose it serves and its legal basis, what each action is, when it may be taken, what
holds it back, what it reads, and what the person is told."""

from __future__ import annotations

from datetime import timedelta

from tactful.journeys import conditions as c
from tactful.journeys.decide import categories
from tactful.journeys.playbook import Action, Cap, Constraints, Playbook
from tactful.privacy import rules as r
from tactful.privacy.contract import Contract


def describe_playbook(playbook: Playbook, contract: Contract) -> str:
    purpose = contract.purposes[playbook.purpose]
    ladder = playbook.ladder
    read: set[str] = set()
    for action in playbook.actions.values():
        read |= categories(action.eligibility) | categories(action.applicability)
        read |= categories(action.suitability)
    lines = [
        f"journey {playbook.journey} (playbook version {playbook.version}, owner {playbook.owner})",
        f"  purpose:     {purpose.name} ({purpose.legal_basis}): {purpose.description}",
        f"  kept for:    {_duration(purpose.retention)} (the purpose's retention), "
        "offers and their results included",
        f"  reads:       {', '.join(sorted(read)) or 'nothing but the journey states'}"
        " (categories; no value ever leaves in a decision)",
        "  fallbacks:   frustrated or urgent: a person; intent confidence below "
        f"{ladder.confidence_threshold:g} or the top two closer than {ladder.ambiguity_margin:g}:"
        f" a clarifying question; below {ladder.moderate_threshold:g}: the most likely action,"
        " least committal; nothing eligible: a person",
        "  priority:    intent confidence × context weight × value × levers",
        *_holdouts(playbook, contract),
        "",
    ]
    for action in playbook.actions.values():
        lines += _action(action, playbook)
    if playbook.cases:
        lines.append(f"  release gates ({len(playbook.cases)} cases):")
        lines += [
            f"    - {case.name}: {case.action} on rung {case.rung}" for case in playbook.cases
        ]
    return "\n".join(lines) + "\n"


def _holdouts(playbook: Playbook, contract: Contract) -> list[str]:
    spec = contract.journeys.get(playbook.journey)
    own = spec.holdout if spec is not None else 0.0
    lines = [
        f"  holdouts:    {own:.0%} of people on this journey, {contract.holdout:.0%} on every"
        " journey (the global holdout)"
    ]
    if playbook.baseline:
        lines.append(f"  baseline:    {playbook.baseline} (what a held-out person gets)")
    if spec is not None and spec.outcomes:
        metric = spec.success_metric or "none"
        lines.append(f"  outcomes:    {', '.join(sorted(spec.outcomes))}; success metric {metric}")
    return lines


def _action(action: Action, playbook: Playbook) -> list[str]:
    p = action.priority
    lines = [f"  action {action.id}: {action.kind}, template {action.template}"]
    for label, condition in (
        ("eligible when", action.eligibility),
        ("applies when", action.applicability),
        ("suitable when", action.suitability),
    ):
        if condition is not None:
            lines.append(f"    {label + ':':15}{condition_in_words(condition)}")
    held = constraints_in_words(action.constraints)
    if action.cost:
        held.append(f"costs {action.cost:g} of the daily budget")
    if held:
        lines.append(f"    {'held back:':15}{'; '.join(held)}")
    lines.append(
        f"    {'priority:':15}context weight {p.context_weight:g} × value {p.value:g}"
        f" × levers {p.levers:g}"
    )
    lines.append(f"    {'tells:':15}{playbook.explanations.get(action.explanation, '')}")
    return [*lines, ""]


def condition_in_words(condition: c.Condition) -> str:
    if isinstance(condition, c.SignalTest):
        return _rule(condition.rule)
    if isinstance(condition, c.InSegment):
        return f"in segment {condition.segment}"
    if isinstance(condition, c.ConsentTest):
        return "consent granted" if condition.granted else "no consent"
    if isinstance(condition, c.IntentTest):
        return f"intent {condition.field} {condition.op} {_value(condition.value)}"
    if isinstance(condition, c.Not):
        return f"not ({condition_in_words(condition.condition)})"
    joiner = " and " if isinstance(condition, c.AllOf) else " or "
    return "(" + joiner.join(condition_in_words(x) for x in condition.conditions) + ")"


def _rule(rule: r.Rule) -> str:
    if isinstance(rule, r.Compare):
        return f"{rule.signal} {rule.op} {_value(rule.value)}"
    if isinstance(rule, r.Not):
        return f"not ({_rule(rule.rule)})"
    joiner = " and " if isinstance(rule, r.AllOf) else " or "
    return "(" + joiner.join(_rule(x) for x in rule.rules) + ")"


def _value(value: object) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(map(str, value)) + "]"
    if isinstance(value, timedelta):
        return _duration(value)
    return repr(value) if isinstance(value, str) else str(value)


def constraints_in_words(rules: Constraints) -> list[str]:
    found = []
    if rules.frequency_cap is not None:
        found.append(f"at most {_cap(rules.frequency_cap)} per person")
    if rules.cooldown is not None:
        found.append(f"{_duration(rules.cooldown)} between offers")
    if rules.never_after_refusal:
        found.append("never again once refused")
    if rules.max_compensations is not None:
        found.append(f"at most {_cap(rules.max_compensations)} compensations per person")
    if rules.daily_compensation_budget is not None:
        found.append(f"a daily compensation budget of {rules.daily_compensation_budget:g}")
    quiet = rules.quiet_hours
    if quiet is not None:
        zone = f"the person's time ({quiet.locale_signal})" if quiet.locale_signal else "UTC"
        found.append(f"quiet {quiet.start:%H:%M}–{quiet.end:%H:%M} in {zone}")
    return found


def _cap(cap: Cap) -> str:
    return f"{cap.count} in {_duration(cap.window)}"


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
