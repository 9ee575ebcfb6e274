"""`tactful contracts explain`: what flows where, written for a compliance reader."""

from __future__ import annotations

from tactful.privacy.contract import (
    AttributeSpec,
    AttributeType,
    Contract,
    LegalBasis,
    Purpose,
    UndeclaredAttributes,
)
from tactful.privacy.text_attributes import Derived

_BASIS = {
    LegalBasis.CONSENT: "consent: nothing is collected or released for a person "
    "until they grant it; withdrawal deletes what was collected",
    LegalBasis.CONTRACT: "contract: needed to deliver what the person asked for",
    LegalBasis.LEGITIMATE_INTEREST: "legitimate interest",
    LegalBasis.LEGAL_OBLIGATION: "legal obligation",
}


def explain(contract: Contract, purpose: str | None = None) -> str:
    """A plain-text account of one purpose, or of all of them."""
    names = [purpose] if purpose else sorted(contract.purposes)
    return "\n\n".join(_purpose(contract, contract.purposes[name]) for name in names) + "\n"


def _purpose(contract: Contract, purpose: Purpose) -> str:
    collected = []
    for name in sorted(purpose.collects):
        declared = contract.events[name].attributes
        attributes = ", ".join(_attribute(a, declared[a]) for a in sorted(declared))
        attributes = attributes or "no attributes"
        collected.append(f"{name} ({attributes})")
    undeclared = (
        "removed before anything is stored"
        if purpose.undeclared_attributes is UndeclaredAttributes.DROP
        else "the whole batch is refused"
    )
    lines = [
        f"{purpose.name}: {purpose.description}",
        f"  legal basis:  {_BASIS[purpose.legal_basis]}",
        f"  collects:     {'; '.join(collected) or 'nothing'}",
        f"  undeclared attributes: {undeclared}",
        f"  kept for:     {_duration(purpose)}, then deleted by `tactful retention run`",
        f"  segments out: {', '.join(sorted(purpose.releases_segments)) or 'none'}",
        f"  signals out:  {_signals(contract, purpose)}",
        f"  released to:  {', '.join(sorted(purpose.principals)) or 'nobody'}",
    ]
    return "\n".join(lines)


def _attribute(name: str, spec: AttributeSpec) -> str:
    """An attribute's name; for text, that the words are not kept and which labels are."""
    if spec.type is not AttributeType.TEXT:
        return name
    derived = [d.value for d in Derived if d in spec.derive]
    labels = ", ".join(derived[:-1]) + " and " * (len(derived) > 1) + derived[-1]
    return f"{name} [a person's words: never kept, only their {labels} labels]"


def _signals(contract: Contract, purpose: Purpose) -> str:
    if not purpose.releases_signals:
        return "none (no individual signal about a person leaves)"
    return ", ".join(
        f"{name} ({contract.signals[name].description.rstrip('.')})"
        for name in sorted(purpose.releases_signals)
    )


def _duration(purpose: Purpose) -> str:
    seconds = int(purpose.retention.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds % size == 0 and (seconds // size > 1 or size == 1):
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"
