""" "Did you mean …?" for a name that is not declared: a purpose, a journey, a command.

Only declared names are ever suggested (a contract's purposes and journeys are
configuration, not personal data), and the lookup runs only once a name has been
refused, never on a request that names a declared one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(name: str, known: Iterable[str]) -> str | None:
    """The declared name `name` was most likely meant to be, or None.

    >>> closest("suport_triage", ["onboarding", "support_triage"])
    'support_triage'
    >>> closest("marketing", ["onboarding", "support_triage"]) is None
    True
    """
    found = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
    return found[0] if found else None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """ "; did you mean 'x'?" to add to a refusal of `name`, or "" if nothing is close.

    >>> "no purpose 'onboardin'" + did_you_mean("onboardin", ["onboarding"])
    "no purpose 'onboardin'; did you mean 'onboarding'?"
    """
    found = closest(name, known)
    return f"; did you mean {found!r}?" if found else ""


def hint(name: str, known: Iterable[str], *, what: str = "declared") -> str:
    """What to say after refusing `name`: the close declared name, else all of them.

    >>> hint("onboardin", ["onboarding", "support_triage"])
    "did you mean 'onboarding'?"
    >>> hint("x", ["onboarding", "support_triage"])
    'declared: onboarding, support_triage'
    """
    found = closest(name, known)
    if found:
        return f"did you mean {found!r}?"
    return f"{what}: {', '.join(sorted(known)) or 'none'}"
