"""A staged rollout: a new playbook version serves a declared share of a journey's
**treatment** arm while the live version serves the rest; held-out people get the live
version's baseline, as before.

Who gets the staged version is a keyed draw, as a holdout is (holdout.py), under the
same holdout key with a scope of its own per journey, "stage:JOURNEY":

    staged  ⇔  HMAC-SHA256(holdout key, … "stage:JOURNEY" … normalized identifier) < share

so as the share grows everyone already on the staged version stays on it, and the draw
is independent of the holdouts and of other journeys' stagings.

On files, a staging is a pointer in the journey's history folder:

    playbooks/history/JOURNEY/staged.json  {"file": "staged/v2-0123456789ab.toml", "share": 0.1}

The staged file is written first and never changed (named by its version and content
hash); the pointer is replaced whole (written aside, then renamed), so a server
(catalogue.py) sees the old staging or the new one, never half of one. No pointer:
nothing is staged.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from tactful.journeys.errors import PlaybookError
from tactful.journeys.holdout import draw, subject_key
from tactful.journeys.playbook import Playbook
from tactful.privacy.keyring import Keys

POINTER = "staged.json"
FOLDER = "staged"


@dataclass(frozen=True)
class Staged:
    """A staged playbook as a server serves it: to `share` of the treatment arm."""

    playbook: Playbook
    share: float


def share_problems(share: float) -> list[str]:
    if math.isfinite(share) and 0 < share < 1:
        return []
    return [
        f"share: {share}; a staged version serves more than 0 and less than 1 of the "
        "treatment arm (to serve all of it, complete the rollout)"
    ]


def read_pointer(history: Path) -> tuple[Path, float] | None:
    """The staged file and its share, from the journey's history folder; None when
    nothing is staged; PlaybookError when the pointer does not read."""
    pointer = history / POINTER
    try:
        text = pointer.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PlaybookError(str(pointer), [f"cannot read: {exc.strerror}"]) from None
    try:
        document = json.loads(text)
        name, share = document["file"], document["share"]
    except (ValueError, KeyError, TypeError) as exc:
        raise PlaybookError(str(pointer), [f"not a staging pointer: {exc}"]) from None
    if not isinstance(name, str) or not isinstance(share, int | float):
        raise PlaybookError(str(pointer), ['not a staging pointer: {"file": …, "share": …}'])
    problems = share_problems(float(share))
    if Path(name).parent != Path(FOLDER):
        problems.append(f"file: {name!r} is not in {FOLDER}/")
    if problems:
        raise PlaybookError(str(pointer), problems)
    return history / name, float(share)


def pointer_text(staged_file: Path, share: float) -> bytes:
    """What the pointer holds for a staged file (in `history/JOURNEY/staged/`)."""
    document = {"file": f"{FOLDER}/{staged_file.name}", "share": share}
    return (json.dumps(document) + "\n").encode("utf-8")


class StagedRollout:
    """Who gets a journey's staged version: the person's draw under the holdout key."""

    def __init__(self, keys: Keys) -> None:
        self._keys = keys

    def serves_staged(self, journey: str, namespace: str, normalized: str, share: float) -> bool:
        _, key = self._keys.snapshot().primary_key()
        return draw(key, subject_key(namespace, normalized), f"stage:{journey}") < share
