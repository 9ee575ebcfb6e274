""" "Why this", for the person: a decision's explanation, rendered from the playbook's
approved text with categories of data filled in, never values.

The placeholders (checked when the playbook loads) become:
- {signals}: the contract's descriptions of the signals the decision read, in a list
  and in the second person ("the language the person chose last" reads "the
  language you chose last");
- {segments}: the segments read that the person is in, by name ("active customer"):
  a condition that reads a segment the person is not in ("not an enterprise admin")
  does not say "you are" one;
- {purpose}, {journey}: their names in words ("checkout recovery");
- {step}: the step the frontend named, in words, or "this step";
- {intent}: "what your recent steps suggest you are doing"; {consent}: "your consent
  choices".
A category the decision did not read says so plainly ("no personal signals").

>>> words_list(["a", "b", "c"])
'a, b and c'
"""

from __future__ import annotations

from collections.abc import Sequence

from tactful.journeys import decide
from tactful.journeys.playbook import Playbook
from tactful.privacy.contract import Contract

NO_SIGNALS = "no personal signals"
NO_SEGMENTS = "no customer group"
INTENT_WORDS = "what your recent steps suggest you are doing"
CONSENT_WORDS = "your consent choices"


def words_list(items: Sequence[str]) -> str:
    """Items joined as a sentence would: "a", "a and b", "a, b and c"."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def in_words(name: str) -> str:
    return name.replace("_", " ").strip()


def explain(
    playbook: Playbook,
    decision: decide.Decision,
    contract: Contract,
    *,
    step: str,
    member_of: frozenset[str] = frozenset(),
) -> str:
    """The decision's explanation for the person; "" when its action has none.
    `member_of`: the person's segments among those the decision read."""
    action = playbook.actions.get(decision.action or "")
    if action is None:
        return ""
    text = playbook.explanations.get(action.explanation, "")
    signals = sorted(
        c.removeprefix("signal:") for c in decision.categories if c.startswith("signal:")
    )
    segments = sorted(
        name
        for c in decision.categories
        if c.startswith("segment:") and (name := c.removeprefix("segment:")) in member_of
    )
    described = [_described(contract, name) for name in signals]
    if decide.INTENT in decision.categories and "{intent}" not in text:
        described.append(INTENT_WORDS)
    return text.format(
        signals=words_list(described) or NO_SIGNALS,
        segments=words_list([in_words(s) for s in segments]) or NO_SEGMENTS,
        purpose=in_words(playbook.purpose),
        journey=in_words(playbook.journey),
        step=in_words(step) or "this step",
        intent=INTENT_WORDS,
        consent=CONSENT_WORDS,
    )


def _described(contract: Contract, signal: str) -> str:
    spec = contract.signals.get(signal)
    if spec is None or not spec.description:
        return in_words(signal)
    text = spec.description.strip().rstrip(".")
    text = text[:1].lower() + text[1:]
    # Written for a compliance reader ("the person"); told to the person themselves.
    return text.replace("the person's", "your").replace("the person", "you")
