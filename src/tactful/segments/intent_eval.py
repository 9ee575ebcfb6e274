"""Evaluate the intent model on the labelled journeys the repository ships.

    python -m tactful.segments.intent_eval            # accuracy per intent on the held-out part
    python -m tactful.segments.intent_eval --training # the same on the part the weights were set on
    python -m tactful.segments.intent_eval --write    # regenerate segments/data/*.jsonl
    python -m tactful.segments.intent_eval --contract contract.toml  # a contract's [intent]

The examples are generated from per-intent journey templates with a fixed seed,
plus stray events borrowed from other intents (people wander), so the file is
reproducible and a test fails when it is stale. Every fourth example of each label is held out;
the weights in `tactful.segments.intent` were set reading the other three quarters only.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tactful.privacy.contract import load_contract
from tactful.privacy.errors import ContractError
from tactful.privacy.journey_states import IntentModel
from tactful.segments.intent import DEFAULT_MODEL, Intent, infer_intent
from tactful.segments.store import JourneyEvent

EXAMPLES = Path(__file__).parent / "data" / "intent_examples.jsonl"
HELD_OUT_EVERY = 4  # the 4th, 8th, ... example of each label is held out
SEED = 6

Step = dict[str, Any]


def _page(path: str) -> Step:
    return {"type": "page_viewed", "attributes": {"path": path}}


def _event(kind: str, **attributes: Any) -> Step:
    return {"type": kind, "attributes": attributes}


# The steps a person with each intent typically takes; an example draws 2 to 5 of them.
TEMPLATES: Mapping[Intent, Sequence[Step]] = {
    Intent.RESEARCHING: [
        _page("/docs/getting-started"),
        _page("/docs/api"),
        _page("/features"),
        _page("/blog/release-notes"),
        _page("/guides/setup"),
        _page("/pricing"),
    ],
    Intent.COMPARING: [
        _page("/compare/basic-vs-pro"),
        _page("/vs/competitor"),
        _page("/pricing"),
        _page("/pricing/enterprise"),
        _page("/compare/plans"),
    ],
    Intent.PURCHASING: [
        _event("cart_updated", item_count=1, value=49.0),
        _page("/cart"),
        _event("checkout_started", value=49.0),
        _page("/checkout/payment"),
        _event("order_completed", value=49.0),
        _page("/pricing"),
    ],
    Intent.RENEWING: [
        _page("/billing"),
        _page("/billing/renew"),
        _page("/renew"),
        _event("subscription_changed", plan="pro", canceled=False),
        _page("/billing/invoices"),
    ],
    Intent.CANCELING: [
        _page("/account/cancel"),
        _page("/cancel/confirm"),
        _event("subscription_changed", plan="free", canceled=True),
        _page("/billing"),
    ],
    Intent.REPORTING_ISSUE: [
        _event("error_shown", error_code="E500", path="/dashboard"),
        _event("error_shown", error_code="E_TIMEOUT", path="/reports"),
        _page("/status"),
        _page("/help/errors"),
        _event("login_failed", reason="bad_password"),
        _event("payment_failed", error_code="card_declined"),
    ],
    Intent.ESCALATING: [
        _event("support_ticket_opened", category="billing"),
        _event("support_ticket_opened", category="bug"),
        _page("/contact"),
        _page("/help/contact"),
        _event("form_abandoned", form="support"),
        _event("error_shown", error_code="E500", path="/contact"),
    ],
}
AMBIGUOUS: Sequence[Step] = [_page("/"), _page("/account"), _page("/settings")]


@dataclass(frozen=True)
class Example:
    label: Intent
    steps: tuple[JourneyEvent, ...]


def generate_examples(seed: int = SEED, per_intent: int = 20) -> list[dict[str, Any]]:
    """The labelled journeys, as JSON-ready dicts, in a fixed order."""
    rng = random.Random(seed)
    examples = []
    for _ in range(per_intent):
        for intent, template in TEMPLATES.items():
            steps = rng.sample(list(template), rng.randint(2, min(5, len(template))))
            if rng.random() < 0.3:  # a stray step from another intent's journey
                other = rng.choice([i for i in TEMPLATES if i is not intent])
                steps.insert(rng.randrange(len(steps) + 1), rng.choice(TEMPLATES[other]))
            if rng.random() < 0.3:
                steps.insert(0, rng.choice(AMBIGUOUS))
            examples.append({"label": str(intent), "steps": steps})
        if rng.random() < 0.5:
            ambiguous = rng.sample(list(AMBIGUOUS), rng.randint(1, 3))
            examples.append({"label": str(Intent.UNKNOWN), "steps": ambiguous})
    return examples


def write_examples(path: Path = EXAMPLES) -> None:
    lines = [json.dumps(e, sort_keys=True, separators=(",", ":")) for e in generate_examples()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def load_examples(path: Path = EXAMPLES) -> list[Example]:
    examples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        raw = json.loads(line)
        steps = tuple(
            JourneyEvent(s["type"], i * 60_000_000, s.get("attributes", {}))
            for i, s in enumerate(raw["steps"])
        )
        examples.append(Example(Intent(raw["label"]), steps))
    return examples


def split(examples: Sequence[Example]) -> tuple[list[Example], list[Example]]:
    """(training, held out): within each label, every fourth example is held out."""
    seen: dict[Intent, int] = {}
    training: list[Example] = []
    held: list[Example] = []
    for example in examples:
        seen[example.label] = seen.get(example.label, 0) + 1
        (held if seen[example.label] % HELD_OUT_EVERY == 0 else training).append(example)
    return training, held


@dataclass(frozen=True)
class Accuracy:
    label: str
    total: int
    correct: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


def evaluate(examples: Sequence[Example], model: IntentModel = DEFAULT_MODEL) -> list[Accuracy]:
    """Accuracy per label (every intent, unknown included), then overall, of `model`
    (by default the one Tactful ships)."""
    results = []
    for label in Intent:
        mine = [e for e in examples if e.label is label]
        # Newest first, as the store hands them over.
        correct = sum(infer_intent(reversed(e.steps), model).intent is label for e in mine)
        results.append(Accuracy(str(label), len(mine), correct))
    results.append(
        Accuracy("overall", sum(r.total for r in results), sum(r.correct for r in results))
    )
    return results


def report(results: Sequence[Accuracy]) -> str:
    lines = [f"{'intent':<16} {'held-out':>8} {'correct':>8} {'accuracy':>9}"]
    lines += [f"{r.label:<16} {r.total:>8} {r.correct:>8} {r.accuracy:>9.2f}" for r in results]
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    if "--write" in argv:
        write_examples()
        return 0
    training, held = split(load_examples())
    if "--training" in argv:
        held = training
    model = DEFAULT_MODEL
    if "--contract" in argv:
        where = argv[argv.index("--contract") + 1 :]
        if not where:
            print("--contract needs the contract file's path", file=sys.stderr)
            return 2
        try:
            model = load_contract(Path(where[0])).states.intent
        except ContractError as exc:
            print(exc, file=sys.stderr)
            return 1
    print(report(evaluate(held, model)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
