"""The journey memory's row, the same on every engine: its columns in order, and the
value a row of them stores (journeys/memory.py's Remembered)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tactful.journeys.memory import OfferResult, Remembered

COLUMNS = (
    "decision_id, pseudonym, purpose, journey, action, kind, rung, playbook_version,"
    " offered_at_us, result, amount, arm"
)


def remembered(row: Sequence[Any]) -> Remembered:
    """A row of COLUMNS as the value it stores."""
    (decision_id, pseudonym, purpose, journey, action, kind, rung, version, at, result, amount,
     arm) = row  # fmt: skip
    return Remembered(
        decision_id, pseudonym, purpose, journey, action, kind, rung, version, at,
        OfferResult(result), float(amount), arm,
    )  # fmt: skip
