"""`tactful scorecard JOURNEY`: a journey's differentially private scorecard, as a table a
product owner reads, or JSON. Run on the server's machine.

It spends the privacy budget of a configured principal with role analyst (the first
one in the config, or `--principal`), exactly as Insights.GetScorecard does for that
principal, and leaves a receipt in the access log before it prints anything.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from tactful.app import receipts
from tactful.app.domain import open_domain
from tactful.app.settings import Settings
from tactful.cli.report import json_option
from tactful.journeys.scorecard import ReleasedScorecard, ScoreGroup
from tactful.journeys.scorecard_figures import Estimate
from tactful.privacy.decisions import Actor
from tactful.timestamps import from_us, to_us

DEFAULT_WINDOW = timedelta(days=30)


def register(
    commands: Any,
    settings_of: Callable[[argparse.Namespace], Settings],
    config_option: Callable[[argparse.ArgumentParser], None],
) -> None:
    command = commands.add_parser(
        "scorecard",
        help="a journey's differentially private scorecard (spends an analyst's budget)",
        description="Did the journey help? Per playbook version, arm and action, with the"
        " uplift over the holdouts; noisy, within the principal's privacy budget.",
    )
    command.add_argument("journey", help="the journey's name, as the contract declares it")
    command.add_argument("--since", help="ISO 8601; decisions at or after (default: 30 days ago)")
    command.add_argument("--until", help="ISO 8601; decisions before (default: now)")
    command.add_argument(
        "--epsilon", type=float, default=0.5, help="privacy loss to spend (default: 0.5)"
    )
    command.add_argument(
        "--principal", help="whose budget (default: the first principal with role analyst)"
    )
    json_option(command)
    config_option(command)
    command.set_defaults(run=lambda args: _scorecard(settings_of(args), args))


def _scorecard(settings: Settings, args: argparse.Namespace) -> int:
    actor = _analyst(settings, args.principal)
    now = datetime.now(UTC)
    until_us = _time(args.until, "--until") or to_us(now)
    since_us = _time(args.since, "--since") or until_us - DEFAULT_WINDOW // timedelta(
        microseconds=1
    )
    domain = open_domain(settings)
    try:
        card = domain.scorecards.release(
            actor, args.journey, since_us, until_us, args.epsilon, now=now
        )
        reason = json.dumps({"principal": actor.name, "epsilon": args.epsilon})
        receipts.record(
            domain.access_log,
            "scorecard",
            args.journey,
            role="analyst",
            now=now,
            reason=reason,
            reads=True,
        )
    finally:
        domain.close()
    print(json.dumps(as_json(card, since_us, until_us), indent=2) if args.json else table(card))
    return 0


def _analyst(settings: Settings, name: str | None) -> Actor:
    for p in settings.principals:
        if (name is None and "analyst" in p.roles) or p.name == name:
            return Actor(p.name, p.roles, p.purposes)
    wanted = f"no principal {name!r}" if name else "no principal with role analyst"
    raise SystemExit(f"tactful: {wanted} in the configuration; its budget is what is spent")


def _time(text: str | None, flag: str) -> int | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SystemExit(
            f"tactful: {flag} {text!r} is not ISO 8601, e.g. 2026-11-01T00:00:00Z"
        ) from None
    return to_us(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def as_json(card: ReleasedScorecard, since_us: int, until_us: int) -> dict[str, Any]:
    document = asdict(card)
    del document["decision"]
    document["since"] = from_us(since_us).isoformat()
    document["until"] = from_us(until_us).isoformat()
    for group in document["groups"]:
        for figure in group["figures"]:
            del figure["variance"]
    return document


def table(card: ReleasedScorecard) -> str:
    metric = card.success_metric or "none declared"
    lines = [
        f"{card.journey}: success metric {metric}",
        f"epsilon {card.epsilon_spent} spent, {card.epsilon_remaining} left;"
        f" groups under {card.min_people} people withheld; 95 % intervals include the noise",
        "",
    ]
    for group in card.groups:
        lines += _group(group)
    if card.uplifts:
        lines += ["", "uplift, treatment minus holdout (journey and global holdout together):"]
        lines += [
            f"  v{u.playbook_version} {u.figure:<34} {u.difference:+10.3f}"
            f"  [{u.low:+.3f}, {u.high:+.3f}]  ({u.treatment:.3f} vs {u.holdout:.3f})"
            for u in card.uplifts
        ]
    lines += ["", f"  {'statistic':<30} {'epsilon':>9} {'sensitivity':>12} {'scale':>12}"]
    lines += [
        f"  {s.name:<30} {s.epsilon:>9.4f} {s.sensitivity:>12} {s.scale:>12.2f}"
        for s in card.statistics
    ]
    return "\n".join(lines)


def _group(group: ScoreGroup) -> list[str]:
    name = f"v{group.playbook_version} {group.arm}" + (f" / {group.action}" if group.action else "")
    if group.withheld:
        return [f"{name}: withheld (about {group.people} people)"]
    return [f"{name}: about {group.people} people", *map(_figure, group.figures)]


def _figure(f: Estimate) -> str:
    if f.value is None or f.low is None or f.high is None:
        return f"  {f.name:<34} {'-':>10}"
    return f"  {f.name:<34} {f.value:10.3f}  [{f.low:.3f}, {f.high:.3f}]"
